"""Incremental O(1) indicators, their registry and the per-symbol FeatureHub.

Importing this package registers every built-in indicator.
"""

from .bands import Bollinger, Donchian, Keltner
from .base import Indicator
from .hub import FeatureHub
from .momentum import CCI, MACD, ROC, RSI, Aroon, Stochastic, WilliamsR
from .moving_averages import DEMA, EMA, SMA, TEMA, WMA
from .registry import indicator_class, indicator_names, indicator_params, make_indicator, normalize_params
from .trend import ADX, ATR, Supertrend
from .volume import OBV, VWAP

__all__ = [
    "ADX", "ATR", "CCI", "DEMA", "EMA", "MACD", "OBV", "ROC", "RSI", "SMA", "TEMA", "VWAP", "WMA",
    "Aroon", "Bollinger", "Donchian", "FeatureHub", "Indicator", "Keltner", "Stochastic",
    "Supertrend", "WilliamsR", "indicator_class", "indicator_names", "indicator_params",
    "make_indicator", "normalize_params",
]  # fmt: skip
