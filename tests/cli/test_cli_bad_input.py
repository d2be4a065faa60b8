"""Bad input through the real CLI: one short line naming file, field and value; exit 2; no traceback."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"


@pytest.fixture(scope="module")
def bad_data(tmp_path_factory) -> Path:
    """A data directory with three broken copies of the first 50 SPY bars."""
    d = tmp_path_factory.mktemp("bad_data")
    bars = pd.read_csv(DATA / "SPY_5m.csv").head(50)
    uns = bars.copy()
    uns.iloc[[10, 11]] = uns.iloc[[11, 10]].to_numpy()  # rows 11 and 12 (1-based) swapped
    uns.to_csv(d / "UNS_5m.csv", index=False)
    nan = bars.copy()
    nan.loc[7, "close"] = float("nan")
    nan.to_csv(d / "NAN_5m.csv", index=False)
    ohlc = bars.copy()
    ohlc.loc[5, "high"] = ohlc.loc[5, "low"] - 1.0
    ohlc.to_csv(d / "OHL_5m.csv", index=False)
    return d


def config(body: str, data: str = "SPY_5m", data_dir: Path = DATA) -> str:
    return f"name: bad\ndata_dir: {data_dir}\ndata: {data}\n" + textwrap.dedent(body).lstrip("\n")


BB = "strategy:\n  - bollinger_bands: {}\n"

CASES = {
    "malformed_yaml": ("name: x\ndata: SPY_5m\nstrategy: [ {sma_crossover: {fast: 3}\n",
                       ["line 4", "malformed YAML", "expected ','"]),
    "unknown_strategy": (config("strategy:\n  - bolinger_bands: {period: 20}\n"),
                         ["strategy[0]", "'bolinger_bands'", "did you mean 'bollinger_bands'"]),
    "unknown_parameter": (config("strategy:\n  - bollinger_bands: {perod: 20}\n"),
                          ["strategy[0].bollinger_bands.perod", "'perod'", "did you mean 'period'"]),
    "wrong_type_parameter": (config("strategy:\n  - bollinger_bands: {period: abc}\n"),
                             ["strategy[0].bollinger_bands.period", "'abc'", "whole number"]),
    "fractional_int_parameter": (config("strategy:\n  - bollinger_bands: {period: 20.5}\n"),
                                 ["strategy[0].bollinger_bands.period", "20.5"]),
    "out_of_range_parameter": (config("strategy:\n  - sma_crossover: {fast: 0}\n"),
                               ["strategy[0].sma_crossover.fast", "got 0", "out of range"]),
    "range_step_zero": (config("strategy:\n  - bollinger_bands: {period: 'range(10, 20, 0)'}\n"),
                        ["strategy[0].bollinger_bands.period", "'range(10, 20, 0)'", "step must be positive"]),
    "range_end_below_start": (config("strategy:\n  - bollinger_bands: {period: 'range(20, 10, 2)'}\n"),
                              ["strategy[0].bollinger_bands.period", "'range(20, 10, 2)'", "below its start"]),
    "range_garbage": (config("strategy:\n  - bollinger_bands: {period: 'range(a, 10)'}\n"),
                      ["strategy[0].bollinger_bands.period", "'range(a, 10)'", "must be numbers"]),
    "range_unquoted_in_flow": (config("strategy:\n  - bollinger_bands: {period: range(10, 20, 5)}\n"),
                               ["strategy[0].bollinger_bands.period", "'range(10'", "must be quoted"]),
    "missing_data_file": (config(BB, data="AAPL_5m"),
                          ["data", "'AAPL_5m'", str(DATA), "QQQ_5m.csv", "SPY_5m.csv"]),
    "no_timeframe_in_spec": (config(BB, data="SPY"), ["data", "'SPY'", "no timeframe"]),
    "missing_env_var": (config("strategy:\n  - bollinger_bands:\n      period: ${ADMF_T_NOT_SET}\n"),
                        ["strategy[0].bollinger_bands.period", "ADMF_T_NOT_SET", "not set"]),
    "bad_filter": (config(BB + "    filter: 'close > smaa(3)'\n"),
                   ["strategy[0].filter", "'close > smaa(3)'", "unknown indicator 'smaa'"]),
    "unparsable_filter": (config(BB + "    filter: 'close >> sma(3'\n"),
                          ["strategy[0].filter", "'close >> sma(3'", "cannot parse filter"]),
    "wrong_fill": (config(BB + "execution: {fill: tomorrow}\n"), ["execution.fill", "'tomorrow'", "next_open"]),
    "negative_capital": (config(BB + "portfolio: {initial_capital: -5}\n"),
                         ["portfolio.initial_capital", "-5", "greater than 0"]),
    "unknown_key": (config(BB + "portfolo: {initial_capital: 5}\n"), ["portfolo", "unknown key"]),
    "bad_start": (config(BB + "start: yesterday\n"), ["start", "'yesterday'", "not a date"]),
    "missing_strategy_file": (config(BB + "strategy_files: nope.py\n"), ["strategy_files", "nope.py", "not found"]),
}


def check_one_clean_error(res, out: Path, needles: list[str]) -> str:
    both = res.stdout + res.stderr
    assert res.returncode == 2, both
    assert "Traceback" not in both
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    line = lines[0]
    assert line.startswith("error: ") and len(line) < 500
    for n in needles:
        assert n in line, (n, line)
    assert not out.exists(), "a failed run wrote to its output folder"
    return line


# each of these runs in a subprocess too; every case runs in-process through the same main()
SUBPROCESS = ["malformed_yaml", "unknown_strategy", "unknown_parameter", "wrong_type_parameter", "range_step_zero",
              "range_end_below_start", "range_garbage", "missing_data_file", "missing_env_var", "bad_filter",
              "negative_capital"]


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def in_process(capsys, *args: object) -> Result:
    from admf.cli.main import main

    capsys.readouterr()
    code = main([str(a) for a in args])
    got = capsys.readouterr()
    return Result(code, got.out, got.err)


@pytest.mark.parametrize("case", SUBPROCESS)
def test_bad_config_through_the_cli(case: str, cli, tmp_path: Path) -> None:
    text, needles = CASES[case]
    cfg = tmp_path / f"{case}.yaml"
    cfg.write_text(text)
    out = tmp_path / "out"
    line = check_one_clean_error(cli("backtest", cfg, "--out", out), out, needles)
    # the file named is the config (data-file errors name the data file instead, below)
    assert line.startswith(f"error: {cfg}: ")


@pytest.mark.parametrize("case", list(CASES))
def test_bad_config_through_main(case: str, capsys, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("ADMF_T_NOT_SET", raising=False)
    text, needles = CASES[case]
    cfg = tmp_path / f"{case}.yaml"
    cfg.write_text(text)
    out = tmp_path / "out"
    line = check_one_clean_error(in_process(capsys, "backtest", cfg, "--out", out), out, needles)
    assert line.startswith(f"error: {cfg}: ")


@pytest.mark.parametrize(
    ("spec", "needles"),
    [
        ("UNS_5m", ["UNS_5m.csv", "row 12", "2024-01-02 15:20:00", "not sorted"]),
        ("NAN_5m", ["NAN_5m.csv", "row 8", "column close", "not a finite number", "got nan"]),
        ("OHL_5m", ["OHL_5m.csv", "row 6", "column high", "below low", "got 470.04"]),
    ],
)
def test_bad_data_through_the_cli(spec: str, needles: list[str], cli, tmp_path: Path, bad_data: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(config(BB, data=spec, data_dir=bad_data))
    out = tmp_path / "out"
    check_one_clean_error(cli("backtest", cfg, "--out", out), out, needles)


def test_malicious_filter_is_rejected_without_running_it(cli, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    cfg = tmp_path / "evil.yaml"
    cfg.write_text(config(BB + f"    filter: \"__import__('os').system('touch {marker}')\"\n"))
    out = tmp_path / "out"
    check_one_clean_error(cli("backtest", cfg, "--out", out), out, ["strategy[0].filter", "__import__", "unsupported"])
    assert not marker.exists()


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--start", "yesterday"], ["--start", "'yesterday'", "not a date"]),
        (["--start", "2024-03-05", "--end", "2024-03-01"], ["--end", "'2024-03-01'", "not after start"]),
        (["--symbols", "AAPL"], ["data", "'AAPL'", "SPY_5m"]),
        (["--bars", "0"], ["--bars", "got 0", "positive"]),
        (["--start", "2030-01-01"], ["SPY_5m.csv", "no bars between 2030-01-01"]),
    ],
)
def test_bad_command_line_options(args: list[str], needles: list[str], capsys, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = in_process(capsys, "backtest", REPO / "config" / "bollinger" / "test.yaml", "--out", out, *args)
    check_one_clean_error(res, out, needles)


def test_validate_reports_the_same_errors(cli, tmp_path: Path) -> None:
    text, needles = CASES["missing_data_file"]
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(text)
    res = cli("validate", cfg, cwd=tmp_path)
    check_one_clean_error(res, tmp_path / "runs", needles)


def test_missing_config_file(cli, tmp_path: Path) -> None:
    res = cli("--config", tmp_path / "nope.yaml", cwd=tmp_path)
    check_one_clean_error(res, tmp_path / "runs", [str(tmp_path / "nope.yaml"), "config file not found"])


@pytest.mark.parametrize(
    ("flags", "name"),
    [(["-sg"], "--signal-generation"), (["-bt"], "--backtest"), (["-opt"], "--optimize"),
     (["--config", "x.yaml"], "--config"), (["--bars", "5"], "--bars")],
)
def test_legacy_options_with_a_command_are_refused(flags: list[str], name: str, capsys, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = in_process(capsys, *flags, "backtest", REPO / "config" / "bollinger" / "test.yaml", "--out", out)
    line = check_one_clean_error(res, out, ["legacy options go without a command"])
    assert line.startswith(f"error: {name}: ")


def test_legacy_flags_without_a_config(capsys, tmp_path: Path) -> None:
    check_one_clean_error(in_process(capsys, "-bt"), tmp_path / "runs", ["--config", "need a config"])
