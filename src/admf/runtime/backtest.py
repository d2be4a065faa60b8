"""Build a backtest from a config and run it through the event-driven engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from admf.config.loader import Variant, config_from_dict, expand, load_config
from admf.config.schema import Config, RiskConfig, SizingConfig, StrategyEntry
from admf.core.engine import Engine, user_frames
from admf.core.enums import OrderStatus
from admf.core.errors import ConfigError, UserError
from admf.core.events import Fill, OrderUpdate
from admf.data.catalog import load_spec
from admf.data.timeframe import timeframe_ns
from admf.data.timeline import Timeline, merge
from admf.execution.costs import Commission, Slippage
from admf.execution.simulated import SimulatedBroker
from admf.features.hub import FeatureHub
from admf.portfolio.portfolio import Portfolio
from admf.risk.exits import ExitRules
from admf.risk.limits import Limits
from admf.risk.sizing import Sizing
from admf.risk.slot import BarStep, StrategySlot
from admf.runtime.session import session_codes
from admf.strategies.filters import parse_filter
from admf.strategies.orders import Orders
from admf.strategies.params import validate_params
from admf.strategies.registry import get_strategy

TRADE_COLUMNS = ["strategy_id", "symbol", "side", "qty", "entry_time", "exit_time", "entry_price", "exit_price",
                 "gross_pnl", "costs", "pnl", "return", "entry_bar", "exit_bar", "bars_held", "exit_reason"]


class Metrics(dict[str, Any]):
    """A run's metrics: a plain dict (name -> number, None or ISO time); `pd.Series(m)` for pandas."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self)


_ENDED = frozenset((OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED))  # without a fill
CHARTS = ("price", "equity", "monthly", "returns", "rolling_sharpe", "books")


@dataclass
class BacktestResult:
    """What a backtest gives back: pandas objects for the whole account and per book."""

    name: str
    config: Config
    metrics: Metrics
    trades: pd.DataFrame
    equity: pd.Series
    fills: pd.DataFrame
    orders: pd.DataFrame
    books: dict[str, dict[str, Any]] = field(default_factory=dict)
    signals: pd.DataFrame | None = None
    bars: int = 0
    elapsed_s: float = 0.0
    label: str = ""
    engine: str = "event"  # the engine that ran it: event or compiled

    timeline: Timeline | None = field(default=None, repr=False)
    run_dir: Path | None = None

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "bars": self.bars, **self.metrics.to_dict()}

    def report_inputs(self) -> dict[str, Any]:
        """The keyword arguments of `write_html_report` / `report_figures` for this result."""
        from admf.runtime.overlays import indicator_lines, symbol_bars

        prices = symbol_bars(self.timeline) if self.timeline is not None else None
        return {
            "equity": self.equity, "trades": self.trades, "prices": prices,
            "indicators": indicator_lines(self.config.strategies, prices) if prices else None,
            "books": {b: d["equity"] for b, d in self.books.items()} if len(self.books) > 1 else None,
        }

    def figures(self) -> dict[str, Any]:
        """Every chart of the report as a plotly figure, by the report's div id."""
        from admf.analytics.report import report_figures

        ppy, cap = self.metrics.get("periods_per_year"), self.metrics.get("initial_capital")
        return report_figures(initial_capital=cap, periods_per_year=ppy, **self.report_inputs())

    def plot(self, chart: str = "equity", symbol: str | None = None) -> Any:
        """One chart of the report as a plotly figure (shown inline in a notebook).

        `chart`: price (of `symbol`, default the first), equity, monthly, returns, rolling_sharpe, books.
        """
        if chart not in CHARTS:
            raise ConfigError("unknown chart", field="chart", value=chart, accepted=", ".join(CHARTS))
        figs = self.figures()
        if chart == "price":
            syms = self.timeline.symbols if self.timeline is not None else []
            key = f"admf-price-{symbol or (syms[0] if syms else '')}"
            if key not in figs:
                raise ConfigError("no price chart for that symbol", field="symbol", value=symbol,
                                  accepted=", ".join(syms) or "a result that kept its bars")
        else:
            key = "admf-" + chart.replace("_", "-")
            if key not in figs:
                raise ConfigError("this run has no such chart", field="chart", value=chart,
                                  accepted=", ".join(k.removeprefix("admf-") for k in figs))
        return figs[key]


