"""The async boundary: one asyncio loop on a daemon thread, driven by the sync core.

The main thread calls submit / cancel / replace / cancel_all; each call schedules a coroutine
on the loop (call_soon_threadsafe) and returns at once. The broker and any other live service
(market data) run on that loop and put events on the Inbox; the main thread applies them.

Nothing here calls asyncio.run or touches the caller's loop, so it works from a Jupyter cell.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, Protocol, TypeVar, runtime_checkable

from admf.core.errors import BrokerError
from admf.core.events import OrderRequest
from admf.execution.inbox import CommandFailed, ConnectionState, Inbox

__all__ = ["AsyncBroker", "AsyncExecutionEngine", "Emit", "LiveService"]

T = TypeVar("T")
Emit = Callable[[Any], None]


@runtime_checkable
class LiveService(Protocol):
    """Anything that runs on the engine's loop and reports through `emit` (called on the loop)."""

    async def start(self, emit: Emit) -> None:
        """Connect and start background tasks; return once ready (raise on fatal errors)."""

    async def close(self) -> None:
        """Stop every task this service started and release its connections."""


@runtime_checkable
class AsyncBroker(LiveService, Protocol):
    """A broker adapter. Order events go to `emit` as OrderUpdate / Fill / CommandFailed."""

    async def submit(self, req: OrderRequest) -> None: ...

    async def cancel(self, client_order_id: str) -> None: ...

    async def replace(
        self,
        client_order_id: str,
        qty: float | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
    ) -> None: ...

    async def cancel_all(self) -> None: ...

    def outcome_unknown(self, exc: BaseException) -> bool:
        """True when a command that raised `exc` may still have been carried out by the broker
        (no answer, a timeout after sending): the order manager then waits for the adapter's
        lookup instead of taking the command as refused."""
        ...


