"""Runyard's HTTP layer: one package per protocol, all over the same core services."""
