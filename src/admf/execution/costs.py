"""Commission and slippage models of the simulated broker.

Slippage applies to market and stop fills (a worse price by `bps` basis points or by a fixed
amount per share); limit fills get their limit price or better and no slippage. Commission is
charged per fill.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Slippage:
    kind: str = "none"  # none | bps | fixed
    value: float = 0.0

    def apply(self, price: float, side_sign: int) -> float:
        if self.kind == "bps":
            return price * (1.0 + side_sign * self.value * 1e-4)
        if self.kind == "fixed":
            return price + side_sign * self.value
        return price


@dataclass(frozen=True, slots=True)
class Commission:
    kind: str = "none"  # none | per_share | percent | fixed
    rate: float = 0.0
    minimum: float = 0.0
    maximum: float | None = None

    def cost(self, qty: float, price: float) -> float:
        if self.kind == "per_share":
            fee = max(self.rate * qty, self.minimum)
            return min(fee, self.maximum) if self.maximum is not None else fee
        if self.kind == "percent":
            fee = max(self.rate * qty * price, self.minimum)
            return min(fee, self.maximum) if self.maximum is not None else fee
        if self.kind == "fixed":
            return self.rate
        return 0.0
