"""admf risk layer."""
