"""A sweep on a Ray cluster of a head and one worker node on loopback gives the local table."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from research_support import REPO, SAMPLE

from admf.research.sweep import sweep

pytest.importorskip("ray")

GRID = {"name": "rg", "data": "SPY_5m", "data_dir": str(SAMPLE),
        "strategy": [{"bollinger_bands": {"period": [10, 20, 30], "std_dev": [1.5, 2.0]},
                      "risk": {"stop_loss": 0.003}}]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray_cmd() -> str:
    ray = Path(sys.executable).with_name("ray")
    return str(ray) if ray.exists() else "ray"


@pytest.fixture
def cluster() -> Iterator[str]:
    """`ray start --block` for a head and a worker node, each in its own process group (stopped by pid)."""
    import shutil
    import tempfile

    temp = tempfile.mkdtemp(prefix="admf-ray-", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "RAY_AUTH_MODE": "disabled",
           "RAY_USAGE_STATS_ENABLED": "0"}
    procs: list[subprocess.Popen[bytes]] = []
    address = f"127.0.0.1:{port}"
    try:
        procs.append(subprocess.Popen(
            [_ray_cmd(), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
             "--num-cpus=1", "--include-dashboard=false", f"--temp-dir={temp}"],
            env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        else:
            pytest.fail("the Ray head did not start in 120 s")
        procs.append(subprocess.Popen(
            [_ray_cmd(), "start", "--block", f"--address={address}", "--node-ip-address=127.0.0.1", "--num-cpus=1"],
            env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        import ray

        ray.init(address=address, log_to_driver=False)
        deadline = time.monotonic() + 60
        while len([n for n in ray.nodes() if n["Alive"]]) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        ray.shutdown()
        yield address
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.timeout(300)
def test_ray_cluster_gives_the_local_table(cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    local = sweep(GRID, workers=1, out=tmp_path / "local", bars=3000, top=1)
    remote = sweep(GRID, ray=cluster, out=tmp_path / "ray", bars=3000, top=1)
    assert len(local.table) == 6
    pd.testing.assert_frame_equal(local.table, remote.table)
