"""Built-in strategies; importing this package registers them."""

from admf.strategies.builtin import bands, momentum, trend  # noqa: F401
