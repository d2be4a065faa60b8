"""admf strategies layer."""
