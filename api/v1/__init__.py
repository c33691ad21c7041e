"""The native API: clean units (milliseconds, bytes) and status names."""
