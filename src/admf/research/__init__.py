"""admf research layer."""
