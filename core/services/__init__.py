"""Services: the functions adapters call. Each takes its session and settings explicitly."""
