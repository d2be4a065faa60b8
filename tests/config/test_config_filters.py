"""Entry filters: parsed with ast into closures over a whitelist; never eval'd."""

from __future__ import annotations

import builtins
import math
from pathlib import Path

import numpy as np
import pytest

from admf.core.errors import ConfigError
from admf.features.hub import FeatureHub
from admf.strategies.filters import parse_filter

DATA = Path(__file__).resolve().parents[2] / "data"
T0 = 1_704_205_800_000_000_000  # 2024-01-02 14:30 UTC
STEP = 300_000_000_000


def run(text: str, closes: list[float], volumes: list[float] | None = None, signal: int = 1) -> list[bool]:
    """Feed bars (open = high = low = close) to a hub and evaluate the filter after each one."""
    hub = FeatureHub()
    fn = parse_filter(text).bind(hub, "X")
    out = []
    for i, c in enumerate(closes):
        v = 1000.0 if volumes is None else volumes[i]
        hub.update("X", T0 + i * STEP, c, c, c, c, v)
        out.append(fn(signal, c, c, c, c, v))
    return out


def test_close_above_sma_by_hand() -> None:
    closes = [1.0, 2.0, 3.0, 4.0, 1.0]
    # sma(3): -, -, 2, 3, 8/3; before it is ready its value is nan and every comparison is false
    assert run("close > sma(3)", closes) == [False, False, True, True, False]
    assert run("close <= sma(3)", closes) == [False, False, False, False, True]


def test_band_output_by_hand() -> None:
    closes = [1.0, 2.0, 3.0, 4.0, 1.0]
    got = run("close < bollinger(3, 1).lower * 1.8", closes)
    want = []
    for i, c in enumerate(closes):
        w = np.array(closes[max(0, i - 2): i + 1])
        lower = w.mean() - w.std(ddof=0) if i >= 2 else math.nan  # population std, as TA-Lib
        want.append(c < lower * 1.8)
    assert got == want == [False, False, False, False, True]
    assert run("bollinger(period=3, std_dev=1).upper > close", closes) == [False, False, False, False, True]


def test_bar_names_operators_and_functions() -> None:
    def ev(text: str, signal: int = 1, o: float = 2.0, h: float = 5.0, l: float = 1.0, c: float = 3.0,
           v: float = 100.0) -> bool:
        return parse_filter(text).bind(None, "X")(signal, o, h, l, c, v)

    assert ev("signal > 0 and volume >= 100") and not ev("signal > 0 and volume >= 100", signal=-1)
    assert ev("signal < 0 or not (close > 4)")
    assert ev("price == close and high - low == 4 and open * 2 == 4 and close / 2 == 1.5")
    assert ev("abs(open - close) == 1 and min(open, close, low) == 1 and max(high, 7) == 7")
    assert ev("1 < close < 4") and not ev("1 < close < 2")
    assert ev("close % 2 == 1 and 2 ** 3 == 8 and -close == -3 and +close == 3")
    assert ev("(close - low) / (high - low) == 0.5")
    assert ev("True") and not ev("False")
    # a flat bar or an overflowing power gives nan, which compares false, instead of an exception
    assert not ev("(close - low) / (high - low) > 0.5", h=3.0, l=3.0, o=3.0)
    assert not ev("close % (high - high) > 0")
    assert not ev("9 ** 9 ** 9 > 1")
    assert not ev("(0 - close) ** 0.5 > 0")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("foo > 1", "unknown name 'foo'"),
        ("close > smaa(3)", "unknown indicator 'smaa'"),
        ("sma(3).upper > close", "sma has no output 'upper'"),
        ("sma(0) > close", "out of range"),
        ("sma(2.5) > close", "whole number"),
        ("sma(3, 4) > close", "takes at most 1 arguments"),
        ("sma(periodd=3) > close", "no parameter 'periodd'"),
        ("sma(close) > 1", "arguments must be numbers"),
        ("close > 'a'", "unsupported expression Constant"),
        ("close >> 2", "unsupported expression BinOp"),
        ("close > (", "cannot parse filter"),
        ("abs() > 1", "positional arguments"),
        ("[close][0] > 1", "unsupported expression Subscript"),
        ("close if True else 1", "unsupported expression IfExp"),
        ("x" * 3000, "too long"),
    ],
)
def test_bad_filters_are_rejected_with_file_field_and_value(text: str, words: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_filter(text, file="f.yaml", field="strategy[0].filter")
    msg = str(e.value)
    assert words in msg
    assert msg.startswith("f.yaml: strategy[0].filter: ")
    assert e.value.value == text


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('touch {marker}')",
        "open.__class__.__bases__[0].__subclasses__()",
        "sma(3).__class__ > 1",
        "sma(3).update(0, 1, 1, 1, 1, 1) > 1",
        "(lambda: __import__('os').system('touch {marker}'))()",
        "[__import__('os').system('touch {marker}') for _ in [1]]",
        "getattr(close, '__class__')",
        "eval('1') > 0",
        "exec('import os') > 0",
    ],
)
def test_malicious_filters_are_rejected_without_running_anything(text: str, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    with pytest.raises(ConfigError):
        parse_filter(text.format(marker=marker), file="f.yaml", field="strategy[0].filter")
    assert not marker.exists()


def test_filters_never_call_eval_or_exec(monkeypatch) -> None:
    def forbidden(*a, **k):
        raise AssertionError("eval/exec called")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    assert run("close > sma(3) and volume > 10", [1.0, 2.0, 3.0, 4.0]) == [False, False, True, True]


def _trades(filter_text: str | None):
    import admf

    entry = {"sma_crossover": {"fast": 5, "slow": 20}}
    if filter_text is not None:
        entry["filter"] = filter_text
    r = admf.backtest({"data_dir": str(DATA), "data": "SPY_5m", "strategy": [entry]}, bars=1500)
    return r.trades


def test_filter_gates_entries_in_a_backtest() -> None:
    plain = _trades(None)
    assert set(plain["side"]) == {"long", "short"}
    assert _trades("True").equals(plain)
    assert len(_trades("False")) == 0
    longs = _trades("signal > 0")
    assert len(longs) > 0 and set(longs["side"]) == {"long"}
    # every long entry of the plain run is also a long entry when shorts are filtered out
    assert set(plain.loc[plain["side"] == "long", "entry_time"]) <= set(longs["entry_time"])
