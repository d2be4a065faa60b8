"""The CLI's happy paths: run directories, options, validate, strategies, legacy flags, grids, user strategies."""

from __future__ import annotations

import json
import re
import shutil
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"
BOLLINGER = REPO / "config" / "bollinger" / "test.yaml"
GRID = REPO / "config" / "sma" / "grid.yaml"
MULTI = REPO / "config" / "multi" / "two_symbols.yaml"
SENTINEL_KEY = "PKSENTINEL4c1f9e2a7b"
SENTINEL_SECRET = "SKSENTINELd83e0b5a11f2"
BUILTINS = ["bollinger_bands", "bollinger_breakout", "sma_crossover", "ema_crossover", "macd_crossover", "rsi_bands",
            "rsi_threshold", "donchian_breakout", "keltner_bands", "keltner_breakout", "supertrend", "vwap_deviation",
            "stochastic_crossover", "roc_momentum"]
TRADE_COLUMNS = {"entry_time", "exit_time", "entry_price", "exit_price", "qty", "pnl", "costs", "exit_reason"}


def bars(symbol: str) -> pd.DataFrame:
    df = pd.read_csv(DATA / f"{symbol}_5m.csv")
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    return df.set_index("timestamp")


def only_run_dir(out: Path, name: str) -> Path:
    entries = list(out.iterdir())
    assert len(entries) == 1, entries  # no second folder, no leftover .partial
    d = entries[0]
    assert re.fullmatch(rf"{name}-\d{{8}}-\d{{6}}", d.name), d.name
    return d


def test_main_py_config_writes_a_complete_run_directory_without_secrets(cli, tmp_path: Path) -> None:
    res = cli("--config", BOLLINGER, "--bars", 600, cwd=tmp_path,
              env={"ALPACA_API_KEY": SENTINEL_KEY, "ALPACA_API_SECRET": SENTINEL_SECRET})
    assert res.returncode == 0, res.stderr
    run = only_run_dir(tmp_path / "runs", "bollinger")
    assert f"run directory: runs/{run.name}" in res.stdout
    for f in ("config.yaml", "orders.csv", "fills.csv", "trades.csv", "equity.parquet", "metrics.json", "report.html"):
        assert (run / f).is_file(), f

    # secrets: nowhere in the run directory or the output, redacted in the resolved config
    for f in run.rglob("*"):
        if f.is_file():
            blob = f.read_bytes()
            assert SENTINEL_KEY.encode() not in blob and SENTINEL_SECRET.encode() not in blob, f
    assert SENTINEL_KEY not in res.stdout + res.stderr and SENTINEL_SECRET not in res.stdout + res.stderr
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["live_trading"]["api_key"] == "<redacted>" == resolved["live_trading"]["secret_key"]
    assert resolved["strategies"][0]["params"] == {"period": 20, "std_dev": 2.0}

    # --bars 600: the equity curve has one point per bar, on the bars of the file
    equity = pd.read_parquet(run / "equity.parquet")["equity"]
    spy = bars("SPY").iloc[:600]
    assert len(equity) == 600 and (equity.index == spy.index).all()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["bars"] == 600
    assert metrics["final_equity"] == pytest.approx(float(equity.iloc[-1]))

    trades = pd.read_csv(run / "trades.csv", parse_dates=["entry_time", "exit_time"])
    assert set(trades.columns) >= TRADE_COLUMNS and len(trades) > 3
    assert metrics["trade_count"] == len(trades)
    assert (trades["exit_bar"] < 600).all()
    assert set(trades["exit_reason"]) <= {"signal", "stop_loss", "take_profit", "session_close", "end_of_data"}
    assert np.allclose(trades["pnl"], trades["gross_pnl"] - trades["costs"])
    # per_share 0.005 with a 1.00 minimum, on both fills
    assert np.allclose(trades["costs"], 2 * np.maximum(1.0, 0.005 * trades["qty"]))
    # next_open fills with 1 bp slippage against us, checked on the raw bars
    opens = spy["open"].reindex(trades["entry_time"]).to_numpy()
    sign = np.where(trades["side"] == "long", 1.0, -1.0)
    assert np.allclose(trades["entry_price"], opens * (1 + sign * 1e-4), rtol=0, atol=1e-6)
    fills = pd.read_csv(run / "fills.csv", parse_dates=["time"])
    for t in trades.itertuples():
        assert ((fills["time"] == t.entry_time) & np.isclose(fills["price"], t.entry_price)).any()
        assert ((fills["time"] == t.exit_time) & np.isclose(fills["price"], t.exit_price)).any()
    orders = pd.read_csv(run / "orders.csv")
    assert len(orders) >= 2 * len(trades) and set(orders["status"]) <= {"filled", "canceled", "rejected", "new",
                                                                         "accepted", "expired"}