def _new_loop(use_uvloop: bool) -> asyncio.AbstractEventLoop:
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class AsyncExecutionEngine:
    """Owns the live loop thread; forwards commands to `broker`, events land on `inbox`.

    `services` are extra LiveServices (e.g. the market data stream) started after the broker
    and closed before it, on the same loop.
    """

    def __init__(
        self,
        broker: AsyncBroker,
        inbox: Inbox | None = None,
        *,
        services: Iterable[LiveService] = (),
        use_uvloop: bool = True,
        start_timeout: float = 30.0,
        stop_timeout: float = 15.0,
        name: str = "admf-live",
    ) -> None:
        self.broker = broker
        self.inbox = inbox if inbox is not None else Inbox()
        self.services = list(services)
        self._use_uvloop = use_uvloop
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._running = False
        self._started: list[LiveService] = []
        self.leaked_tasks: list[str] = []

    # -- lifecycle (main thread) -------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("engine not started")
        return self._loop

    def start(self) -> None:
        """Start the loop thread, then the broker and services; returns once they are ready.

        Raises what the broker raised on start (e.g. an AuthError), after cleaning up.
        """
        if self._running:
            raise RuntimeError("engine already started")
        loop = _new_loop(self._use_uvloop)
        ready = threading.Event()
        self._loop = loop
        self._thread = threading.Thread(target=self._run_loop, args=(loop, ready), name=self._name, daemon=True)
        self._thread.start()
        ready.wait()
        fut = asyncio.run_coroutine_threadsafe(self._startup(), loop)
        try:
            fut.result(self._start_timeout)
        except BaseException as exc:
            fut.cancel()
            self._halt_loop()
            if isinstance(exc, concurrent.futures.TimeoutError):
                raise BrokerError(f"live engine did not start within {self._start_timeout:g}s") from None
            raise
        self._running = True

    def stop(self, cancel_open_orders: bool = False) -> None:
        """Optionally cancel every open order, wait for in-flight commands, close services and
        the broker (which flushes its journal), then end the loop thread. Idempotent."""
        loop = self._loop
        if loop is None:
            return
        self._running = False
        if loop.is_running():
            fut = asyncio.run_coroutine_threadsafe(self._shutdown(cancel_open_orders), loop)
            with contextlib.suppress(concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
                fut.result(self._stop_timeout)
        self._halt_loop()

    def __enter__(self) -> AsyncExecutionEngine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- commands (main thread, never block) -------------------------------------------------

    def submit(self, req: OrderRequest) -> None:
        self._command("submit", req.client_order_id, self.broker.submit, req)

    def cancel(self, client_order_id: str) -> None:
        self._command("cancel", client_order_id, self.broker.cancel, client_order_id)

    def replace(
        self,
        client_order_id: str,
        qty: float | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
    ) -> None:
        self._command("replace", client_order_id, self.broker.replace, client_order_id, qty, limit_price, stop_price)

    def cancel_all(self) -> None:
        self._command("cancel_all", "", self.broker.cancel_all)

    def call(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule any coroutine on the loop (e.g. a REST query); returns a concurrent Future."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30.0) -> T:
        """Run a coroutine on the loop and wait for its result (blocks the calling thread)."""
        return self.call(coro).result(timeout)

    def _command(self, name: str, cid: str, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        loop = self._loop
        if not self._running or loop is None:
            raise RuntimeError(f"cannot {name}: live engine is not running")
        loop.call_soon_threadsafe(self._spawn, name, cid, fn, args)

    # -- loop side ---------------------------------------------------------------------------

    def _run_loop(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            try:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                # Anything still running here was not stopped by its owner: a leak, recorded for tests.
                self.leaked_tasks = [t.get_name() for t in pending]
                for t in pending:
                    t.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    def _halt_loop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.stop)
        if thread is not None and thread is not threading.current_thread():
            thread.join(self._stop_timeout)
        self._loop = None
        self._thread = None

    def _spawn(self, name: str, cid: str, fn: Callable[..., Awaitable[None]], args: tuple) -> None:
        task = asyncio.ensure_future(fn(*args))
        task.set_name(f"admf-{name}")
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._command_done(t, name, cid))

    def _command_done(self, task: asyncio.Task[Any], name: str, cid: str) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            unknown = self.broker.outcome_unknown(exc)
            self.inbox.put(CommandFailed(name, cid, type(exc).__name__, str(exc), time.time_ns(), unknown))

    async def _startup(self) -> None:
        put = self.inbox.put
        try:
            await self.broker.start(put)
            self._started.append(self.broker)
            for svc in self.services:
                await svc.start(put)
                self._started.append(svc)
        except BaseException:
            await self._close_started()
            raise
        put(ConnectionState("engine", "connected", time.time_ns()))

    async def _shutdown(self, cancel_open_orders: bool) -> None:
        if cancel_open_orders:
            # submits still queued (e.g. behind the rate limiter) are dropped, not sent after the
            # cancel-all; one already on the wire is found and cancelled by the cancel-all, which
            # also does what the single cancels still waiting for the rate limit were to do
            queued = [t for t in self._tasks if t.get_name() in ("admf-submit", "admf-cancel")]
            for t in queued:
                t.cancel()
            if queued:
                await asyncio.wait(queued, timeout=1.0)
        if cancel_open_orders and self.broker in self._started:
            # bounded: the cancel-all itself goes first (urgent), but what the adapter checks after
            # it may wait for the broker's rate limit; the stream still reports until the close,
            # and a restart reconciles
            bound = self._stop_timeout / 3
            try:
                await asyncio.wait_for(self.broker.cancel_all(), bound)
            except TimeoutError:
                self.inbox.put(CommandFailed("cancel_all", "", "TimeoutError", f"the broker's answers after the "
                                             f"cancel-all did not all come within {bound:g}s", time.time_ns()))
            except Exception as exc:
                self.inbox.put(CommandFailed("cancel_all", "", type(exc).__name__, str(exc), time.time_ns()))
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self._stop_timeout / 2)
        for t in list(self._tasks):
            t.cancel()
        await self._close_started()
        self.inbox.put(ConnectionState("engine", "stopped", time.time_ns()))

    async def _close_started(self) -> None:
        # Services before the broker: market data first, order flow last.
        while self._started:
            svc = self._started.pop()
            try:
                await svc.close()
            except Exception as exc:
                self.inbox.put(CommandFailed("close", "", type(exc).__name__, str(exc), time.time_ns()))
