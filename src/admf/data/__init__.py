"""admf data layer."""
