"""admf config layer."""
