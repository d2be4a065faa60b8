"""Pre-trade limits of a live session and its daily-loss kill switch.

Checked on the main thread before an order leaves the process: maximum order notional,
maximum position (shares, after the order), maximum orders per rolling minute. The kill
switch trips when the account's equity falls `daily_loss_limit` dollars below its value at
the start of the New York trading day; once tripped, every new order is refused.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

NS_PER_MIN = 60_000_000_000


@dataclass(frozen=True, slots=True)
class PreTradeLimits:
    max_order_notional: float | None = None
    max_position: float | None = None
    max_orders_per_minute: int | None = None
    daily_loss_limit: float | None = None


class PreTradeGuard:
    def __init__(self, limits: PreTradeLimits) -> None:
        self.limits = limits
        self.sent: deque[int] = deque()
        self.killed = False
        self.kill_reason = ""
        self.day_start_equity: float | None = None
        self.day: int | None = None
        self.refused = 0

    def check(self, qty_signed: float, price: float, position: float, now_ns: int) -> str | None:
        """None if the order may go, else the reason it may not."""
        lim = self.limits
        reason = None
        if self.killed:
            reason = f"kill switch: {self.kill_reason}"
        elif lim.max_order_notional is not None and abs(qty_signed) * price > lim.max_order_notional:
            reason = f"order notional {abs(qty_signed) * price:.2f} above max_order_notional {lim.max_order_notional}"
        elif lim.max_position is not None and abs(position + qty_signed) > lim.max_position + 1e-9 \
                and abs(position + qty_signed) > abs(position):
            reason = f"position {position + qty_signed:g} would exceed max_position {lim.max_position:g}"
        elif lim.max_orders_per_minute is not None:
            sent = self.sent
            while sent and sent[0] <= now_ns - NS_PER_MIN:
                sent.popleft()
            if len(sent) >= lim.max_orders_per_minute:
                reason = f"more than {lim.max_orders_per_minute} orders in a minute"
        if reason is None:
            self.sent.append(now_ns)
        else:
            self.refused += 1
        return reason

    def mark(self, equity: float, day: int) -> bool:
        """Track equity against the day's start; True when the kill switch trips now."""
        if self.day != day:
            self.day, self.day_start_equity = day, equity
        lim = self.limits.daily_loss_limit
        if self.killed or lim is None or self.day_start_equity is None:
            return False
        loss = self.day_start_equity - equity
        if loss >= lim:
            self.killed = True
            self.kill_reason = f"daily loss {loss:.2f} reached daily_loss_limit {lim:.2f}"
            return True
        return False
