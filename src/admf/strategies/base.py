"""The Strategy base class.

A strategy instance serves one symbol. After the engine updates the shared features with a
bar, it calls `on_bar`, which returns the desired direction: 1 long, -1 short, 0 flat. The
engine trades only when that value changes, so a strategy keeps its own state (the last
signal) and the same code runs in a backtest and live.

A strategy with `uses_orders = True` places its own orders through `self.orders` (see
strategies/orders.py) and reads `position`, `avg_price`, `open_orders` and `fills`; its
`on_bar` return value is ignored. A strategy with `multi_symbol = True` (it uses orders) is one
instance over every symbol of its config entry (`self.symbols`); instead of `on_bar` it gets
`on_bars(ts, bars)` once per time step, when every one of its symbols has a bar of that time
(`bars`: symbol -> (open, high, low, close, volume)); a step some symbol lacks is skipped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from admf.strategies.params import Param

if TYPE_CHECKING:
    from admf.core.events import Fill
    from admf.strategies.orders import Orders, OrderView

BarValues = tuple[float, float, float, float, float]  # open, high, low, close, volume


class Strategy:
    name: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}
    uses_orders: ClassVar[bool] = False  # trades through self.orders, not by returning a direction
    multi_symbol: ClassVar[bool] = False  # one instance over several symbols, on_bars per time step
    orders: Orders  # set by the backtest build before the first bar (order strategies only)

    def __init__(self, symbol: str, params: dict[str, Any], hub: Any, symbols: list[str] | None = None) -> None:
        self.symbol = symbol
        self.symbols = list(symbols) if symbols else [symbol]
        self.values = dict(params)
        for key, value in params.items():
            setattr(self, key, value)
        self.signal = 0
        self.setup(hub)

    if TYPE_CHECKING:
        # Parameters are set as attributes from the registry's declaration (self.period, ...).
        def __getattr__(self, name: str) -> Any: ...

    def setup(self, hub: Any) -> None:
        """Request the features this strategy reads: `self.x = hub.get(self.symbol, "sma", period=5)`."""

    def on_bar(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> int:
        """Return the desired direction after this bar (1, -1 or 0)."""
        raise NotImplementedError

    def on_bars(self, ts: int, bars: dict[str, BarValues]) -> None:
        """A multi-symbol strategy's time step: every symbol's bar of time `ts`."""
        raise NotImplementedError

    # the book, for order strategies (single symbol; a multi-symbol one asks self.orders.position(sym))
    @property
    def position(self) -> float:
        return self.orders.position()

    @property
    def avg_price(self) -> float | None:
        return self.orders.avg_price()

    @property
    def open_orders(self) -> list[OrderView]:
        return self.orders.open_orders()

    @property
    def fills(self) -> list[Fill]:
        return self.orders.fills()

    @classmethod
    def describe(cls) -> str:
        doc = (cls.__doc__ or "").strip().splitlines()
        return doc[0] if doc else ""


class CrossoverStrategy(Strategy):
    """Long when `fast` crosses above `slow`, short when it crosses below; holds in between."""

    _prev: float | None = None

    def lines(self) -> tuple[Any, float, float]:
        raise NotImplementedError

    def on_bar(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> int:
        ready, f, s = self.lines()
        if not ready:
            return self.signal
        d = f - s
        prev = self._prev
        self._prev = d
        if prev is not None:
            if d > 0.0 and prev <= 0.0:
                self.signal = 1
            elif d < 0.0 and prev >= 0.0:
                self.signal = -1
        return self.signal


class BandReversionStrategy(Strategy):
    """Long below the lower band and short above the upper band; exit at the middle."""

    band: Any

    def on_bar(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> int:
        b = self.band
        if not b.ready:
            return 0
        s = self.signal
        if s == 1:
            if c > b.middle:
                s = 0
        elif s == -1 and c < b.middle:
            s = 0
        if s == 0:
            if c < b.lower:
                s = 1
            elif c > b.upper:
                s = -1
        self.signal = s
        return s


class BandBreakoutStrategy(Strategy):
    """Long on a close above the upper band, short below the lower band; exit at the middle."""

    band: Any

    def on_bar(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> int:
        b = self.band
        if not b.ready:
            return 0
        s = self.signal
        if s == 1:
            if c < b.middle:
                s = 0
        elif s == -1 and c > b.middle:
            s = 0
        if s == 0:
            if c > b.upper:
                s = 1
            elif c < b.lower:
                s = -1
        self.signal = s
        return s
