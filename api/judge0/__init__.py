"""The Judge0 1.13 compatible API at the root path: a thin adapter over the core."""
