"""Built-in strategies; importing this package registers them."""

from admf.strategies.builtin import bands, momentum, orders, trend  # noqa: F401
