"""admf cli layer."""
