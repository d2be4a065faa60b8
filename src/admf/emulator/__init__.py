"""admf emulator layer."""
