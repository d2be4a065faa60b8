"""Pre-trade limits on a book's positions."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    max_position: float | None = None  # shares per symbol
    max_notional: float | None = None  # dollars per position
    max_gross_exposure: float | None = None  # gross exposure / equity, e.g. 1.0 = no leverage

    def clip(self, target: float, price: float, equity: float, other_gross: float, fractional: bool) -> float:
        """Shrink a signed target position so it respects every limit."""
        size = abs(target)
        if self.max_position is not None:
            size = min(size, self.max_position)
        if self.max_notional is not None:
            size = min(size, self.max_notional / price)
        if self.max_gross_exposure is not None:
            room = max(self.max_gross_exposure * equity - other_gross, 0.0)
            size = min(size, room / price)
        if size != abs(target) and not fractional:
            size = float(math.floor(size + 1e-9))
        return math.copysign(size, target) if size else 0.0
