"""Event types, enums, errors and the engine loop."""
