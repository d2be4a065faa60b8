"""`admf emulator`: run the Alpaca emulator in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from typing import Any

from admf.core.errors import ConfigError
from admf.emulator.config import EmulatorConfig
from admf.emulator.faults import FaultError, Faults

DEFAULT_PORT = 8765


def _fault_spec(text: str) -> tuple[str, dict[str, Any]]:
    """"name" or "name:key=value,key=value" (values parsed as JSON when they can be)."""
    name, _, rest = text.partition(":")
    params: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"fault parameter {item!r} is not key=value")
        try:
            params[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            params[key.strip()] = value
    return name.strip(), params


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `admf emulator` (also used by `python -m admf.emulator`)."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = free)")
    parser.add_argument("--data", metavar="FILE", help="CSV or Parquet bars to replay (default: synthetic walk)")
    parser.add_argument("--symbols", default="SPY",
                        help="comma-separated tradable symbols (default SPY); a file without a symbol column "
                             "feeds the first, the rest get a synthetic walk")
    parser.add_argument("--speed", type=float, default=None,
                        help="replay speed as a multiple of wall time (default 1; 0 = manual stepping)")
    parser.add_argument("--step", action="store_true",
                        help="manual mode (speed 0): advance with POST /admin/step")
    parser.add_argument("--start", default="0",
                        help="bars already played at start, or an ISO time (New York if naive) to start at")
    parser.add_argument("--api-key", default=None,
                        help="accepted key id (default: $ALPACA_API_KEY or a fixed test key)")
    parser.add_argument("--secret-key", default=None,
                        help="accepted secret (default: $ALPACA_API_SECRET or a fixed test secret)")
    parser.add_argument("--state-file", default=None, help="SQLite file that keeps account and orders across restarts")
    parser.add_argument("--rate-limit", type=int, default=200, help="trading requests per minute (0 = off)")
    parser.add_argument("--cash", default="100000", help="starting cash (default 100000)")
    parser.add_argument("--multiplier", default="2", choices=("1", "2", "4"), help="account margin multiplier")
    parser.add_argument("--partial-fill-prob", type=float, default=0.0, help="chance a fill is split (0-1)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the synthetic walk and random faults")
    parser.add_argument("--synthetic-days", type=int, default=20, help="trading days of synthetic bars")
    parser.add_argument("--no-hours", action="store_true",
                        help="ignore market hours (fill at any time, no DAY expiry)")
    parser.add_argument("--fault", action="append", type=_fault_spec, default=[], metavar="NAME[:k=v,...]",
                        help="fault active from the start, e.g. drop_sockets:target=data,every=30 "
                             "(repeatable; see admf.emulator.faults)")


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    speed = 0.0 if args.step else (1.0 if args.speed is None else args.speed)
    start: int | str = int(args.start) if str(args.start).lstrip("-").isdigit() else args.start
    kwargs: dict[str, Any] = {
        "host": args.host, "port": args.port, "data": args.data, "symbols": args.symbols, "speed": speed,
        "start": start, "state_file": args.state_file, "rate_limit": args.rate_limit,
        "initial_cash": args.cash, "multiplier": args.multiplier, "partial_fill_prob": args.partial_fill_prob,
        "seed": args.seed, "synthetic_days": args.synthetic_days, "enforce_hours": not args.no_hours,
    }
    key = args.api_key or os.environ.get("ALPACA_API_KEY")
    secret = args.secret_key or os.environ.get("ALPACA_API_SECRET")
    if key:
        kwargs["api_key"] = key
    if secret:
        kwargs["secret_key"] = secret
    faults = {}
    checker = Faults()
    for name, params in args.fault:
        try:
            checker.normalize(name, params)
        except FaultError as e:
            raise ConfigError(str(e), field="--fault", value=name) from None
        faults[name] = params
    kwargs["faults"] = faults
    return EmulatorConfig.from_kwargs(**kwargs)


async def _serve(cfg: EmulatorConfig, out: Any) -> None:
    from admf.emulator.server import EmulatorServer

    server = EmulatorServer(cfg)
    await server.start()
    base = f"http://{server.host}:{server.port}"
    ws = f"ws://{server.host}:{server.port}"
    d = EmulatorConfig()
    builtin = (cfg.api_key, cfg.secret_key) == (d.api_key, d.secret_key)
    # The built-in pair is public test data; configured keys are secrets and never printed.
    keys = (f"api key / secret: the built-in test pair {cfg.api_key} / {cfg.secret_key}" if builtin
            else "api key / secret: as configured (not shown)")
    m = server.market
    print(f"admf emulator on {base}  (trading + data REST; admin at {base}/admin/state)", file=out)
    print(f"  trade updates {ws}/stream   market data {ws}/v2/iex | /v2/sip | /v2/test", file=out)
    print(f"  {keys}", file=out)
    print(f"  {len(m.times)} bars x {len(m.series)} symbols, replay "
          f"{'manual (POST /admin/step)' if cfg.speed == 0 else f'x{cfg.speed:g}'}; Ctrl-C stops", file=out)
    out.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def run(args: argparse.Namespace) -> int:
    """Blocking; returns the exit code. Bad options raise ConfigError/DataError (exit 2 in the CLI)."""
    cfg = config_from_args(args)
    try:
        asyncio.run(_serve(cfg, sys.stdout))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise ConfigError(f"cannot listen: {exc.strerror or exc}", field="--port", value=cfg.port) from None
    print("emulator stopped", file=sys.stdout)
    return 0


def main(argv: list[str] | None = None) -> int:
    from admf.core.errors import UserError

    parser = argparse.ArgumentParser(prog="python -m admf.emulator", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
