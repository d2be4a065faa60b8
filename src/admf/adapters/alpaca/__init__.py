"""admf adapters/alpaca layer."""
