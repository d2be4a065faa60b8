"""The order API live against the emulator: a two-symbol pairs strategy trades both legs and
gives the same fills as a backtest on the bars the session received (market orders: the
emulator fills them at the current bar's close, so the backtest runs with `fill: close`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from runtime_support import FAST, Harness, bars_file, live_config

from admf.config.loader import config_from_dict
from admf.core.events import Bar
from admf.data.frame import BarFrame
from admf.data.timeline import merge
from admf.emulator.testing import start_emulator
from admf.runtime.backtest import run_variant

PAIRS = {"pairs_zscore": {"period": 20, "entry": 1.5, "exit": 0.3, "notional": 2000}, "symbols": ["SPY", "QQQ"]}


def test_pairs_live_equals_backtest(tmp_path, post_log) -> None:
    emu = start_emulator(data=str(bars_file(tmp_path)), symbols=["SPY", "QQQ"], rate_limit=0)
    cfg = live_config(tmp_path, PAIRS)
    raw = cfg.model_dump()
    cfg = config_from_dict({**{k: raw[k] for k in ("name", "live_trading", "output")}, "data": ["SPY_1m", "QQQ_1m"],
                            "strategy": [PAIRS], "execution": {"broker": "alpaca", "execution_mode": "async"}},
                           base_dir=str(tmp_path))
    h = Harness(emu, cfg, FAST, post_log)
    try:
        session = h.start()
        bars: list[Bar] = []
        handle = session.handle

        def keep(ev: Any) -> None:
            if type(ev) is Bar:
                bars.append(ev)
            handle(ev)

        session.handle = keep
        h.play(150)
        live = sorted((f.symbol, f.side.value, f.qty, f.price, f.ts) for b in session.books.values() for f in b.fills)
    finally:
        h.stop()
        emu.stop()
    assert len(live) >= 4 and {f[0] for f in live} == {"SPY", "QQQ"}
    frames = []
    for sym in ("SPY", "QQQ"):
        bs = sorted((b for b in bars if b.symbol == sym), key=lambda b: b.ts)
        a = np.array([(b.open, b.high, b.low, b.close, b.volume) for b in bs])
        frames.append(BarFrame(np.array([b.ts for b in bs], dtype=np.int64), a[:, 0], a[:, 1], a[:, 2], a[:, 3],
                               a[:, 4], symbol=sym, timeframe="1m"))
    bt_cfg = config_from_dict({"name": "bt", "data": ["SPY_1m", "QQQ_1m"], "strategy": [PAIRS],
                               "execution": {"fill": "close"}})
    bt = run_variant(bt_cfg, merge(frames))
    got = sorted((r.symbol, r.side, float(r.qty), float(r.price)) for r in bt.fills.itertuples())
    assert got == [f[:4] for f in live]
