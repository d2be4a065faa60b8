"""admf portfolio layer."""
