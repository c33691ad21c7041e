"""Runyard's shared core: settings, the data model, job schemas and services.

Adapters in `api/` and the workers in `workers/` both build on this package;
it imports neither of them.
"""

__version__ = "0.1.0"
