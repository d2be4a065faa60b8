"""admf features layer."""