def resolve_data_dir(cfg: Config) -> Path:
    """The data directory. A relative one is looked up beside the config file first, then in the
    working directory, then in up to three folders above the config's (so `config/x/y.yaml` finds
    the checkout's `data/` from anywhere); the first that exists wins."""
    given = Path(cfg.data.data_dir or "data")
    if given.is_absolute() or not cfg.base_dir:
        return given
    base = Path(cfg.base_dir)
    if (base / given).exists():
        return base / given
    if given.exists():
        return given
    for parent in base.parents[:3]:
        cand = parent / given
        if cand.exists():
            return cand
    return given


def spec_options(cfg: Config, i: int) -> dict[str, Any]:
    """load_spec's keyword arguments for the config's i-th data spec (symbol, timeframe, config folder)."""
    d = cfg.data
    return {"symbol": d.symbols[i] if len(d.symbols) == len(d.specs) else None, "timeframe": d.timeframe,
            "base_dir": cfg.base_dir}


def load_timeline(cfg: Config, *, start: str | None = None, end: str | None = None,
                  symbols: list[str] | None = None, bars: int | None = None) -> Timeline:
    data_dir = resolve_data_dir(cfg)
    chosen = list(range(len(cfg.data.specs)))
    if symbols:
        wanted = {s.upper() for s in symbols}
        chosen = [i for i in chosen if spec_symbol(cfg, i).upper() in wanted]
        if not chosen:
            raise ConfigError("no data spec matches --symbols", file=cfg.source, field="data",
                              value=",".join(symbols), accepted=", ".join(cfg.data.specs))
    frames = [load_spec(cfg.data.specs[i], data_dir, start or cfg.data.start, end or cfg.data.end,
                        **spec_options(cfg, i)) for i in chosen]
    tl = merge(frames)
    if bars is not None and bars < len(tl):
        if bars <= 0:
            raise ConfigError("must be positive", field="--bars", value=bars)
        keep = slice(0, bars)
        tl = Timeline(tl.ts[keep], tl.sym[keep], tl.open[keep], tl.high[keep], tl.low[keep], tl.close[keep],
                      tl.volume[keep], tl.symbols, tl.timeframe, [r[r < bars] for r in tl.rows])
    return tl


def spec_symbol(cfg: Config, i: int) -> str:
    """The symbol the config's i-th data spec trades (before loading: from the config or the name)."""
    opts = spec_options(cfg, i)
    if opts["symbol"]:
        return str(opts["symbol"])
    from admf.data.loaders import symbol_timeframe_of

    return symbol_timeframe_of(Path(cfg.data.specs[i]))[0]


def _merge_risk(base: RiskConfig, over: RiskConfig | None) -> RiskConfig:
    if over is None:
        return base
    return base.model_copy(update=over.model_dump(exclude_unset=True))


def _sizing(sc: SizingConfig | None) -> Sizing:
    if sc is None:
        return Sizing()
    return Sizing(kind=sc.type, shares=sc.shares, amount=sc.amount, percent=sc.percent,
                  risk_per_trade=sc.risk_per_trade, atr_period=sc.atr_period, atr_multiple=sc.atr_multiple,
                  fractional=sc.fractional)


def book_ids(entries: list[StrategyEntry]) -> list[str]:
    ids: list[str] = []
    for e in entries:
        base = e.name or e.type
        bid, n = base, 2
        while bid in ids:
            bid, n = f"{base}_{n}", n + 1
        ids.append(bid)
    return ids


