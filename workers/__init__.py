"""Runyard's workers: the Celery app, its tasks, and the container runtime they execute in."""
