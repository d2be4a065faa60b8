"""Assembly: builds engines from a config and runs them (backtest here, live in live.py)."""
