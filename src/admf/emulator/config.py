"""EmulatorConfig: every knob of the emulator, with defaults that mimic an Alpaca paper account."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from admf.core.errors import ConfigError


@dataclass(slots=True)
class EmulatorConfig:
    """Settings for one emulator instance.

    host, port: where to listen (port 0 picks a free port).
    api_key, secret_key: the one key pair the emulator accepts (REST headers, streams, data).
    data: CSV or Parquet bar file to replay; None for the seeded synthetic walk.
    symbols: tradable symbols. With a file lacking a symbol column the first symbol gets its bars
        and the others a synthetic walk on the same timestamps. FAKEPACA is always streamed.
    speed: replay speed as a multiple of wall time; 0 is manual mode (advance with step()).
    start: bars already played at start (int), or an ISO time (New York if naive) to start at.
    skip_gaps: in wall-clock replay, jump over overnight/weekend gaps instead of waiting them out.
    seed, synthetic_start, synthetic_days: the synthetic walk (regular-session minute bars).
    initial_cash, multiplier ("1", "2" or "4"), shorting_enabled: the paper account.
    pdt_fields: emit pattern_day_trader/daytrade_count/daytrading_buying_power (Alpaca dropped
        them on 2026-07-06).
    partial_fill_prob: chance that an eligible fill is split; the rest waits for the next bar.
    fill_volume_cap: a bar fills a resting order for at most this share of its volume (whole shares),
        the rest waits for later bars: the matching core's rule, as `execution.fill_volume_cap` in a
        backtest. None (default) is no cap.
    spread: bid/ask width of the streamed quotes (fills use the last trade price).
    enforce_hours: queue orders as `accepted` outside the session and expire DAY orders at the close.
    rate_limit, data_rate_limit: requests per minute per key for trading / market-data REST (0 = off).
    max_trade_streams, max_data_connections: connection limits (429 on upgrade / 406 after auth).
    data_auth_timeout: seconds a data socket may stay unauthenticated (error 404, then close).
    sip_allowed: False answers 409 insufficient subscription on /v2/sip.
    symbol_limit: max symbols for trades+quotes per data connection (error 405); None = no limit.
    state_file: SQLite file that keeps account, orders, activities and replay position.
    faults: faults active from the start, {name: {param: value}} (see faults.py).
    """

    host: str = "127.0.0.1"
    port: int = 0
    api_key: str = "PKEMULATOR00000000000"
    secret_key: str = "SKEMULATOR0000000000000000000000000000000"
    data: str | None = None
    symbols: tuple[str, ...] = ("SPY",)
    speed: float = 0.0
    start: int | str | None = 0
    skip_gaps: bool = True
    seed: int = 42
    synthetic_start: str = "2024-01-02"
    synthetic_days: int = 20
    initial_cash: str = "100000"
    multiplier: str = "2"
    shorting_enabled: bool = True
    pdt_fields: bool = True
    partial_fill_prob: float = 0.0
    fill_volume_cap: float | None = None
    spread: float = 0.02
    enforce_hours: bool = True
    rate_limit: int = 200
    data_rate_limit: int = 200
    max_trade_streams: int = 1
    max_data_connections: int = 1
    data_auth_timeout: float = 10.0
    sip_allowed: bool = True
    symbol_limit: int | None = None
    state_file: str | None = None
    faults: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.symbols, str):
            self.symbols = tuple(s for s in self.symbols.replace(" ", ",").split(",") if s)
        self.symbols = tuple(s.strip().upper() for s in self.symbols if s.strip())
        if not self.symbols:
            raise ConfigError("at least one symbol is required", field="symbols")
        if self.data is not None:
            self.data = str(self.data)
        if self.state_file is not None:
            self.state_file = str(self.state_file)
        if self.speed < 0:
            raise ConfigError("speed must be >= 0", field="speed", value=self.speed, accepted="0 (manual) or > 0")
        if str(self.multiplier) not in ("1", "2", "4"):
            raise ConfigError("bad multiplier", field="multiplier", value=self.multiplier, accepted="1, 2, 4")
        self.multiplier = str(self.multiplier)
        if not 0.0 <= self.partial_fill_prob <= 1.0:
            raise ConfigError("must be within [0, 1]", field="partial_fill_prob", value=self.partial_fill_prob)
        if self.fill_volume_cap is not None and not 0.0 < self.fill_volume_cap <= 1.0:
            raise ConfigError("must be within (0, 1]", field="fill_volume_cap", value=self.fill_volume_cap)
        if not 0 <= self.port <= 65535:
            raise ConfigError("bad port", field="port", value=self.port, accepted="0-65535")
        if self.rate_limit < 0 or self.data_rate_limit < 0:
            raise ConfigError("rate limits must be >= 0 (0 turns them off)", field="rate_limit")
        if not self.api_key or not self.secret_key:
            raise ConfigError("api_key and secret_key must be non-empty", field="api_key")
        if self.data is not None and not Path(self.data).exists():
            raise ConfigError("bar file not found", field="data", value=self.data)

    def with_(self, **changes: Any) -> EmulatorConfig:
        return replace(self, **changes)

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> EmulatorConfig:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - names)
        if unknown:
            raise ConfigError("unknown emulator option", field=unknown[0], accepted=", ".join(sorted(names)))
        return cls(**kwargs)
