"""Stop-loss, take-profit, trailing-stop and holding-time exits, checked inside each bar.

Order of checks for a long position on a bar (a short is the mirror image), conservative
where the bar's path is unknown:

1. the open gaps through the stop (or trailing stop): fill at the open, not at the stop;
2. the open gaps through the target: fill at the open;
3. `max_holding_bars` reached: exit at the open;
4. low <= stop: fill at the stop (with slippage); checked before the target, so a bar that
   touches both is counted as a loss;
5. high >= target: fill at the target (a resting limit: no slippage);
6. only then does the bar's extreme raise the trailing stop's high-water mark, so a bar
   cannot both raise the trail and stop out against it.
"""

from __future__ import annotations

from dataclasses import dataclass

from admf.core.enums import ExitReason


@dataclass(frozen=True, slots=True)
class ExitRules:
    stop_loss: float | None = None  # fraction of the entry price
    take_profit: float | None = None
    trailing_stop: float | None = None
    max_holding_bars: int | None = None

    @property
    def active(self) -> bool:
        return any(x is not None for x in (self.stop_loss, self.take_profit, self.trailing_stop,
                                           self.max_holding_bars))


class ExitState:
    """Levels of one open position."""

    __slots__ = ("rules", "direction", "entry_bar", "stop", "target", "extreme")

    def __init__(self, rules: ExitRules, direction: int, entry_price: float, entry_bar: int) -> None:
        self.rules = rules
        self.direction = direction
        self.entry_bar = entry_bar
        d = direction
        self.stop = entry_price * (1.0 - d * rules.stop_loss) if rules.stop_loss is not None else None
        self.target = entry_price * (1.0 + d * rules.take_profit) if rules.take_profit is not None else None
        self.extreme = entry_price

    def _stop_level(self) -> tuple[float | None, ExitReason]:
        trail = self.rules.trailing_stop
        stop, reason = self.stop, ExitReason.STOP_LOSS
        if trail is not None:
            t = self.extreme * (1.0 - self.direction * trail)
            if stop is None or (t > stop if self.direction > 0 else t < stop):
                stop, reason = t, ExitReason.TRAILING_STOP
        return stop, reason

    def check(self, bar: int, o: float, h: float, l: float) -> tuple[float, ExitReason, bool] | None:
        """(price, reason, is_market) of an exit inside this bar, or None. Updates the trail."""
        stop, reason = self._stop_level()
        target = self.target
        long = self.direction > 0
        if stop is not None and (o <= stop if long else o >= stop):
            return o, reason, True
        if target is not None and (o >= target if long else o <= target):
            return o, ExitReason.TAKE_PROFIT, False
        mh = self.rules.max_holding_bars
        if mh is not None and bar - self.entry_bar >= mh:
            return o, ExitReason.MAX_HOLDING, True
        if stop is not None and (l <= stop if long else h >= stop):
            return stop, reason, True
        if target is not None and (h >= target if long else l <= target):
            return target, ExitReason.TAKE_PROFIT, False
        if long:
            if h > self.extreme:
                self.extreme = h
        elif l < self.extreme:
            self.extreme = l
        return None
