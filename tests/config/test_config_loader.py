"""Loading configs: compact and explicit strategy forms, data specs, and validation of every section."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from admf.config.loader import config_from_dict, expand, load_config
from admf.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_compact_and_explicit_strategy_forms_are_the_same(raw_config) -> None:
    compact = config_from_dict(raw_config(strategy=[
        {"bollinger_bands": {"period": 25, "std_dev": 1.5}, "constraints": "intraday",
         "risk": {"stop_loss": 0.01}, "filter": "volume > 0", "direction": "long"},
        "sma_crossover",
        {"rsi_bands": None},
    ]))
    explicit = config_from_dict(_explicit(raw_config))
    assert compact.strategies == explicit.strategies
    first = compact.strategies[0]
    assert (first.type, first.params, first.constraints, first.risk.stop_loss, first.direction) == (
        "bollinger_bands", {"period": 25, "std_dev": 1.5}, ["intraday"], 0.01, "long")
    assert [s.type for s in compact.strategies] == ["bollinger_bands", "sma_crossover", "rsi_bands"]


def _explicit(raw_config):
    raw = raw_config()
    del raw["strategy"]
    raw["strategies"] = [
        {"type": "bollinger_bands", "params": {"period": 25, "std_dev": 1.5}, "constraints": ["intraday"],
         "risk": {"stop_loss": 0.01}, "filter": "volume > 0", "direction": "long"},
        {"type": "sma_crossover"},
        {"type": "rsi_bands", "params": {}},
    ]
    return raw


def test_a_single_strategy_mapping_is_a_list_of_one(raw_config) -> None:
    cfg = config_from_dict(raw_config(strategy={"sma_crossover": {"fast": 3, "slow": 9}}))
    assert [(s.type, s.params) for s in cfg.strategies] == [("sma_crossover", {"fast": 3, "slow": 9})]


def test_strategy_entry_mistakes(raw_config) -> None:
    with pytest.raises(ConfigError, match="name exactly one strategy") as e:
        config_from_dict(raw_config(strategy=[{"bollinger_bands": {}, "sma_crossover": {}}]), file="c.yaml")
    assert e.value.field == "strategy[0]"
    with pytest.raises(ConfigError, match="must be a mapping") as e:
        config_from_dict(raw_config(strategy=[{"bollinger_bands": [20, 2]}]), file="c.yaml")
    assert e.value.field == "strategy[0].bollinger_bands"
    with pytest.raises(ConfigError, match="both 'strategy' and 'strategies'"):
        config_from_dict(raw_config(strategies=[{"type": "sma_crossover"}]))
    with pytest.raises(ConfigError) as e:
        config_from_dict({k: v for k, v in raw_config().items() if k != "strategy"}, file="c.yaml")
    assert e.value.field == "strategy" and "missing" in str(e.value)


def test_unknown_strategy_suggests_the_close_name(raw_config) -> None:
    with pytest.raises(ConfigError) as e:
        config_from_dict(raw_config(strategy=[{"bolinger_bands": {}}]), file="c.yaml")
    msg = str(e.value)
    assert e.value.field == "strategy[0]" and "'bolinger_bands'" in msg and "did you mean 'bollinger_bands'" in msg


@pytest.mark.parametrize(
    ("params", "field", "value", "words"),
    [
        ({"perod": 20}, "strategy[0].bollinger_bands.perod", None, "did you mean 'period'"),
        ({"period": "abc"}, "strategy[0].bollinger_bands.period", "abc", "whole number"),
        ({"period": 20.5}, "strategy[0].bollinger_bands.period", 20.5, "whole number"),
        ({"period": True}, "strategy[0].bollinger_bands.period", True, "whole number"),
        ({"period": 1}, "strategy[0].bollinger_bands.period", 1, "out of range"),
        ({"std_dev": "wide"}, "strategy[0].bollinger_bands.std_dev", "wide", "expected a number"),
    ],
)
def test_bad_parameters_name_field_and_value(raw_config, params, field, value, words) -> None:
    with pytest.raises(ConfigError) as e:
        config_from_dict(raw_config(strategy=[{"bollinger_bands": params}]), file="c.yaml")
    assert e.value.file == "c.yaml" and e.value.field == field and words in str(e.value)
    if value is not None:
        assert e.value.value == value


@pytest.mark.parametrize(
    ("data", "extra", "specs", "dir_", "start", "end"),
    [
        ("SPY_5m", {}, ["SPY_5m"], None, None, None),
        (["SPY_5m", "QQQ_15m"], {}, ["SPY_5m", "QQQ_15m"], None, None, None),
        ({"symbols": ["SPY", "QQQ"], "timeframe": "5m"}, {}, ["SPY_5m", "QQQ_5m"], None, None, None),
        ({"symbols": "SPY", "timeframe": "1h", "dir": "bars"}, {}, ["SPY_1h"], "bars", None, None),
        ({"file": "x/SPY_5m.csv"}, {}, ["x/SPY_5m.csv"], None, None, None),
        ({"files": ["a.csv", "b.parquet"], "start": "2024-02-01"}, {}, ["a.csv", "b.parquet"], None,
         "2024-02-01", None),
        ({"specs": ["SPY_5m"]}, {}, ["SPY_5m"], None, None, None),  # the form a run's config.yaml holds
        ("SPY_5m", {"data_dir": "/d", "start": "2024-03-01", "end": "2024-03-31"}, ["SPY_5m"], "/d",
         "2024-03-01", "2024-03-31"),
    ],
)
def test_data_spec_forms(data, extra, specs, dir_, start, end) -> None:
    cfg = config_from_dict({"data": data, **extra, "strategy": ["sma_crossover"]})
    assert (cfg.data.specs, cfg.data.data_dir, cfg.data.start, cfg.data.end) == (specs, dir_, start, end)


def test_yaml_dates_become_text(write) -> None:
    # YAML reads 2024-03-01 as a date; the config keeps it as the text the data layer parses
    cfg = load_config(write("data: SPY_5m\nstart: 2024-03-01\nend: 2024-03-05\nstrategy: [sma_crossover]\n"))
    assert (cfg.data.start, cfg.data.end) == ("2024-03-01", "2024-03-05")


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        (5, "data", "invalid data"),
        ({"symbols": ["SPY"], "timeframe": "5m", "foo": 1}, "data.foo", "unknown key 'foo'"),
        ({"timeframe": "5m"}, "data", "no symbols or file"),
        (None, "data", "missing"),
    ],
)
def test_bad_data_specs(data, field, words) -> None:
    raw = {"strategy": ["sma_crossover"]} | ({} if data is None else {"data": data})
    with pytest.raises(ConfigError) as e:
        config_from_dict(raw, file="c.yaml")
    assert e.value.field == field and words in str(e.value) and str(e.value).startswith("c.yaml: ")


def test_every_section_parses(write) -> None:
    p = write("""
        name: full
        data: SPY_5m
        strategy:
          - sma_crossover: {fast: 5, slow: 20}
            name: fast_trend
            symbols: [SPY]
            sizing: {type: percent_equity, percent: 0.25}
        risk: {stop_loss: 0.02, take_profit: 0.04, trailing_stop: 0.01, max_holding_bars: 10,
               max_position: 500, sizing: {type: notional, amount: 5000}}
        portfolio: {initial_capital: 50000, allocation: each}
        execution:
          broker: alpaca
          execution_mode: async
          fill: close
          slippage: {type: fixed, value: 0.01}
          commission: {type: percent, rate: 0.001, min: 0.5, max: 10}
        live_trading:
          paper_trading: false
          feed: sip
          base_url: http://127.0.0.1:8080
          max_orders_per_minute: 30
          daily_loss_limit: 1000
          warmup_bars: 50
        output: {dir: elsewhere, report: false}
        """)
    cfg = load_config(p, env={})
    assert cfg.name == "full" and cfg.source == str(p)
    s = cfg.strategies[0]
    assert (s.name, s.symbols, s.sizing.type, s.sizing.percent) == ("fast_trend", ["SPY"], "percent_equity", 0.25)
    assert (cfg.risk.stop_loss, cfg.risk.max_holding_bars, cfg.risk.sizing.amount) == (0.02, 10, 5000.0)
    assert (cfg.portfolio.initial_capital, cfg.portfolio.allocation) == (50_000.0, "each")
    ex = cfg.execution
    assert (ex.broker, ex.execution_mode, ex.fill) == ("alpaca", "async", "close")
    assert (ex.slippage.type, ex.slippage.value) == ("fixed", 0.01)
    assert (ex.commission.type, ex.commission.rate, ex.commission.min, ex.commission.max) == ("percent", 0.001, 0.5, 10)
    lt = cfg.live_trading
    assert (lt.paper_trading, lt.feed, lt.max_orders_per_minute, lt.warmup_bars) == (False, "sip", 30, 50)
    assert (cfg.output.dir, cfg.output.report) == ("elsewhere", False)


def test_defaults_when_sections_are_left_out(raw_config) -> None:
    cfg = config_from_dict(raw_config())
    assert cfg.portfolio.initial_capital == 100_000.0
    ex = cfg.execution
    assert (ex.broker, ex.execution_mode, ex.fill) == ("simulated", "sync", "next_open")
    assert cfg.live_trading.paper_trading is True and cfg.output.dir == "runs"


@pytest.mark.parametrize(
    ("section", "field", "value", "words"),
    [
        ({"execution": {"fill": 3}}, "execution.fill", 3, "'next_open' or 'close'"),
        ({"execution": {"fill": "tomorrow"}}, "execution.fill", "tomorrow", "'next_open' or 'close'"),
        ({"execution": {"broker": "ib"}}, "execution.broker", "ib", "'simulated', 'alpaca' or 'paper'"),
        ({"execution": {"slipage": {"type": "bps"}}}, "execution.slipage", "slipage", "unknown key"),
        ({"execution": {"commission": {"type": "per_share", "rate": -1}}}, "execution.commission.rate", -1,
         "greater than or equal to 0"),
        ({"portfolio": {"initial_capital": -5}}, "portfolio.initial_capital", -5, "greater than 0"),
        ({"portfolio": {"initial_capital": "lots"}}, "portfolio.initial_capital", "lots", "valid number"),
        ({"portfolio": {"allocation": "half"}}, "portfolio.allocation", "half", "'split' or 'each'"),
        ({"portfolo": {"initial_capital": 5}}, "portfolo", "portfolo", "unknown key"),
        ({"risk": {"stop_loss": 2}}, "risk.stop_loss", 2, "less than 1"),
        ({"live_trading": {"paper_trading": "maybe"}}, "live_trading.paper_trading", "maybe", "valid boolean"),
        ({"live_trading": {"feed": "cme"}}, "live_trading.feed", "cme", "'iex', 'sip' or 'test'"),
        ({"live_trading": {"max_orders_per_minute": 0}}, "live_trading.max_orders_per_minute", 0, "greater than"),
        ({"output": {"report": "sometimes"}}, "output.report", "sometimes", "valid boolean"),
    ],
)
def test_every_section_is_validated(raw_config, section, field, value, words) -> None:
    with pytest.raises(ConfigError) as e:
        config_from_dict(raw_config(**section), file="c.yaml")
    err = e.value
    assert (err.file, err.field, err.value) == ("c.yaml", field, value)
    assert words in str(err)
    assert str(err).startswith(f"c.yaml: {field}: ")


def test_strategy_entry_sections_are_validated(raw_config) -> None:
    for entry, field in [
        ({"bollinger_bands": {}, "constraints": "overnight"}, "strategy[0].constraints[0]"),
        ({"bollinger_bands": {}, "sizing": {"type": "kelly"}}, "strategy[0].sizing.type"),
        ({"bollinger_bands": {}, "sizing": {"type": "percent_equity", "pct": 0.5}}, "strategy[0].sizing.pct"),
        ({"bollinger_bands": {}, "risk": {"take_profit": -0.1}}, "strategy[0].risk.take_profit"),
        ({"bollinger_bands": {}, "direction": "sideways"}, "strategy[0].direction"),
    ]:
        with pytest.raises(ConfigError) as e:
            config_from_dict(raw_config(strategy=[entry]), file="c.yaml")
        assert e.value.field == field, entry


def test_a_bad_filter_is_caught_when_the_config_loads(raw_config) -> None:
    with pytest.raises(ConfigError) as e:
        config_from_dict(raw_config(strategy=[{"bollinger_bands": {}, "filter": "close > smaa(3)"}]), file="c.yaml")
    assert e.value.field == "strategy[0].filter" and "unknown indicator 'smaa'" in str(e.value)


def test_malformed_yaml_names_file_and_line(write) -> None:
    p = write("name: x\ndata: SPY_5m\nstrategy: [ {sma_crossover: {fast: 3}\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert e.value.file == str(p) and e.value.field.startswith("line ") and "malformed YAML" in str(e.value)


@pytest.mark.parametrize(("text", "words"), [("- a\n- b\n", "top level must be a mapping"),
                                             ("", "top level must be a mapping")])
def test_top_level_must_be_a_mapping(write, text, words) -> None:
    with pytest.raises(ConfigError, match=words):
        load_config(write(text))


def test_missing_or_binary_config_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    p = tmp_path / "bin.yaml"
    p.write_bytes(bytes(range(128, 256)))
    with pytest.raises(ConfigError, match="not a text file"):
        load_config(p)


def test_a_run_directorys_config_reads_back_to_the_same_config(tmp_path) -> None:
    from admf.runtime.rundir import resolved_config

    cfg = load_config(REPO / "config" / "multi" / "two_symbols.yaml", env={})
    p = tmp_path / "config.yaml"
    p.write_text(yaml.safe_dump(resolved_config(cfg), sort_keys=False))
    again = load_config(p, env={})
    skip = {"source": True, "base_dir": True, "data": {"data_dir"}}
    assert again.model_dump(exclude=skip) == cfg.model_dump(exclude=skip)
    # the data folder is written absolute, so the copy finds the same bars from anywhere
    from admf.runtime.backtest import resolve_data_dir

    assert Path(again.data.data_dir).is_absolute()
    assert resolve_data_dir(again) == resolve_data_dir(cfg).resolve()


@pytest.mark.parametrize("path", sorted((REPO / "config").rglob("*.yaml")), ids=lambda p: p.parent.name + "/" + p.name)
def test_example_configs_load_and_their_data_exists(path: Path) -> None:
    from admf.data.catalog import resolve
    from admf.runtime.backtest import resolve_data_dir

    cfg = load_config(path, env={})
    for spec in cfg.data.specs:
        assert resolve(spec, resolve_data_dir(cfg)).is_file()
    assert len(expand(cfg)) >= 1


def test_example_configs_say_what_they_claim() -> None:
    grid = expand(load_config(REPO / "config" / "sma" / "grid.yaml", env={}))
    assert sorted(v.label for v in grid) == sorted(f"fast={f},slow={s}" for f in (5, 10, 15) for s in (30, 60))
    multi = load_config(REPO / "config" / "multi" / "two_symbols.yaml", env={})
    assert multi.data.specs == ["SPY_5m", "QQQ_5m"] and len(multi.strategies) == 2
    rsi = load_config(REPO / "config" / "rsi" / "filtered.yaml", env={"RSI_PERIOD": "9"})
    entry = rsi.strategies[0]
    assert entry.filter and entry.sizing.type == "percent_equity" and entry.params["period"] == 9
