"""admf analytics layer."""
