"""admf data layer: bar files in, validated column arrays out.

from admf.data import load_spec, merge
spy = load_spec("SPY_5m", "data")          # BarFrame, validated, UTC ns timestamps
tl = merge([spy, load_spec("QQQ_5m", "data")])
"""

from admf.data.catalog import load_spec, resolve
from admf.data.frame import BarFrame
from admf.data.loaders import load_bars, save_bars
from admf.data.resample import resample
from admf.data.timeframe import canonical_timeframe, parse_symbol_spec, timeframe_ns
from admf.data.timeline import Timeline, merge
from admf.data.validate import validate_bars


def __getattr__(name: str) -> object:
    # Imported lazily so `python -m admf.data.sample` does not import the module twice.
    if name == "generate_sample":
        from admf.data.sample import generate_sample

        return generate_sample
    raise AttributeError(f"module 'admf.data' has no attribute {name!r}")


__all__ = [
    "BarFrame",
    "Timeline",
    "canonical_timeframe",
    "generate_sample",
    "load_bars",
    "load_spec",
    "merge",
    "parse_symbol_spec",
    "resample",
    "resolve",
    "save_bars",
    "timeframe_ns",
    "validate_bars",
]
