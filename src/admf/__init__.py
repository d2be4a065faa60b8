"""admf: a config-driven, event-driven trading system."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def backtest(*args: Any, **kwargs: Any) -> Any:
    """Run a config (path, dict or Config); see `admf.runtime.backtest.backtest`.

    Imported lazily so that `import admf` stays cheap for the CLI and the emulator.
    """
    from admf.runtime.backtest import backtest as _backtest

    return _backtest(*args, **kwargs)


def sweep(*args: Any, **kwargs: Any) -> Any:
    """Run every combination of a grid config; see `admf.research.sweep.sweep`."""
    from admf.research.sweep import sweep as _sweep

    return _sweep(*args, **kwargs)


def signals(*args: Any, **kwargs: Any) -> Any:
    """Generate and store a config's signals; see `admf.research.signal_gen.signals`."""
    from admf.research.signal_gen import signals as _signals

    return _signals(*args, **kwargs)


def replay(*args: Any, **kwargs: Any) -> Any:
    """Backtest a config on its stored signals; see `admf.research.replay.replay`."""
    from admf.research.replay import replay as _replay

    return _replay(*args, **kwargs)


def live(*args: Any, **kwargs: Any) -> Any:
    """A live (paper) session as a started handle; see `admf.runtime.handle.live`."""
    from admf.runtime.handle import live as _live

    return _live(*args, **kwargs)


def demo(*args: Any, **kwargs: Any) -> Any:
    """A live session against an in-process emulator, as a started handle; see `admf.runtime.handle.demo`."""
    from admf.runtime.handle import demo as _demo

    return _demo(*args, **kwargs)


def walkforward(*args: Any, **kwargs: Any) -> Any:
    """Walk-forward analysis of a config's grid; see `admf.research.walkforward.walkforward`."""
    from admf.research.walkforward import walkforward as _walkforward

    return _walkforward(*args, **kwargs)


__all__ = ["__version__", "backtest", "demo", "live", "replay", "signals", "sweep", "walkforward"]