class BacktestBuild:
    """Everything wired for one variant: hub, books, broker, slots, engine."""

    def __init__(self, cfg: Config, tl: Timeline, *, broker: Any = None, capital: float | None = None,
                 id_tag: str = "") -> None:
        """`broker`, `capital` and `id_tag` are set by a live session; a backtest uses the config's."""
        self.cfg = cfg
        self.tl = tl
        symbols = tl.symbols
        n_sym = len(symbols)
        self.hub = FeatureHub()
        entries = cfg.strategies
        self.book_ids = book_ids(entries)
        capital = cfg.portfolio.initial_capital if capital is None else capital
        per_book = capital / len(entries) if cfg.portfolio.allocation == "split" else capital
        self.books = {bid: Portfolio(bid, per_book, symbols) for bid in self.book_ids}
        ex = cfg.execution
        self.slots_by_prefix: dict[str, StrategySlot] = {}
        self.slots_by_key: dict[tuple[str, str], StrategySlot] = {}
        self.broker = broker if broker is not None else SimulatedBroker(
            self._on_fill, fill_rule=ex.fill, on_update=self._on_update,
            slippage=Slippage(ex.slippage.type, ex.slippage.value),
            commission=Commission(ex.commission.type, ex.commission.rate, ex.commission.min, ex.commission.max),
            volume_cap=ex.fill_volume_cap, volume=tl.volume.tolist() if ex.fill_volume_cap else None,
        )
        self.guards: list[list[StrategySlot]] = [[] for _ in range(n_sym)]
        slots: list[list[StrategySlot]] = [[] for _ in range(n_sym)]
        last_close: dict[str, float] = {}
        self.last_close: dict[str, float] | None = last_close if n_sym > 1 else None
        prices = (lambda: last_close) if n_sym > 1 else None
        self.all_slots: list[StrategySlot] = []
        intraday = False
        for i, (e, bid) in enumerate(zip(entries, self.book_ids, strict=True)):
            cls = get_strategy(e.type, file=cfg.source, field=f"strategy[{i}]")
            params = validate_params(cls.params, e.params, file=cfg.source, field=f"strategy[{i}].{e.type}")
            risk = _merge_risk(cfg.risk, e.risk)
            sizing = _sizing(e.sizing or risk.sizing)
            exits = ExitRules(risk.stop_loss, risk.take_profit, risk.trailing_stop, risk.max_holding_bars)
            limits = Limits(risk.max_position, risk.max_notional, risk.max_gross_exposure)
            filt = parse_filter(e.filter, file=cfg.source, field=f"strategy[{i}].filter") if e.filter else None
            intraday |= "intraday" in e.constraints
            multi = bool(getattr(cls, "multi_symbol", False))
            mine = [s for s in symbols if not e.symbols or s in e.symbols]
            if multi:
                missing = [s for s in (e.symbols or []) if s not in symbols]
                if missing or not mine:
                    raise ConfigError("a multi-symbol strategy's symbols must all be in the data", file=cfg.source,
                                      field=f"strategy[{i}].symbols", value=",".join(missing or e.symbols or []),
                                      accepted=", ".join(symbols))
            group: list[StrategySlot] = []
            strat: Any = None
            for k, sym in enumerate(symbols):
                if sym not in mine:
                    continue
                try:
                    if strat is None or not multi:
                        strat = cls(mine[0], params, self.hub, symbols=mine) if multi else cls(sym, params, self.hub)
                except ConfigError as exc:
                    raise ConfigError(exc.detail, file=cfg.source, field=f"strategy[{i}].{e.type}.{exc.field}",
                                      value=exc.value, accepted=exc.accepted) from None
                except Exception as exc:  # a user strategy's own setup failed: its lines, not admf's
                    where = user_frames(exc)
                    raise UserError(f"strategy {e.type!r} failed to set up for {sym}: {type(exc).__name__}: {exc}"
                                    + ("\n" + where if where else "")) from None
                atr = self.hub.get(sym, "atr", period=sizing.atr_period) if sizing.kind == "atr" else None
                slot = StrategySlot(
                    strategy=strat, book=self.books[bid], broker=self.broker, sym=k, symbol=sym, strategy_id=bid,
                    sizing=sizing, exits=exits, limits=limits, direction=e.direction,
                    intraday="intraday" in e.constraints, entry_filter=filt.bind(self.hub, sym) if filt else None,
                    atr=atr, prices=prices, id_prefix=f"{id_tag}{bid}-{sym}-", clock=self._clock(k),
                )
                group.append(slot)
                if cls.uses_orders and not multi:
                    strat.orders = Orders([slot])
                slot.guards = self.guards[k]
                slots[k].append(slot)
                self.slots_by_prefix[slot.id_prefix] = slot
                self.slots_by_key[(bid, sym)] = slot
                self.all_slots.append(slot)
            if multi and strat is not None:
                strat.orders = Orders(group)
                step = BarStep(strat, mine)
                for slot in group:
                    slot.step = step
        self.intraday = intraday
        session = day = None
        if intraday and len(tl):
            session, day = session_codes(tl.ts, tl.sym if n_sym > 1 else None, timeframe_ns(tl.timeframe))
        self.day_codes = day
        self.engine = Engine(
            ts=tl.ts, sym=tl.sym, open=tl.open, high=tl.high, low=tl.low, close=tl.close, volume=tl.volume,
            n_symbols=n_sym, updaters=[self.hub.updaters(s) for s in symbols], slots=slots, guards=self.guards,
            broker=self.broker, session=session, day=day, last_close=self.last_close, symbols=symbols,
        )

    def _clock(self, k: int) -> Callable[[int], tuple[int, int]]:
        """Bar time of symbol k -> (its row on the timeline, its session day), for the orders an
        order strategy places (live the timeline is empty: the broker needs neither)."""
        tl = self.tl
        rows = tl.rows[k] if len(tl.symbols) > 1 else np.arange(len(tl))
        ts_k = tl.ts[rows]

        def clock(ts: int) -> tuple[int, int]:
            j = int(np.searchsorted(ts_k, ts))
            if j >= len(ts_k):
                return 0, 0
            bar = int(rows[j])
            return bar, int(self.day_codes[bar]) if self.day_codes is not None else 0
        return clock

    def _on_fill(self, fill: Fill, bar: int) -> None:
        if self.books[fill.strategy_id].apply_fill(fill, bar):
            self.slots_by_key[(fill.strategy_id, fill.symbol)].on_fill(fill, bar)

    def _on_update(self, u: OrderUpdate) -> None:
        if u.status in _ENDED:
            slot = self.slot_of(u.client_order_id)
            if slot is not None:
                slot.on_order_done(u.client_order_id)

    def slot_of(self, client_order_id: str) -> StrategySlot | None:
        """The slot that made an order: by its id's prefix, else (an earlier live session's order)
        the slot that still has it working."""
        slot = self.slots_by_prefix.get(client_order_id.rsplit("-", 1)[0] + "-")
        if slot is None:
            slot = next((s for s in self.all_slots if client_order_id in s.working), None)
        return slot


