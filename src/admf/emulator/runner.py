"""Emulator: an EmulatorServer on its own event-loop thread, driven from synchronous code."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

from admf.emulator.config import EmulatorConfig
from admf.emulator.server import EmulatorServer
from admf.emulator.wire import parse_time

T = TypeVar("T")


class Emulator:
    """A running emulator. Start with `start()` or use as a context manager.

    Every method is thread-safe: it runs on the emulator's loop and waits for the result.
    """

    def __init__(self, config: EmulatorConfig | None = None, **options: Any) -> None:
        if config is None:
            config = EmulatorConfig.from_kwargs(**options)
        elif options:
            config = config.with_(**options)
        self.config = config
        self._server: EmulatorServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self, timeout: float = 30.0) -> Emulator:
        if self._thread is not None:
            return self
        ready: Future[None] = Future()
        # Build (and so validate) before the thread starts: bad input raises here, in the caller.
        self._server = EmulatorServer(self.config)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="admf-emulator", daemon=True)
        self._thread.start()
        try:
            ready.result(timeout)
        except BaseException:
            self._thread.join(5)
            self._thread = None
            raise
        return self

    def _run(self, ready: Future) -> None:
        loop = self._loop
        assert loop is not None and self._server is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._server.start())
        except BaseException as exc:  # report start failures (port in use, ...) to the caller
            ready.set_exception(exc)
            loop.close()
            return
        ready.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._server.stop())
            loop.close()

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # calls into the loop

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._loop is None or self._thread is None:
            raise RuntimeError("emulator is not running")

        async def run() -> T:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(60)

    def _await(self, coro: Any) -> Any:
        if self._loop is None:
            raise RuntimeError("emulator is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(120)

    @property
    def server(self) -> EmulatorServer:
        """The underlying server (touch it only on its loop; see call())."""
        assert self._server is not None
        return self._server

    def call(self, fn: Callable[[EmulatorServer], T]) -> T:
        """Run fn(server) on the emulator loop and return its result."""
        return self._call(fn, self.server)

    # urls

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def trading_url(self) -> str:
        """Trading REST base (alpaca-py: TradingClient(url_override=...)); paths are /v2/..."""
        return self.base_url

    @property
    def data_url(self) -> str:
        """Market-data REST base (alpaca-py: StockHistoricalDataClient(url_override=...))."""
        return self.base_url

    @property
    def stream_url(self) -> str:
        """Full trade-updates websocket URL (alpaca-py: TradingStream(url_override=...))."""
        return f"ws://{self.host}:{self.port}/stream"

    def data_stream_url(self, feed: str = "iex") -> str:
        """Full market-data websocket URL for iex, sip, test or delayed_sip."""
        return f"ws://{self.host}:{self.port}/v2/{feed}"

    @property
    def admin_url(self) -> str:
        return f"{self.base_url}/admin"

    @property
    def api_key(self) -> str:
        return self.config.api_key

    @property
    def secret_key(self) -> str:
        return self.config.secret_key

    def urls(self) -> dict[str, str]:
        return {
            "trading_url": self.trading_url,
            "data_url": self.data_url,
            "stream_url": self.stream_url,
            "data_stream_url": self.data_stream_url("iex"),
            "admin_url": self.admin_url,
        }

    # control

    def step(self, n: int = 1) -> int:
        """Play n bars; returns how many were played."""
        return self._call(self.server.step, n)

    def advance_to(self, when: str | int) -> int:
        """Play every bar ending at or before `when` (ISO time or ns) and set the clock there."""
        ns = parse_time(when) if isinstance(when, str) else int(when)
        return self._call(self.server.advance_to, ns)

    def set_speed(self, speed: float) -> None:
        self._call(self.server.set_speed, speed)

    def set_fault(self, name: str, **params: Any) -> dict[str, Any]:
        """Switch a fault on (see admf.emulator.faults for names and parameters)."""
        return self._call(self.server.set_fault, name, params)

    def clear_faults(self, name: str | None = None) -> None:
        self._call(self.server.clear_faults, name)

    def drop_sockets(self, target: str = "all") -> int:
        return self._call(self.server.drop_sockets, target)

    def restart(self, down: float = 0.0) -> None:
        """Stop and start on the same port, keeping state (reloaded from SQLite with a state file)."""
        self._await(self.server.restart(down))

    def reset(self) -> None:
        self._call(self.server.reset)

    def state(self) -> dict[str, Any]:
        return self._call(self.server.state)

    def now_ns(self) -> int:
        return self._call(lambda: self.server.clock.now())

    def price(self, symbol: str) -> float | None:
        return self._call(self.server.market.price, symbol)


@contextlib.contextmanager
def run_emulator(
    data: str | None = None,
    symbols: list[str] | tuple[str, ...] = ("SPY",),
    speed: float = 0.0,
    api_key: str | None = None,
    secret_key: str | None = None,
    state_file: str | None = None,
    **options: Any,
) -> Iterator[Emulator]:
    """Start an emulator on a free port (unless port= is given), yield it, stop it."""
    kwargs: dict[str, Any] = {"data": data, "symbols": tuple(symbols), "speed": speed, "state_file": state_file}
    if api_key is not None:
        kwargs["api_key"] = api_key
    if secret_key is not None:
        kwargs["secret_key"] = secret_key
    kwargs.update(options)
    emu = Emulator(EmulatorConfig.from_kwargs(**kwargs))
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()
