"""Wall-clock replay, gap skipping, admin replay control and the clock endpoint."""

from __future__ import annotations

import json
import time

import aiohttp
import requests

from admf.emulator.testing import TEST_KEY, TEST_SECRET
from admf.emulator.wire import NS


def test_speed_replays_bars_in_wall_time(emulator_factory) -> None:
    emu = emulator_factory(speed=1200.0)  # one-minute bars: 20 a second
    s0, t0 = emu.state(), time.monotonic()
    time.sleep(0.5)
    s1, t1 = emu.state(), time.monotonic()
    played = s1["bars_played"] - s0["bars_played"]
    expected = (t1 - t0) * 20
    assert 0.5 * expected <= played <= 1.5 * expected + 2
    replay_seconds = (s1["clock_ns"] - s0["clock_ns"]) / NS
    assert abs(replay_seconds - (t1 - t0) * 1200) < 0.3 * (t1 - t0) * 1200
    emu.set_speed(0)
    frozen = emu.state()["bars_played"]
    time.sleep(0.15)
    assert emu.state()["bars_played"] == frozen


def test_overnight_gap_is_skipped(emulator_factory) -> None:
    emu = emulator_factory(synthetic_days=2, start=389, speed=600.0)  # 10 bars a second
    time.sleep(0.6)
    st = emu.state()
    # Waiting out 17.5 hours at x600 would take 105 s; the replay jumped to the next session.
    assert st["bars_played"] > 391 and st["current_bar"].startswith("2024-01-03")
    assert st["is_open"]


async def test_streamed_bars_arrive_in_order_during_replay(emulator_factory) -> None:
    emu = emulator_factory(speed=3000.0)
    stamps = []
    async with aiohttp.ClientSession() as http, http.ws_connect(emu.data_stream_url("iex")) as ws:
        await ws.receive()
        await ws.send_str(json.dumps({"action": "auth", "key": TEST_KEY, "secret": TEST_SECRET}))
        await ws.receive()
        await ws.send_str(json.dumps({"action": "subscribe", "bars": ["SPY"]}))
        await ws.receive()
        while len(stamps) < 10:
            for m in json.loads((await ws.receive(timeout=5)).data):
                stamps.append(m["t"])
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    minutes = [int(t[14:16]) for t in stamps[:10]]
    assert all((b - a) % 60 == 1 for a, b in zip(minutes, minutes[1:], strict=False))


def test_admin_step_advance_and_clock(emulator, rest) -> None:
    r = rest(emulator)
    admin = emulator.admin_url
    out = requests.post(f"{admin}/step", json={"n": 3}, timeout=5).json()
    assert out["played"] == 3 and out["bars_played"] == 4
    assert r("GET", "/v2/clock").json()["timestamp"].startswith("2024-01-02T09:34:00")
    out = requests.post(f"{admin}/advance", json={"to": "2024-01-02T16:00:00Z"}, timeout=5).json()
    assert out["current_bar"].startswith("2024-01-02T15:59:00") and out["bars_played"] == 90
    clock = r("GET", "/v2/clock").json()
    assert clock["timestamp"].startswith("2024-01-02T11:00:00") and clock["is_open"] is True
    requests.post(f"{admin}/advance", json={"to": "2024-01-02T21:30:00Z"}, timeout=5)
    clock = r("GET", "/v2/clock").json()
    assert clock["is_open"] is False and clock["next_open"] == "2024-01-03T09:30:00-05:00"
    assert requests.post(f"{admin}/step", json={"n": "x"}, timeout=5).status_code == 400
    state = requests.get(f"{admin}/state", timeout=5).json()
    assert state["bars_played"] == 390 and state["prices"]["SPY"] == emulator.price("SPY")
