"""The Alpaca ExecutionClient (REST + trade-updates stream -> reports) and AlpacaBroker.

AlpacaClient only translates: an OrderRequest to POST /v2/orders, a cancel or replace to its
call, and Alpaca's orders, FILL activities and trade updates to the live core's OrderReport,
FillReport and StreamEvent. Its errors are the core's typed outcomes (see errors.py). An OCO
exit is the take-profit order with its stop-loss among its `legs` (in the submit's answer):
those become the report's legs, named by their type; the core binds and combines them.
Everything about an order's life (records, dedupe, journal, replace chains, reconciliation)
is the broker-neutral core's: execution.live_orders.LiveOrders.

AlpacaBroker is that core on an AlpacaClient: what the venue builds for a session.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from admf.adapters.alpaca import models as m
from admf.adapters.alpaca.rest import AlpacaRest
from admf.adapters.alpaca.settings import (
    DATA_URL,
    LIVE_URL,
    PAPER_URL,
    AlpacaSettings,
    Credentials,
    trade_stream_url,
)
from admf.adapters.alpaca.trade_stream import TradeStream
from admf.core.enums import ExitReason
from admf.core.events import OrderRequest
from admf.execution.async_engine import Emit
from admf.execution.journal import Journal
from admf.execution.live_orders import LiveOrders
from admf.execution.reports import (
    CANCEL_REJECTED,
    FILL,
    PARTIAL_FILL,
    REPLACE_REJECTED,
    UPDATE,
    FillReport,
    OrderReport,
    StreamEvent,
)

__all__ = ["AlpacaBroker", "AlpacaClient", "order_report"]

_KIND = {
    "fill": FILL,
    "partial_fill": PARTIAL_FILL,
    "order_cancel_rejected": CANCEL_REJECTED,
    "order_replace_rejected": REPLACE_REJECTED,
}


# an order's created_at comes with every event of it: parsed once (the frame path's cost)
_created_ns = functools.lru_cache(maxsize=4096)(m.parse_ts_ns)


def order_report(o: m.Order, updated_ns: int = 0, leg: str = "") -> OrderReport:
    """An Alpaca order as the core's OrderReport (legs: its child orders, named by their type);
    `updated_ns` when the caller knows it (a trade update's timestamp). Statuses the state
    machine does not model (held, pending_*) are None: still working."""
    return OrderReport(
        broker_id=o.id,
        wire_client_id=o.client_order_id,
        status=m.to_status(o.status),
        filled_qty=o.filled_qty,
        avg_price=o.filled_avg_price,
        created_ns=_created_ns(o.created_at) if o.created_at else 0,
        updated_ns=updated_ns or o.updated_ns(),
        replaced=o.status == m.REPLACED,
        replaced_by=o.replaced_by,
        legs=tuple(order_report(x, leg=_leg_name(x)) for x in o.legs) if o.legs else (),
        leg=leg,
    )


def _leg_name(o: m.Order) -> str:
    """An OCO's stop-loss is a stop (or stop-limit) order, its take-profit a limit."""
    return ExitReason.STOP_LOSS.value if o.type.startswith("stop") else ExitReason.TAKE_PROFIT.value


def _fill_report(a: m.FillActivity) -> FillReport:
    return FillReport(a.exec_id(), a.order_id, a.qty, a.price, m.parse_ts_ns(a.transaction_time),
                      m.to_side(a.side) if a.side else None)


class AlpacaClient:
    """Alpaca's REST API and trade stream behind the core's ExecutionClient protocol."""

    max_client_id = m.MAX_CLIENT_ORDER_ID

    def __init__(self, key_id: str, secret_key: str, *, trading_url: str, stream_url: str, data_url: str,
                 settings: AlpacaSettings) -> None:
        self.settings = settings
        self.rest = AlpacaRest(key_id, secret_key, trading_url=trading_url, data_url=data_url, settings=settings)
        self.stream = TradeStream(stream_url, Credentials(key_id, secret_key), self._on_trade_update,
                                  on_connected=self._on_stream_connected, settings=settings)
        self._on_event: Callable[[StreamEvent], None] | None = None
        self._on_connected: Callable[[], Awaitable[None]] | None = None

    def __repr__(self) -> str:
        return f"AlpacaClient({self.rest!r})"

    # -- connections -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.stream.connected

    async def open(self) -> None:
        await self.rest.open()
        try:
            await self.rest.get_account()  # the keys and the URL, checked before anything else
        except BaseException:
            await self.rest.close()
            raise

    async def start_stream(self, on_event: Callable[[StreamEvent], None],
                           on_connected: Callable[[], Awaitable[None]], on_state: Emit) -> None:
        self._on_event = on_event
        self._on_connected = on_connected
        self.stream._on_state = on_state
        await self.stream.start(wait=True)

    def expect_updates(self, timeout: float | None) -> None:
        self.stream.expect_updates(timeout)

    async def close(self) -> None:
        await self.stream.close()
        await self.rest.close()

    def stats(self) -> dict[str, int]:
        return {
            "stream_connects": self.stream.connects,
            "stream_disconnects": self.stream.disconnects,
            "rest_calls": self.rest.calls,
            "rest_retries": self.rest.retries,
            "rate_limited": self.rest.rate_limited,
        }

    # -- commands ----------------------------------------------------------------------------

    def check(self, req: OrderRequest) -> str | None:
        return m.check_request(req)

    def never_sent(self, wire_cid: str) -> bool:
        return self.rest.never_sent(wire_cid)

    async def submit(self, req: OrderRequest, wire_cid: str, not_after: float | None) -> OrderReport:
        return order_report(await self.rest.submit_order(m.order_body(req, wire_cid), not_after=not_after))

    async def cancel(self, broker_id: str) -> None:
        await self.rest.cancel_order(broker_id)  # CANCEL priority: ahead of new orders

    async def replace(self, broker_id: str, wire_cid: str, qty: float | None, limit_price: float | None,
                      stop_price: float | None) -> OrderReport:
        o = await self.rest.replace_order(broker_id, qty=qty, limit_price=limit_price, stop_price=stop_price,
                                          client_order_id=wire_cid)
        return order_report(o)

    async def cancel_all(self) -> None:
        await self.rest.cancel_all_orders()

    # -- queries -----------------------------------------------------------------------------

    async def get_order(self, broker_id: str) -> OrderReport | None:
        o = await self.rest.get_order(broker_id)
        return None if o is None else order_report(o)

    async def get_order_by_client_id(self, wire_cid: str) -> OrderReport | None:
        o = await self.rest.get_order_by_client_order_id(wire_cid)
        return None if o is None else order_report(o)

    async def list_orders(self, status: str, *, after_ns: int | None = None, limit: int = 500,
                          direction: str = "asc") -> list[OrderReport]:
        orders = await self.rest.list_orders(status, after=after_ns, limit=limit, direction=direction)
        return [order_report(o) for o in orders]

    async def fill_reports(self, after_ns: int | None) -> list[FillReport]:
        return [_fill_report(a) for a in await self.rest.get_fill_activities(after=after_ns)]

    # -- the trade stream --------------------------------------------------------------------

    def _on_trade_update(self, tu: m.TradeUpdate) -> None:
        if self._on_event is None:
            return
        o = tu.order
        ts = m.parse_ts_ns(tu.timestamp) if tu.timestamp else o.updated_ns()
        report = order_report(o, ts)
        kind = _KIND.get(tu.event, UPDATE)
        fill = None
        if kind in (FILL, PARTIAL_FILL) and tu.qty is not None and tu.price is not None:
            exec_id = tu.execution_id or f"{o.id}:{o.filled_qty:g}"
            fill = FillReport(exec_id, o.id, tu.qty, tu.price, ts, m.to_side(o.side) if o.side else None)
        self._on_event(StreamEvent(kind, report, ts, fill))

    async def _on_stream_connected(self) -> None:
        if self._on_connected is not None:
            await self._on_connected()


class AlpacaBroker(LiveOrders):
    """Alpaca (paper by default): the live core on an AlpacaClient."""

    def __init__(
        self,
        key_id: str,
        secret_key: str,
        *,
        paper: bool = True,
        trading_url: str | None = None,
        stream_url: str | None = None,
        data_url: str = DATA_URL,
        journal: Journal | None = None,
        settings: AlpacaSettings | None = None,
        stale_after: float = 30.0,
    ) -> None:
        self.settings = settings or AlpacaSettings()
        self.trading_url = (trading_url or (PAPER_URL if paper else LIVE_URL)).rstrip("/")
        self.stream_url = stream_url or trade_stream_url(self.trading_url)
        self.paper = paper
        self.alpaca = AlpacaClient(key_id, secret_key, trading_url=self.trading_url, stream_url=self.stream_url,
                                   data_url=data_url, settings=self.settings)
        super().__init__(self.alpaca, journal=journal, tuning=self.settings, stale_after=stale_after)

    def __repr__(self) -> str:
        return f"AlpacaBroker(trading_url={self.trading_url!r}, paper={self.paper})"

    @property
    def rest(self) -> AlpacaRest:
        return self.alpaca.rest

    @property
    def stream(self) -> TradeStream:
        return self.alpaca.stream

    # -- queries (for the main thread through engine.run) ------------------------------------

    async def account(self) -> m.Account:
        return await self.rest.get_account()

    async def positions(self) -> list[m.Position]:
        return await self.rest.get_positions()

    async def open_orders(self) -> list[m.Order]:
        return await self.rest.list_orders("open", limit=500)

