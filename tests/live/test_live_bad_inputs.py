"""Bad live inputs end `admf live` with one clear line and exit code 2: no traceback, no order at
the broker, never the secret. Each case runs the real CLI in a subprocess against the emulator."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from admf.emulator.runner import Emulator
from admf.emulator.testing import TEST_KEY, TEST_SECRET, start_emulator

REPO = Path(__file__).resolve().parents[2]
WRONG_SECRET = "SK-wrong-secret-never-printed-4242"

CONFIG = """\
name: badinput
data: SPY_1m
data_dir: {data_dir}
strategy:
  - sma_crossover: {{fast: 3, slow: 8}}
    sizing: {{type: fixed_shares, shares: 1}}
execution: {{broker: alpaca, execution_mode: async}}
live_trading:
  api_key: ${{ALPACA_API_KEY}}
  secret_key: ${{ALPACA_API_SECRET}}
  paper_trading: true
  warmup_bars: {warmup}
output: {{dir: {out}}}
"""


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    e = start_emulator(symbols=["SPY"])
    yield e
    e.stop()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(tmp: Path, emu: Emulator, *flags: str, key: str = TEST_KEY, secret: str = TEST_SECRET,
         journal: Path | None = None, warmup: int = 0) -> subprocess.CompletedProcess[str]:
    cfg = tmp / "live.yaml"
    cfg.write_text(CONFIG.format(data_dir=tmp, out=tmp / "runs", warmup=warmup))
    urls = {"--base-url": emu.trading_url, "--data-url": emu.data_url, "--stream-url": emu.stream_url,
            "--data-stream-url": emu.data_stream_url("iex")}
    given = dict(zip(flags[::2], flags[1::2], strict=True))
    args = [a for k, v in {**urls, **given}.items() for a in (k, v)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA", "APCA"))}
    env.update(ALPACA_API_KEY=key, ALPACA_API_SECRET=secret, PYTHONPATH=str(REPO / "src"), COLUMNS="300")
    return subprocess.run(
        [sys.executable, "-m", "admf.cli.main", "live", str(cfg), "--journal", str(journal or tmp / "j.sqlite"),
         "--max-bars", "1", "--duration", "5", *args],
        cwd=tmp, env=env, capture_output=True, text=True, timeout=60)


def _orders(emu: Emulator) -> int:
    return emu.call(lambda srv: len(srv.broker.orders))


def _check(res: subprocess.CompletedProcess[str], emu: Emulator, *words: str, secret: str = TEST_SECRET) -> str:
    out = res.stdout + res.stderr
    assert res.returncode == 2, out
    assert "Traceback" not in out
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr  # one line, nothing else on stderr
    line = lines[0]
    for w in words:
        assert w in line, line
    assert secret not in out
    assert _orders(emu) == 0
    return line


def test_wrong_secret_names_the_key_variables_and_never_the_secret(tmp_path, emu):
    res = _run(tmp_path, emu, secret=WRONG_SECRET)
    _check(res, emu, "Alpaca refused the API key (HTTP 401)", "ALPACA_API_KEY/ALPACA_API_SECRET", "paper_trading",
           secret=WRONG_SECRET)


def test_an_empty_key_given_to_the_adapter_directly_is_a_user_error():
    from admf.adapters.alpaca.errors import EmptyKey
    from admf.adapters.alpaca.rest import AlpacaRest
    from admf.core.errors import UserError

    with pytest.raises(EmptyKey) as info:
        AlpacaRest(" ", TEST_SECRET)
    assert isinstance(info.value, UserError) and "key id is empty" in str(info.value)
    assert TEST_SECRET not in str(info.value)


def test_empty_key(tmp_path, emu):
    res = _run(tmp_path, emu, key="")
    _check(res, emu, "live_trading.api_key", "empty", "ALPACA_API_KEY", "APCA_API_KEY_ID")


def test_broker_url_on_a_closed_port(tmp_path, emu):
    url = f"http://127.0.0.1:{_closed_port()}"
    res = _run(tmp_path, emu, "--base-url", url)
    _check(res, emu, f"cannot reach the broker at {url}: connection refused", "--base-url")


def test_market_data_url_on_a_closed_port_fails_the_warm_up(tmp_path, emu):
    url = f"http://127.0.0.1:{_closed_port()}"
    res = _run(tmp_path, emu, "--data-url", url, warmup=5)
    _check(res, emu, f"cannot reach the market data API at {url}: connection refused", "--data-url")


def test_broker_url_without_scheme(tmp_path, emu):
    url = emu.trading_url.removeprefix("http://")
    res = _run(tmp_path, emu, "--base-url", url)
    _check(res, emu, f"the broker URL '{url}' has no scheme", "http://", "--base-url")


def test_https_against_an_http_server(tmp_path, emu):
    url = emu.trading_url.replace("http://", "https://")
    res = _run(tmp_path, emu, "--base-url", url)
    _check(res, emu, f"cannot reach the broker at {url}: TLS handshake failed", "http://", "--base-url")


def test_trade_stream_url_that_is_not_a_websocket(tmp_path, emu):
    url = emu.stream_url.replace("/stream", "/v2/account")
    res = _run(tmp_path, emu, "--stream-url", url)
    _check(res, emu, f"the trade stream URL {url} does not accept a websocket", "--stream-url")


def test_unknown_data_feed(tmp_path, emu):
    url = emu.data_stream_url("iex").replace("/v2/iex", "/v2/nofeed")
    res = _run(tmp_path, emu, "--data-stream-url", url)
    _check(res, emu, f"the market data stream URL {url} does not accept a websocket", "--data-stream-url",
           "live_trading.feed")


def test_data_stream_url_on_a_closed_port_fails_at_start(tmp_path, emu):
    url = f"ws://127.0.0.1:{_closed_port()}/v2/iex"
    res = _run(tmp_path, emu, "--data-stream-url", url)
    _check(res, emu, f"cannot reach the market data stream at {url}: connection refused", "--data-stream-url")


def test_journal_that_is_not_sqlite(tmp_path, emu):
    bad = tmp_path / "notes.txt"
    bad.write_text("my trading notes\n")
    res = _run(tmp_path, emu, journal=bad)
    _check(res, emu, f"journal {bad} is not an SQLite journal", "--journal")
    assert bad.read_text() == "my trading notes\n"  # untouched


def test_journal_that_is_a_folder(tmp_path, emu):
    folder = tmp_path / "journals"
    folder.mkdir()
    res = _run(tmp_path, emu, journal=folder)
    _check(res, emu, f"journal {folder} is a folder", "--journal")
    assert list(folder.iterdir()) == []