def _index(ts: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(ts.astype("datetime64[ns]"), tz="UTC", name="timestamp")


def _trades_frame(books: dict[str, Portfolio]) -> pd.DataFrame:
    rows = [t for b in books.values() for t in b.trades]
    df = pd.DataFrame(rows, columns=TRADE_COLUMNS)
    for col in ("entry_time", "exit_time"):
        df[col] = pd.to_datetime(df[col].astype("int64"), utc=True)
    return df.sort_values(["exit_time", "strategy_id", "symbol"], kind="stable").reset_index(drop=True)


def _fills_frame(books: dict[str, Portfolio]) -> pd.DataFrame:
    rows = [{"exec_id": f.exec_id, "client_order_id": f.client_order_id, "strategy_id": f.strategy_id,
             "symbol": f.symbol, "side": f.side.value, "qty": f.qty, "price": f.price, "commission": f.commission,
             "time": f.ts, "bar": bar, "reason": f.reason}
            for b in books.values() for f, bar in zip(b.fills, b.fill_bars, strict=True)]
    df = pd.DataFrame(rows, columns=["exec_id", "client_order_id", "strategy_id", "symbol", "side", "qty", "price",
                                     "commission", "time", "bar", "reason"])
    df["time"] = pd.to_datetime(df["time"].astype("int64"), utc=True)
    return df.sort_values(["bar", "time"], kind="stable").reset_index(drop=True)


def _orders_frame(broker: SimulatedBroker) -> pd.DataFrame:
    status = {}
    for u in broker.update_log:
        status[u.client_order_id] = u.status.value
    rows = [{"client_order_id": r.client_order_id, "strategy_id": r.strategy_id, "symbol": r.symbol,
             "side": r.side.value, "qty": r.qty, "type": r.order_type.value, "limit_price": r.limit_price,
             "stop_price": r.stop_price, "time": r.ts, "reason": r.reason, "status": status.get(r.client_order_id)}
            for r in broker.order_log]
    df = pd.DataFrame(rows, columns=["client_order_id", "strategy_id", "symbol", "side", "qty", "type",
                                     "limit_price", "stop_price", "time", "reason", "status"])
    df["time"] = pd.to_datetime(df["time"].astype("int64"), utc=True)
    return df


def run_variant(cfg: Config, tl: Timeline, *, label: str = "",
                progress: Callable[[int], None] | None = None) -> BacktestResult:
    import time

    t0 = time.perf_counter()
    build = BacktestBuild(cfg, tl)
    build.engine.run(progress)
    elapsed = time.perf_counter() - t0
    sig_rows = [(s.strategy_id, s.symbol, bar, ts, v) for s in build.all_slots for bar, ts, v in s.signals]
    return assemble_result(cfg, tl, build.books, _orders_frame(build.broker), sig_rows, label=label,
                           elapsed=elapsed)


def assemble_result(cfg: Config, tl: Timeline, books: dict[str, Portfolio], orders: pd.DataFrame,
                    sig_rows: list[tuple[str, str, int, int, int]], *, label: str = "",
                    elapsed: float = 0.0) -> BacktestResult:
    """The result of a run from its books (both engines end here, so results have one shape)."""
    from admf.analytics.annualization import infer_periods_per_year
    from admf.analytics.metrics import compute_metrics

    index = _index(tl.ts)
    ppy = infer_periods_per_year(index) if len(index) > 1 else None
    books_out: dict[str, dict[str, Any]] = {}
    total = np.zeros(len(tl))
    sym = tl.sym if len(tl.symbols) > 1 else None
    for bid, book in books.items():
        eq = book.equity_curve(sym, tl.close)
        total += eq
        tr = _trades_frame({bid: book})
        books_out[bid] = {
            "equity": pd.Series(eq, index=index, name=bid), "trades": tr,
            "metrics": compute_metrics(pd.Series(eq, index=index), tr, initial_capital=book.initial_cash,
                                       periods_per_year=ppy),
            "positions": book.positions(), "cash": book.cash,
        }
    capital = sum(b.initial_cash for b in books.values())
    equity = pd.Series(total, index=index, name="equity")
    trades = _trades_frame(books)
    metrics = Metrics(compute_metrics(equity, trades, initial_capital=capital, periods_per_year=ppy))
    signals = pd.DataFrame(sig_rows, columns=["strategy_id", "symbol", "bar", "ts", "signal"])
    return BacktestResult(name=cfg.name, config=cfg, metrics=metrics, trades=trades, equity=equity,
                          fills=_fills_frame(books), orders=orders, books=books_out,
                          signals=signals, bars=len(tl), elapsed_s=elapsed, label=label, timeline=tl)


def choose_engine(cfg: Config, engine: str | None = None) -> str:
    """event or compiled: `engine` (else the config's execution.engine); auto is compiled when every
    strategy has an array form."""
    from admf.research.compiled import unsupported

    want = engine or cfg.execution.engine
    if want not in ("auto", "event", "compiled"):
        raise ConfigError("unknown engine", field="engine", value=want, accepted="auto, event, compiled")
    missing = unsupported(cfg)
    if want == "compiled" and missing:
        raise ConfigError("strategy has no array form for the compiled engine", file=cfg.source, field="engine",
                          value=missing[0], accepted="engine: event (or auto)")
    if want == "auto":
        return "event" if missing else "compiled"
    return want


def run_engine(cfg: Config, tl: Timeline, engine: str, *, label: str = "",
               progress: Callable[[int], None] | None = None) -> BacktestResult:
    """One variant on the chosen engine ("event" or "compiled")."""
    if engine == "compiled":
        from admf.research.compiled import run_compiled

        r: BacktestResult = run_compiled(cfg, tl, label=label)
        if progress is not None:
            progress(len(tl))
        return r
    return run_variant(cfg, tl, label=label, progress=progress)


def backtest(config: str | Path | dict | Config, *, start: str | None = None, end: str | None = None,
             symbols: list[str] | None = None, bars: int | None = None, engine: str | None = None,
             out: str | Path | None = None, report: bool = True, **sweep_options: Any) -> Any:
    """Python API: run a config (path, dict or Config). `engine`: auto (default), event or compiled.

    A grid config runs as a sweep and returns its `SweepResult` (see `admf.sweep`; `sweep_options`
    such as workers, top go to it). `out` (a folder) writes the run directory there, as
    `admf backtest --out` does (with report.html unless `report=False`); its path is then
    `result.run_dir`.
    """
    from admf.config.loader import is_grid
    from admf.runtime.rundir import check_out_dir, write_run

    cfg = _as_config(config)
    if out is not None:
        check_out_dir(out)
    if is_grid(cfg):
        from admf.research.sweep import sweep

        if out is not None:
            sweep_options["out"] = out
        return sweep(cfg, start=start, end=end, symbols=symbols, bars=bars, engine=engine, **sweep_options)
    tl = load_timeline(cfg, start=start, end=end, symbols=symbols, bars=bars)
    (variant,) = expand(cfg)
    result = run_engine(variant.config, tl, choose_engine(variant.config, engine), label=variant.label)
    if out is not None:
        result.run_dir = write_run([result], cfg, out, report=report and cfg.output.report)
    return result


def _as_config(config: str | Path | dict | Config) -> Config:
    if isinstance(config, Config):
        return config
    if isinstance(config, dict):
        return config_from_dict(config, base_dir=str(Path.cwd()))
    return load_config(config)


__all__ = ["BacktestResult", "Metrics", "Variant", "backtest", "choose_engine", "load_timeline", "run_engine",
           "run_variant"]
