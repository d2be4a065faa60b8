"""The example order strategies: the pairs trade checked by hand, both on real bars, engine choice."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from order_support import MIN, T0

from admf.config.loader import config_from_dict
from admf.core.errors import ConfigError
from admf.data.frame import BarFrame
from admf.data.timeline import merge
from admf.runtime.backtest import backtest, choose_engine, run_variant

REPO = Path(__file__).resolve().parents[2]


def pair_timeline(a: list[float], b: list[float]):
    t = T0 + np.arange(len(a), dtype=np.int64) * 5 * MIN
    frames = []
    for sym, closes in (("AAA", a), ("BBB", b)):
        c = np.array(closes, dtype=float)
        frames.append(BarFrame(t, c, c, c, c, np.full(len(c), 1e3), symbol=sym, timeframe="5m"))
    return merge(frames)


def pairs_cfg(**params):
    return config_from_dict({
        "name": "pairs", "data": ["AAA_5m", "BBB_5m"], "portfolio": {"initial_capital": 100_000},
        "execution": {"fill": "close"},
        "strategy": [{"pairs_zscore": {"period": 3, "entry": 1.2, "exit": 0.5, "notional": 1000, **params},
                      "symbols": ["AAA", "BBB"]}]})


def test_pairs_zscore_by_hand():
    # B stays at 100; A: 100, 100, 100 (spread flat: sd 0, nothing), 110 then 100.
    # step 3: spreads [0, 0, log 1.1]; mean log1.1/3, sd = log1.1*sqrt(2)/3, z = (2/3)/(sqrt2/3) = sqrt 2 = 1.414
    #   > 1.2: short A (floor(1000/110) = 9), long B (10), filled at the closes (fill: close)
    # step 4: spreads [0, log1.1, 0]: z = (0 - log1.1/3) / (log1.1*sqrt2/3) = -0.707, |z| > 0.5: held
    # step 5: spreads [log1.1, 0, 0]: z = -0.707 again: held
    # step 6: A 104.8: spreads [0, 0, log 1.048]: z = +1.414: side is already -1: held
    # step 7: A 102: spreads [0, log1.048, log1.02]: mean m = (0.04688 + 0.01980)/3 = 0.02223,
    #   z = (0.01980 - 0.02223) / sd; sd = sqrt(((0.02223)^2 + (0.02465)^2 + (0.00243)^2)/3) = 0.01925,
    #   z = -0.126: |z| <= 0.5: both legs closed (buy 9 A at 102, sell 10 B at 100)
    a = [100, 100, 100, 110, 100, 100, 104.8, 102]
    b = [100] * 8
    z7 = [0.0, math.log(1.048), math.log(1.02)]
    m = sum(z7) / 3
    assert abs((z7[-1] - m) / math.sqrt(sum((x - m) ** 2 for x in z7) / 3)) <= 0.5  # the hand arithmetic holds
    r = run_variant(pairs_cfg(), pair_timeline(a, b))
    got = [(int(f.bar), f.symbol, f.side, float(f.qty), float(f.price)) for f in r.fills.itertuples()]
    # bar index on the merged timeline: step s of AAA is row 2s, of BBB row 2s + 1
    assert got == [(6, "AAA", "sell", 9.0, 110.0), (7, "BBB", "buy", 10.0, 100.0),
                   (14, "AAA", "buy", 9.0, 102.0), (15, "BBB", "sell", 10.0, 100.0)]
    assert r.trades["pnl"].sum() == pytest.approx(9 * (110 - 102))


def test_pairs_needs_two_symbols_and_is_event_only():
    cfg = pairs_cfg()
    assert choose_engine(cfg, "auto") == "event"
    with pytest.raises(ConfigError):
        choose_engine(cfg, "compiled")
    one = config_from_dict({"name": "p", "data": ["AAA_5m", "BBB_5m"],
                            "strategy": [{"pairs_zscore": {"period": 3}, "symbols": ["AAA"]}]})
    with pytest.raises(ConfigError, match="exactly two symbols"):
        run_variant(one, pair_timeline([1.0, 2.0], [1.0, 2.0]))
    missing = config_from_dict({"name": "p", "data": ["AAA_5m", "BBB_5m"],
                                "strategy": [{"pairs_zscore": {"period": 3}, "symbols": ["AAA", "ZZZ"]}]})
    with pytest.raises(ConfigError, match="must all be in the data"):
        run_variant(missing, pair_timeline([1.0, 2.0], [1.0, 2.0]))


def test_examples_on_the_real_bars(shared_data):
    if not (REPO / "data" / "QQQ_5m.csv").exists():
        pytest.skip("data/QQQ_5m.csv is not present")
    pairs = backtest({"name": "pairs", "data": ["SPY_5m", "QQQ_5m"], "data_dir": str(REPO / "data"),
                      "strategy": [{"pairs_zscore": {"period": 60}, "symbols": ["SPY", "QQQ"]}]})
    assert pairs.engine == "event"
    f = pairs.fills
    assert len(f) > 10 and set(f["symbol"]) == {"SPY", "QQQ"}
    # every entry hedges both legs: the books' positions are opposite in sign or both flat
    pos = pairs.books["pairs_zscore"]["positions"]
    assert (pos.get("SPY", 0) > 0) == (pos.get("QQQ", 0) < 0) or not pos
    lb = backtest({"name": "lb", "data": "SPY_5m", "data_dir": str(shared_data),
                   "strategy": [{"limit_bracket": {}}]})
    assert lb.engine == "event"
    reasons = set(lb.fills["reason"])
    assert {"order", "stop_loss", "take_profit"} <= reasons
    entries = lb.orders[lb.orders["reason"] == "order"]
    assert set(entries["type"]) == {"limit"}
