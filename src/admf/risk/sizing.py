"""Position sizing: how many shares a signal of strength 1 buys."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Sizing:
    """fixed_shares | notional | percent_equity | atr (risk `risk_per_trade` of equity per ATR stop)."""

    kind: str = "fixed_shares"
    shares: float = 100.0
    amount: float = 10_000.0
    percent: float = 0.1
    risk_per_trade: float = 0.01
    atr_period: int = 14
    atr_multiple: float = 2.0
    fractional: bool = False

    def quantity(self, price: float, equity: float, atr: float = math.nan) -> float:
        if self.kind == "fixed_shares":
            q = self.shares
        elif self.kind == "notional":
            q = self.amount / price
        elif self.kind == "percent_equity":
            q = max(equity, 0.0) * self.percent / price
        elif self.kind == "atr":
            if not atr > 0.0:
                return 0.0  # no volatility estimate yet: no trade
            q = max(equity, 0.0) * self.risk_per_trade / (atr * self.atr_multiple)
        else:
            raise ValueError(f"unknown sizing {self.kind!r}")
        return round(q, 6) if self.fractional else float(math.floor(q + 1e-9))
