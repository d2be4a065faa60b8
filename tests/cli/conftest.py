"""Run the real command line in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    # no inherited broker credentials; a wide console so tables are not cut
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "ADMF_T_"))}
    env.update(COLUMNS="250", NO_COLOR="1", TERM="dumb", PYTHONPATH=str(REPO / "src"))
    env.update(extra or {})
    return env


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """cli(*args, cwd=REPO, env=None, module=False, program=None): run `python main.py ARGS`.

    module=True runs `python -m admf.cli.main`; program replaces the command (e.g. the `admf` script).
    """

    def run(*args: object, cwd: Path = REPO, env: dict[str, str] | None = None, module: bool = False,
            program: list[str] | None = None) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "admf.cli.main"] if module else [sys.executable, str(REPO / "main.py")]
        cmd = program or cmd
        return subprocess.run([*cmd, *map(str, args)], cwd=cwd, env=cli_env(env), capture_output=True, text=True,
                              timeout=120)

    return run


@pytest.fixture
def cli_environ() -> dict[str, str]:
    """The environment `cli` runs with, for tests that start processes themselves."""
    return cli_env()
