"""admf execution layer."""
