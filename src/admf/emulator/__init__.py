"""A loopback emulator of Alpaca's paper-trading API, for tests and offline demos.

One aiohttp app on one port serves trading REST v2 (/v2/account, /v2/orders, /v2/positions,
/v2/clock, /v2/calendar, /v2/assets, /v2/account/activities), the trade-updates websocket
(/stream), the market-data websockets (/v2/iex, /v2/sip, /v2/test with FAKEPACA), historical
bars (/v2/stocks/bars, /v2/stocks/{symbol}/bars) and admin endpoints (/admin/...). The protocol
follows shared/docs/alpaca-protocol.md; the replay clock is the emulator's clock.

Python API (stable):

    from admf.emulator import Emulator, EmulatorConfig, run_emulator

    with run_emulator(data=None, symbols=["SPY"], speed=0, api_key="k", secret_key="s",
                      state_file=None, **more_config) as emu:
        emu.trading_url, emu.data_url        # "http://127.0.0.1:PORT" (alpaca-py url_override)
        emu.stream_url                       # "ws://127.0.0.1:PORT/stream"
        emu.data_stream_url("iex")           # "ws://127.0.0.1:PORT/v2/iex" (sip, test too)
        emu.api_key, emu.secret_key, emu.port, emu.urls()
        emu.step(n=1)                        # play n bars: stream them, reprice, fill resting orders
        emu.advance_to("2024-01-02T15:00:00Z")
        emu.set_speed(60.0)                  # wall-clock replay; 0 = manual
        emu.set_fault("drop_sockets", target="data")      # see admf.emulator.faults
        emu.clear_faults()
        emu.restart(down=0.5)                # same port, state kept (reloaded from SQLite if state_file)
        emu.reset(); emu.state(); emu.price("SPY"); emu.now_ns()

    Emulator(EmulatorConfig(...)).start() / .stop() does the same without a context manager.
    EmulatorConfig documents every option (keys, data file, speed, start, account, rate limits,
    connection limits, partial fills, faults at start, state file).

    Async code can run `EmulatorServer(config)` on its own loop: `await server.start()`,
    `server.step(n)`, `await server.stop()`.

Pytest: `from admf.emulator.testing import emulator, emulator_factory` in a conftest gives the
`emulator` fixture (a fresh manual-mode emulator on a free port) and `emulator_factory(**config)`.

CLI: `admf.emulator.cli.add_arguments(parser)` and `run(args) -> int`; also `python -m admf.emulator`.
"""

from admf.emulator.config import EmulatorConfig
from admf.emulator.runner import Emulator, run_emulator
from admf.emulator.server import EmulatorServer

__all__ = ["Emulator", "EmulatorConfig", "EmulatorServer", "run_emulator"]
