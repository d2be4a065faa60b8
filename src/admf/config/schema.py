"""The validated shape of a config file (pydantic). Unknown keys are errors."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)

from admf.config.interpolate import Unresolved
from admf.core.errors import ConfigError


def broker_names() -> list[str]:
    """The broker adapters installed (packages under admf/adapters), found without importing them."""
    import importlib.util
    import pkgutil

    spec = importlib.util.find_spec("admf.adapters")
    if spec is None or not spec.submodule_search_locations:
        return []
    return sorted(m.name for m in pkgutil.iter_modules(spec.submodule_search_locations) if m.ispkg)


class _Model(BaseModel):
    # `${VAR}` of a digits-only value arrives as a number; a text field still takes it as text
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class SizingConfig(_Model):
    type: Literal["fixed_shares", "notional", "percent_equity", "atr"] = "fixed_shares"
    shares: float = Field(100.0, gt=0)
    amount: float = Field(10_000.0, gt=0)
    percent: float = Field(0.1, gt=0, le=10)
    risk_per_trade: float = Field(0.01, gt=0, le=1)
    atr_period: int = Field(14, ge=1)
    atr_multiple: float = Field(2.0, gt=0)
    fractional: bool = False


class RiskConfig(_Model):
    stop_loss: float | None = Field(None, gt=0, lt=1)
    take_profit: float | None = Field(None, gt=0)
    trailing_stop: float | None = Field(None, gt=0, lt=1)
    max_holding_bars: int | None = Field(None, ge=1)
    max_position: float | None = Field(None, gt=0)
    max_notional: float | None = Field(None, gt=0)
    max_gross_exposure: float | None = Field(None, gt=0)
    sizing: SizingConfig | None = None


class StrategyEntry(_Model):
    type: str
    params: dict[str, Any] = {}
    name: str | None = None
    constraints: list[Literal["intraday"]] = []
    filter: str | None = None
    risk: RiskConfig | None = None
    sizing: SizingConfig | None = None
    direction: Literal["both", "long", "short"] = "both"
    symbols: list[str] | None = None

    @field_validator("constraints", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class SlippageConfig(_Model):
    type: Literal["none", "bps", "fixed"] = "none"
    value: float = Field(0.0, ge=0)


class CommissionConfig(_Model):
    type: Literal["none", "per_share", "percent", "fixed"] = "none"
    rate: float = Field(0.0, ge=0)
    min: float = Field(0.0, ge=0)
    max: float | None = Field(None, ge=0)


class ExecutionConfig(_Model):
    # "simulated" (a backtest) or a broker adapter's name (admf.adapters.<name>), checked when a
    # live session starts; its settings are the config's `broker:` section
    broker: str = "simulated"

    @field_validator("broker")
    @classmethod
    def _known_broker(cls, v: str) -> str:
        names = ["simulated", *broker_names()]
        if v not in names:
            shown = [repr(n) for n in names]
            raise ValueError(f"Input should be {', '.join(shown[:-1])} or {shown[-1]}")
        return v

    execution_mode: Literal["sync", "async"] = "sync"
    fill: Literal["next_open", "close"] = "next_open"
    # backtests: auto runs the compiled engine when every strategy has an array form
    engine: Literal["auto", "event", "compiled"] = "auto"
    slippage: SlippageConfig = SlippageConfig()
    commission: CommissionConfig = CommissionConfig()
    # backtests: a bar fills at most this share of its volume, the rest on later bars (off: None)
    fill_volume_cap: float | None = Field(None, gt=0, le=1)


class PortfolioConfig(_Model):
    initial_capital: float = Field(100_000.0, gt=0)
    allocation: Literal["split", "each"] = "split"


class LiveTradingConfig(_Model):
    api_key: SecretStr | None = None
    secret_key: SecretStr | None = None
    paper_trading: bool = True
    base_url: str | None = None
    data_url: str | None = None
    stream_url: str | None = None
    data_stream_url: str | None = None
    feed: Literal["iex", "sip", "test"] = "iex"
    cancel_on_stop: bool = True
    max_order_notional: float | None = Field(None, gt=0)
    max_position: float | None = Field(None, gt=0)
    max_orders_per_minute: int | None = Field(None, ge=1)
    daily_loss_limit: float | None = Field(None, gt=0)
    flatten_on_kill: bool = False
    journal: str | None = None
    warmup_bars: int = Field(200, ge=0)
    audit_jsonl: bool = False
    # no bar for this many seconds while the broker's clock says the market is open ends the
    # session (exit 1); None: five bar intervals, at least 120 s; 0: never
    data_timeout: float | None = Field(None, ge=0)  # also write the audit trail as JSON lines (audit.jsonl)
    # field -> environment variable that was not set when the config was read
    _unresolved: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _defer_unset(cls, data: Any, handler: ModelWrapValidatorHandler[LiveTradingConfig]) -> LiveTradingConfig:
        # An unset ${VAR} here is an error only when the value is used (see `require`), so a
        # backtest runs without live credentials; until then the field keeps its default.
        missing: dict[str, str] = {}
        if isinstance(data, dict):
            missing = {k: str(v) for k, v in data.items() if isinstance(v, Unresolved)}
            data = {k: v for k, v in data.items() if k not in missing}
        obj = handler(data)
        if missing:
            obj._unresolved = {**obj._unresolved, **missing}
        return obj

    def require(self, key: str, *, file: str | None = None, fallback: tuple[str, ...] = ()) -> Any:
        """The value of `key` (a secret unwrapped); ConfigError naming the variable if it was not set.

        A value left unset (absent, or one of the `fallback` variables unset or empty) is read from
        the `fallback` environment variables in turn (the broker adapter names them).
        """
        names = fallback
        var = self._unresolved.get(key)
        value = getattr(self, key)
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if names and (var in names or (var is None and not raw)):
            found = next((os.environ[n] for n in names if os.environ.get(n, "").strip()), None)
            if found is not None:
                return found
            alt = " or ".join(f"export {n}=..." for n in names)
            if var is not None:
                raise ConfigError(f"environment variable {var} is not set", file=file, field=f"live_trading.{key}",
                                  accepted=alt)
            raise ConfigError("missing" if raw is None else "is empty", file=file, field=f"live_trading.{key}",
                              accepted=f"set it, or {alt}")
        if var is not None:
            raise ConfigError(f"environment variable {var} is not set", file=file, field=f"live_trading.{key}",
                              accepted=f"export {var}=...")
        if raw is None:
            raise ConfigError("missing", file=file, field=f"live_trading.{key}")
        return raw

    @property
    def unresolved(self) -> dict[str, str]:
        return dict(self._unresolved)


class OutputConfig(_Model):
    dir: str = "runs"
    report: bool = True


class DataConfig(_Model):
    specs: list[str]
    # for file specs: the symbol of each file (default: the file name) and the timeframe (default: the
    # file name's, else the bars' median spacing)
    symbols: list[str] = []
    timeframe: str | None = None
    data_dir: str | None = None
    start: str | None = None
    end: str | None = None


class Config(_Model):
    name: str = "backtest"
    data: DataConfig
    strategies: list[StrategyEntry]
    strategy_files: list[str] = []
    risk: RiskConfig = RiskConfig()
    portfolio: PortfolioConfig = PortfolioConfig()
    execution: ExecutionConfig = ExecutionConfig()
    live_trading: LiveTradingConfig = LiveTradingConfig()
    # the broker adapter's settings (keys, URLs, feed, ...), validated by that adapter
    broker: dict[str, Any] = {}
    output: OutputConfig = OutputConfig()
    source: str | None = None
    base_dir: str | None = None
