"""admf adapters layer."""
