"""Pieces of benchmarks/bench_live.py: the emulator subprocess, a market-data blaster, a toggling
strategy and a live config.

The blaster is a minimal Alpaca data-stream server (welcome, auth, subscribe, then bar batches as
fast as the socket takes them, or paced at ?rate= messages per second). It runs in its own
process so producing frames does not share the measured process's GIL:

    python benchmarks/_live_bench_util.py blast      # prints "ws://127.0.0.1:PORT/v2/iex"
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

KEY, SECRET = "PKBENCHLIVE", "SKBENCHLIVE"
SRC = Path(__file__).resolve().parents[1] / "src"
NS = 1_000_000_000
# 2024-03-05 14:30 UTC = 09:30 New York: minutes from here on are inside regular hours.
T0_NS = 1_709_649_000 * NS


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _spawn(cmd: list[str], marker: str, cpu: int | None) -> tuple[subprocess.Popen, str]:
    pre = None if cpu is None else (lambda: os.sched_setaffinity(0, {cpu}))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(),
                            preexec_fn=pre)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if marker not in line:
        proc.kill()
        raise SystemExit(f"{cmd[1:3]} did not start: {line}{proc.stdout.read()}")
    return proc, next(w for w in line.split() if w.startswith(marker))


def start_emulator(cpu: int | None = None) -> tuple[subprocess.Popen, str]:
    """The Alpaca emulator in a subprocess (on `cpu` if given): manual replay, rate limit off, fills at once."""
    return _spawn([sys.executable, "-m", "admf.emulator", "--port", "0", "--step", "--start", "5",
                   "--rate-limit", "0", "--api-key", KEY, "--secret-key", SECRET, "--cash", "1000000000"],
                  "http://", cpu)


def start_blaster(cpu: int | None = None) -> tuple[subprocess.Popen, str]:
    return _spawn([sys.executable, str(Path(__file__).resolve()), "blast"], "ws://", cpu)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def pct_us(ns: list[int] | np.ndarray, q: float) -> float:
    """Percentile `q` of nanosecond samples, in microseconds."""
    return round(float(np.percentile(np.asarray(ns, dtype=np.float64), q)) / 1000.0, 1)


def summary_us(ns: list[int]) -> dict[str, float]:
    return {"p50": pct_us(ns, 50), "p99": pct_us(ns, 99), "max": pct_us(ns, 100), "n": len(ns)}


def register_toggle() -> None:
    """Strategy `bench_toggle`: long for `every` bars, flat for `every` bars, and so on."""
    from admf.strategies.base import Strategy
    from admf.strategies.params import Param
    from admf.strategies.registry import _REGISTRY, register

    if "bench_toggle" in _REGISTRY:
        return

    @register("bench_toggle", every=Param(int, 1, 1, doc="bars between signal changes"))
    class Toggle(Strategy):
        """Long / flat, switching every `every` bars (a signal change, so an order, each time)."""

        def setup(self, hub: Any) -> None:
            self.n = 0

        def on_bar(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> int:
            self.n += 1
            return 1 if ((self.n - 1) // self.every) % 2 == 0 else 0


def live_config(tmp: Path, symbols: list[str], every: int | None) -> Any:
    """One strategy for every symbol: bench_toggle(every), or (every None) an SMA crossover, which
    never trades on the blaster's flat prices but updates two features per bar."""
    from admf.config.loader import config_from_dict

    register_toggle()
    entry = {"bench_toggle": {"every": every}} if every else {"sma_crossover": {"fast": 5, "slow": 20}}
    raw = {
        "name": "bench-live", "data": [f"{s}_1m" for s in symbols], "data_dir": str(tmp),
        "strategy": [{**entry, "sizing": {"type": "fixed_shares", "shares": 1}}],
        "execution": {"broker": "alpaca", "execution_mode": "async"},
        "live_trading": {"api_key": KEY, "secret_key": SECRET, "warmup_bars": 0},
        "output": {"dir": str(tmp / "runs")},
    }
    return config_from_dict(raw, base_dir=str(tmp))


def bar_times(n: int) -> list[str]:
    return [time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0_NS // NS + 60 * i)) for i in range(n)]


# -- the blaster (subprocess) -------------------------------------------------------------------

async def _blast(request: Any) -> Any:
    from aiohttp import WSMsgType, web

    q = request.query
    minutes = int(q.get("minutes", "1000"))
    rate = float(q.get("rate", "0"))  # messages per second; 0 = as fast as the socket takes them
    ws = web.WebSocketResponse(max_msg_size=0)
    await ws.prepare(request)
    await ws.send_str('[{"T":"success","msg":"connected"}]')
    symbols: list[str] = []
    sender: asyncio.Task | None = None
    async for msg in ws:
        if msg.type is not WSMsgType.TEXT:
            continue
        if '"auth"' in msg.data:
            await ws.send_str('[{"T":"success","msg":"authenticated"}]')
        elif '"subscribe"' in msg.data and sender is None:
            import json

            symbols = json.loads(msg.data).get("bars", [])
            sub = {"T": "subscription", "trades": [], "quotes": [], "bars": symbols}
            await ws.send_str(json.dumps([sub]))
            sender = asyncio.get_running_loop().create_task(_send_bars(ws, symbols, minutes, rate))
    if sender is not None:
        sender.cancel()
    return ws


async def _send_bars(ws: Any, symbols: list[str], minutes: int, rate: float) -> None:
    # One frame per minute holding one bar per symbol, as Alpaca batches them.
    one = ('{"T":"b","S":"%s","o":500.12,"h":500.5,"l":499.87,"c":500.25,"v":1200,"t":"@T@",'
           '"n":37,"vw":500.2}')
    template = "[" + ",".join(one % s for s in symbols) + "]"
    times = bar_times(minutes)
    per = len(symbols)
    start = time.perf_counter()
    for i, t in enumerate(times):
        await ws.send_str(template.replace("@T@", t))
        if rate:
            due = start + (i + 1) * per / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)


def _serve_blaster() -> None:
    from aiohttp import web

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/v2/iex", _blast)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        print(f"blaster on ws://127.0.0.1:{port}/v2/iex", flush=True)
        await asyncio.Event().wait()

    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())


if __name__ == "__main__" and sys.argv[1:] == ["blast"]:
    _serve_blaster()
