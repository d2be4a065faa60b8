"""Latency of the live boundary, printed as one JSON line.

Against the Alpaca emulator running in a subprocess (so its work does not share our GIL), with
AlpacaBroker + AsyncExecutionEngine (uvloop when installed) and a SQLite journal:

* submit_to_wire_us: from engine.submit() on the main thread to the POST body written to the
  socket (aiohttp on_request_chunk_sent) on the loop thread;
* frame_to_inbox_us: from a trade-update frame handed over by the websocket to its Fill on the
  inbox (decode, map, dedupe, journal write, put);
* submit_to_fill_us: the whole round trip seen by the main thread (includes the emulator).

Orders are market orders sent one at a time (no queueing), so these are uncontended latencies.

    python benchmarks/bench_live.py [--orders 500] [--no-journal]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import msgspec
import numpy as np

from admf.adapters.alpaca.broker import AlpacaBroker
from admf.adapters.alpaca.rest import AlpacaRest
from admf.adapters.alpaca.settings import AlpacaSettings
from admf.core.enums import Side
from admf.core.events import Fill, OrderRequest, OrderUpdate
from admf.execution.async_engine import AsyncExecutionEngine
from admf.execution.inbox import Inbox
from admf.execution.journal import Journal

KEY, SECRET = "PKBENCHLIVE", "SKBENCHLIVE"


def start_server() -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    src = Path(__file__).resolve().parents[1] / "src"
    env["PYTHONPATH"] = str(src) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [
        sys.executable,
        "-m",
        "admf.emulator",
        "--port",
        "0",
        "--step",
        "--start",
        "5",
        "--rate-limit",
        "0",
        "--api-key",
        KEY,
        "--secret-key",
        SECRET,
        "--cash",
        "1000000000",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "http://" not in line:
        proc.kill()
        raise SystemExit(f"emulator did not start: {line}{proc.stdout.read()}")
    return proc, next(w for w in line.split() if w.startswith("http://"))


def pct(xs: list[int], q: float) -> float:
    return round(float(np.percentile(np.asarray(xs, dtype=np.float64), q)) / 1000.0, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=500)
    ap.add_argument("--no-journal", action="store_true")
    args = ap.parse_args()

    proc, base = start_server()
    tmp = tempfile.TemporaryDirectory()
    journal = None if args.no_journal else Journal(Path(tmp.name) / "bench.sqlite")
    settings = AlpacaSettings(rate_per_min=1_000_000, poll_interval=1.0)
    try:
        wire: dict[str, int] = {}
        body_cid = msgspec.json.Decoder(dict)

        async def on_chunk(session, ctx, params) -> None:
            if params.method == "POST" and params.chunk:
                wire[body_cid.decode(params.chunk)["client_order_id"]] = time.perf_counter_ns()

        trace = aiohttp.TraceConfig()
        trace.on_request_chunk_sent.append(on_chunk)
        broker = AlpacaBroker(
            KEY,
            SECRET,
            trading_url=base,
            stream_url=base.replace("http", "ws") + "/stream",
            data_url=base,
            journal=journal,
            settings=settings,
        )
        broker.rest = AlpacaRest(KEY, SECRET, trading_url=base, data_url=base, settings=settings, trace_configs=[trace])

        frame_t = [0]
        on_frame = broker.stream._on_frame

        def timed_frame(data):
            frame_t[0] = time.perf_counter_ns()
            on_frame(data)

        broker.stream._on_frame = timed_frame  # type: ignore[method-assign]
        inbox = Inbox()
        q_put = inbox.put
        to_inbox: list[int] = []

        def timed_put(ev) -> None:
            if type(ev) is Fill:
                to_inbox.append(time.perf_counter_ns() - frame_t[0])
            q_put(ev)

        inbox.put = timed_put  # type: ignore[misc]
        engine = AsyncExecutionEngine(broker, inbox)
        engine.start()
        submit_t: dict[str, int] = {}
        round_trip: list[int] = []
        try:
            for i in range(args.orders + 20):
                cid = f"bench-{i}"
                req = OrderRequest(cid, "bench", "SPY", Side.BUY if i % 2 == 0 else Side.SELL, 1.0)
                t0 = time.perf_counter_ns()
                submit_t[cid] = t0
                engine.submit(req)
                while True:
                    ev = inbox.get(5.0)
                    if ev is None:
                        raise SystemExit(f"no fill for {cid}")
                    if isinstance(ev, OrderUpdate) and ev.client_order_id == cid and ev.status.is_terminal:
                        round_trip.append(time.perf_counter_ns() - t0)
                        break
        finally:
            engine.stop()
        warm = 20  # first orders warm up connections and caches
        cids = [f"bench-{i}" for i in range(warm, args.orders + warm)]
        to_wire = [wire[c] - submit_t[c] for c in cids]
        out = {
            "bench": "live_boundary",
            "python": platform.python_version(),
            "loop": _loop_name(),
            "journal": journal is not None,
            "orders": args.orders,
            "submit_to_wire_us": {"p50": pct(to_wire, 50), "p99": pct(to_wire, 99)},
            "frame_to_inbox_us": {"p50": pct(to_inbox[warm:], 50), "p99": pct(to_inbox[warm:], 99)},
            "submit_to_fill_us": {"p50": pct(round_trip[warm:], 50), "p99": pct(round_trip[warm:], 99)},
            "duplicate_fills": broker.stats["duplicate_fills"],
        }
        print(json.dumps(out))
    finally:
        if journal is not None:
            journal.close()
        tmp.cleanup()
        proc.terminate()
        proc.wait(10)


def _loop_name() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


if __name__ == "__main__":
    main()
