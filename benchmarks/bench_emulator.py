"""Emulator throughput, printed as one JSON line (rate limit off, loopback, server in a subprocess).

* order round trips/s: POST /v2/orders over keep-alive aiohttp sessions until the matching `fill`
  event arrives on /stream (market orders, several in flight at once).
* data bar messages/s: bars received on a msgpack /v2/iex subscription to "*" while the bench
  steps the replay through POST /admin/step.

    python benchmarks/bench_emulator.py [--orders 5000] [--concurrency 16] [--symbols 20] [--days 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import msgpack

KEY, SECRET = "PKBENCH", "SKBENCH"
HEADERS = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}


def start_server(symbols: int, days: int) -> tuple[subprocess.Popen, str]:
    syms = ",".join(["SPY"] + [f"S{i:03d}" for i in range(symbols - 1)])
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    src = Path(__file__).resolve().parents[1] / "src"
    env["PYTHONPATH"] = str(src) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "admf.emulator", "--port", "0", "--step", "--start", "1", "--rate-limit", "0",
           "--api-key", KEY, "--secret-key", SECRET, "--cash", "1000000000", "--symbols", syms,
           "--synthetic-days", str(days)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "http://" not in line:
        proc.kill()
        raise SystemExit(f"emulator did not start: {line}{proc.stdout.read()}")
    base = line.split()[3]
    for _ in range(3):
        proc.stdout.readline()
    return proc, base


async def bench_orders(base: str, n: int, concurrency: int, tag: str = "b") -> dict:
    ws_url = base.replace("http://", "ws://") + "/stream"
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn, headers=HEADERS) as http:
        ws = await http.ws_connect(ws_url, compress=0, max_msg_size=0)
        await ws.send_str(json.dumps({"action": "authenticate", "data": {"key_id": KEY, "secret_key": SECRET}}))
        auth = json.loads((await ws.receive()).data)
        assert auth["data"]["status"] == "authorized", auth
        await ws.send_str(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
        await ws.receive()
        sent: dict[str, float] = {}
        latencies: list[float] = []
        done = asyncio.Event()

        async def reader() -> None:
            async for msg in ws:
                d = json.loads(msg.data)["data"]
                if d["event"] == "fill":
                    t0 = sent.pop(d["order"]["client_order_id"], None)
                    if t0 is not None:
                        latencies.append(time.perf_counter() - t0)
                        if len(latencies) == n:
                            done.set()
                            return

        counter = iter(range(n))

        async def worker() -> None:
            for i in counter:
                cid = f"{tag}{i}"
                body = {"symbol": "SPY", "qty": 1, "side": "buy", "type": "market", "time_in_force": "day",
                        "client_order_id": cid}
                sent[cid] = time.perf_counter()
                async with http.post(base + "/v2/orders", json=body) as r:
                    if r.status != 200:
                        raise SystemExit(f"order failed: {r.status} {await r.text()}")
                    await r.read()

        rt = asyncio.create_task(reader())
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        await asyncio.wait_for(done.wait(), 60)
        elapsed = time.perf_counter() - t0
        rt.cancel()
        await ws.close()
    latencies.sort()
    return {"orders": n, "order_round_trips_per_s": round(n / elapsed, 1),
            "order_latency_p50_ms": round(latencies[len(latencies) // 2] * 1000, 3),
            "order_latency_p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 3)}


async def bench_data(base: str, chunk: int) -> dict:
    ws_url = base.replace("http://", "ws://") + "/v2/iex"
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(ws_url, headers={"Content-Type": "application/msgpack"}, compress=0,
                                   max_msg_size=0)
        assert msgpack.unpackb((await ws.receive()).data)[0]["msg"] == "connected"
        await ws.send_bytes(msgpack.packb({"action": "auth", "key": KEY, "secret": SECRET}))
        assert msgpack.unpackb((await ws.receive()).data)[0]["msg"] == "authenticated"
        await ws.send_bytes(msgpack.packb({"action": "subscribe", "bars": ["*"]}))
        await ws.receive()
        state = await (await http.get(base + "/admin/state")).json()
        total_steps = state["bars_total"] - state["bars_played"]
        expected = total_steps * len(state["prices"])
        got = 0

        async def reader() -> None:
            nonlocal got
            async for msg in ws:
                for m in msgpack.unpackb(msg.data):
                    if m["T"] == "b":
                        got += 1
                if got >= expected:
                    return

        rt = asyncio.create_task(reader())
        t0 = time.perf_counter()
        left = total_steps
        while left > 0:
            n = min(chunk, left)
            async with http.post(base + "/admin/step", json={"n": n}) as r:
                left -= (await r.json())["played"]
        await asyncio.wait_for(rt, 120)
        elapsed = time.perf_counter() - t0
        await ws.close()
    return {"bar_messages": got, "data_bar_messages_per_s": round(got / elapsed, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--symbols", type=int, default=20)
    ap.add_argument("--days", type=int, default=20)
    ap.add_argument("--chunk", type=int, default=500, help="bars per /admin/step call")
    args = ap.parse_args()
    proc, base = start_server(args.symbols, args.days)
    try:
        asyncio.run(bench_orders(base, 300, args.concurrency, "warm"))
        orders = asyncio.run(bench_orders(base, args.orders, args.concurrency))
        data = asyncio.run(bench_data(base, args.chunk))
    finally:
        proc.terminate()
        proc.wait(10)
    out = {"bench": "emulator", **orders, **data, "concurrency": args.concurrency, "symbols": args.symbols + 1,
           "rate_limit": "off", "python": sys.version.split()[0]}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