def test_start_end_symbols_and_out(cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = cli("backtest", MULTI, "--start", "2024-03-01", "--end", "2024-03-05", "--symbols", "QQQ", "--out", out,
              "--quiet", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    run = only_run_dir(out, "two_symbols")
    assert res.stdout.strip() == str(run)
    assert not (tmp_path / "runs").exists()  # nothing outside --out
    equity = pd.read_parquet(run / "equity.parquet")["equity"]
    qqq = bars("QQQ")
    want = qqq.loc["2024-03-01":"2024-03-05"].index  # a bare end date includes that day
    assert len(equity) == len(want) > 0 and (equity.index == want).all()
    trades = pd.read_csv(run / "trades.csv")
    assert set(trades["symbol"]) == {"QQQ"} and set(trades["strategy_id"]) == {"ema_crossover", "bollinger_bands"}
    # intraday: flat at every close, so the account's gain is exactly the sum of closed trades
    assert float(equity.iloc[-1]) - 100_000 == pytest.approx(trades["pnl"].sum(), abs=1e-6)
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["data"]["specs"] == ["QQQ_5m"]
    assert (resolved["data"]["start"], resolved["data"]["end"]) == ("2024-03-01", "2024-03-05")


def test_validate_prints_ok_and_writes_nothing(cli, tmp_path: Path) -> None:
    res = cli("validate", GRID, cwd=tmp_path, module=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"{GRID}: ok (1 strategies, 6 combinations, data: SPY_5m)"
    assert list(tmp_path.iterdir()) == []


def _admf_script() -> list[str]:
    script = Path(sys.executable).parent / "admf"
    if script.exists():
        return [str(script)]
    found = shutil.which("admf")
    return [found] if found else [sys.executable, "-m", "admf.cli.main"]


def test_console_script_lists_the_strategies_and_documents_inclusive_ranges(cli, tmp_path: Path) -> None:
    res = cli("strategies", cwd=tmp_path, program=_admf_script())
    assert res.returncode == 0, res.stderr
    listed = re.findall(r"^│ (\w+)\s", res.stdout, flags=re.M)
    assert set(BUILTINS) <= set(listed), sorted(set(BUILTINS) - set(listed))
    assert len(BUILTINS) == 14
    helped = cli("--help", program=_admf_script())
    assert helped.returncode == 0 and "inclusive of b" in helped.stdout


def test_legacy_backtest_flag_runs(cli, tmp_path: Path) -> None:
    res = cli("--config", BOLLINGER, "-bt", "--bars", 300, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    run = only_run_dir(tmp_path / "runs", "bollinger")
    assert json.loads((run / "metrics.json").read_text())["bars"] == 300


def test_legacy_optimize_runs_the_grid(cli, tmp_path: Path) -> None:
    res = cli("--config", GRID, "--optimize", "--bars", 400, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    run = only_run_dir(tmp_path / "runs", "sma_grid")
    assert len(pd.read_parquet(run / "results.parquet")) == 6
    assert "6 combinations" in res.stdout


def test_legacy_optimize_without_a_grid_says_so(cli, tmp_path: Path) -> None:
    res = cli("--config", BOLLINGER, "-opt", "--bars", 300, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "--optimize" in res.stderr and "single backtest" in res.stderr
    assert (only_run_dir(tmp_path / "runs", "bollinger") / "metrics.json").is_file()


def test_legacy_alpaca_on_a_sync_config_warns_and_backtests(cli, tmp_path: Path) -> None:
    res = cli("--config", BOLLINGER, "-a", "--bars", 300, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "--alpaca" in res.stderr and "async" in res.stderr and "simulated broker" in res.stderr
    assert (only_run_dir(tmp_path / "runs", "bollinger") / "trades.csv").is_file()


def test_legacy_alpaca_without_credentials_names_the_variable(cli, tmp_path: Path) -> None:
    cfg = tmp_path / "live.yaml"
    cfg.write_text(BOLLINGER.read_text().replace("execution_mode: sync", "execution_mode: async")
                   .replace("data: SPY_5m", f"data_dir: {DATA}\ndata: SPY_5m"))
    res = cli("--config", cfg, "--alpaca", cwd=tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    assert f"{cfg}: live_trading.api_key: environment variable ALPACA_API_KEY is not set" in res.stderr


@pytest.mark.parametrize("flags", [["-a"], ["--bars", "5"]])
def test_legacy_flags_with_a_command_are_an_error_not_ignored(flags: list[str], cli, tmp_path: Path) -> None:
    res = cli(*flags, "backtest", BOLLINGER, "--out", tmp_path / "out", cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "legacy options go without a command" in res.stderr
    assert not (tmp_path / "out").exists()


def test_grid_prints_a_ranked_table_and_writes_one_row_per_combination(cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = cli("backtest", GRID, "--bars", 1500, "--out", out, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    run = only_run_dir(out, "sma_grid")
    grid = pd.read_parquet(run / "results.parquet").sort_values("combination").reset_index(drop=True)
    labels = {f"fast={f},slow={s}" for f in (5, 10, 15) for s in (30, 60)}
    assert len(grid) == 6 and set(grid["label"]) == labels and (grid["bars"] == 1500).all()
    # the printed table is ranked by Sharpe, best first, with a column per parameter
    ranked = grid.sort_values("sharpe", ascending=False)
    positions = [res.stdout.index(f"│ {i} │ {f:<4} │ {s:<4} │") for i, (f, s) in
                 enumerate(zip(ranked["fast"], ranked["slow"], strict=True), 1)]
    assert positions == sorted(positions), res.stdout
    assert str(run / "results.parquet") in res.stdout.replace("\n", "")
    # the top combinations are kept in full, best first
    for rank, label in enumerate(ranked["label"], 1):
        top = run / "top" / f"{rank:03d}"
        assert (top / "label.txt").read_text().strip() == label
        m = json.loads((top / "metrics.json").read_text())
        assert m["trade_count"] == len(pd.read_csv(top / "trades.csv")) == ranked["trade_count"].iloc[rank - 1]
    assert (run / "top" / "001" / "report.html").is_file()

    # each row is what a plain run of that one combination gives
    import admf

    one = yaml.safe_load(GRID.read_text())
    one["strategy"][0]["sma_crossover"] = {"fast": 10, "slow": 60}
    one["data_dir"] = str(DATA)
    single = admf.backtest(one, bars=1500)
    row = grid.set_index("label").loc["fast=10,slow=60"]
    assert row["total_return"] == pytest.approx(single.metrics["total_return"], abs=1e-12)
    assert row["trade_count"] == len(single.trades)


USER_STRATEGY = '''
from admf.strategies.base import Strategy
from admf.strategies.params import Param
from admf.strategies.registry import register


@register("close_above_open_cli", min_move=Param(float, 0.0, 0.0, 1.0))
class CloseAboveOpen(Strategy):
    """Long after a bar that closes above its open, flat otherwise."""

    def on_bar(self, ts, o, h, l, c, v):
        self.signal = 1 if c > o * (1.0 + self.min_move) else 0
        return self.signal
'''


def test_user_strategy_file_is_registered_and_runs(cli, tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "my_strats.py").write_text(USER_STRATEGY)
    (proj / "cfg.yaml").write_text(textwrap.dedent(f"""
        name: user
        data_dir: {DATA}
        data: SPY_5m
        strategy_files: my_strats.py
        strategy:
          - close_above_open_cli: {{min_move: 0.0}}
        """))
    n = 80
    # run from another folder: the file is found beside the config
    res = cli("backtest", proj / "cfg.yaml", "--bars", n, "--out", tmp_path / "out", "--quiet", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    trades = pd.read_csv(Path(res.stdout.strip()) / "trades.csv")

    # the same rule on the raw bars: the signal of bar i fills at the open of bar i + 1
    spy = bars("SPY").iloc[:n]
    sig = (spy["close"] > spy["open"]).astype(int).to_numpy()
    prev = np.concatenate([[0], sig[:-1]])
    entries = [i + 1 for i in np.flatnonzero((sig == 1) & (prev == 0)) if i + 1 < n]
    exits = [i + 1 for i in np.flatnonzero((sig == 0) & (prev == 1)) if i + 1 < n]
    closed = list(zip(entries, exits, strict=False))[: len(exits)]
    assert len(closed) > 5
    assert trades[["entry_bar", "exit_bar"]].to_numpy().tolist() == [list(p) for p in closed]
    opens = spy["open"].to_numpy()
    assert np.allclose(trades["entry_price"], opens[[e for e, _ in closed]])
    assert np.allclose(trades["exit_price"], opens[[x for _, x in closed]])
    assert set(trades["side"]) == {"long"} and (trades["qty"] == 100).all()
