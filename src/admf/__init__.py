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


__all__ = ["__version__", "backtest", "sweep"]
