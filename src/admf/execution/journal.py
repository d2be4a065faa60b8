"""SQLite (WAL) journal of a live session: order intents, broker ids, state transitions, fills.

Rules the broker adapters follow with it:
- an intent is written before the order is sent, a fill before it is put on the inbox;
- a fill's exec_id is unique, so record_fill() doubles as the dedupe check across every path
  (stream, poll, reconciliation) and across restarts;
- on restart, recover() gives the open intents, the known fills and the last event time; an
  intent without a broker id must be looked up by client_order_id before anything is resent.

Every write is its own transaction (autocommit, synchronous=NORMAL in WAL mode): it survives a
crash of the process, and costs tens of microseconds. The last event time is not written on the
hot path: recover() derives it from the fills (broker times) and what flush() saved. Transitions
do not move it, since some carry local times (an order rejected before it was sent).
One connection, guarded by a lock, so the journal can be opened on the main thread and written
from the async thread.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from pathlib import Path

import msgspec

from admf.core.enums import OrderStatus, OrderType, Side, TimeInForce
from admf.core.events import Fill, OrderRequest, OrderUpdate
from admf.execution.legs import UNNAMED_LEG

__all__ = ["Intent", "Journal", "Recovery"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS intents (
    client_order_id TEXT PRIMARY KEY,
    strategy_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    qty REAL NOT NULL,
    order_type TEXT NOT NULL,
    limit_price REAL,
    stop_price REAL,
    tif TEXT NOT NULL,
    req_ts INTEGER NOT NULL,
    reason TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    broker_order_id TEXT,
    status TEXT,
    filled_qty REAL NOT NULL DEFAULT 0,
    updated_ns INTEGER NOT NULL,
    order_class TEXT NOT NULL DEFAULT '',
    stop_loss REAL,
    bracket_stop REAL,
    bracket_target REAL
);
CREATE TABLE IF NOT EXISTS broker_ids (
    broker_order_id TEXT PRIMARY KEY,
    client_order_id TEXT NOT NULL,
    wire_client_order_id TEXT NOT NULL,
    leg TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS transitions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    client_order_id TEXT NOT NULL,
    status TEXT NOT NULL,
    ts INTEGER NOT NULL,
    broker_order_id TEXT NOT NULL,
    filled_qty REAL NOT NULL,
    filled_avg_price REAL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fills (
    exec_id TEXT PRIMARY KEY,
    client_order_id TEXT NOT NULL,
    strategy_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    qty REAL NOT NULL,
    price REAL NOT NULL,
    ts INTEGER NOT NULL,
    commission REAL NOT NULL,
    reason TEXT NOT NULL,
    source TEXT NOT NULL,
    recorded_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# columns added after the first journals were written: (table, column, declaration), added to an
# older file when it is opened (an OCO exit's order class and stop-loss, the broker ids of its legs,
# an entry's bracket)
_ADDED = (
    ("intents", "order_class", "TEXT NOT NULL DEFAULT ''"),
    ("intents", "stop_loss", "REAL"),
    ("intents", "bracket_stop", "REAL"),
    ("intents", "bracket_target", "REAL"),
    ("broker_ids", "leg", "TEXT NOT NULL DEFAULT ''"),
)

_TERMINAL = tuple(s.value for s in OrderStatus if s.is_terminal)


class Intent(msgspec.Struct, frozen=True):
    """An order as the session meant it, plus what the broker has said about it so far."""

    request: OrderRequest
    created_ns: int
    broker_order_id: str | None
    status: str | None
    filled_qty: float

    @property
    def client_order_id(self) -> str:
        return self.request.client_order_id

    @property
    def sent(self) -> bool:
        """True once a broker id is known (the broker has acknowledged the order)."""
        return self.broker_order_id is not None


class Recovery(msgspec.Struct, frozen=True):
    open_intents: list[Intent]
    fills: list[Fill]
    exec_ids: frozenset[str]
    last_event_ts: int


class Journal:
    """Append-mostly session journal in one SQLite file (WAL)."""

    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL", checkpoint_every: float = 1.0) -> None:
        self.path = Path(path)
        _check_journal_file(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        # Folding the WAL into the main file syncs the disk; done inline by whichever thread
        # commits, it stalled 1-2% of order and fill writes for 3-6 ms. A thread of its own does it.
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._db.executescript(_SCHEMA)
        _migrate(self._db)
        self._last_event_ts = self._load_last_event_ts()
        self._closed = False
        self._stop_ckpt = threading.Event()
        self._ckpt = threading.Thread(target=self._checkpoints, args=(checkpoint_every,), daemon=True,
                                      name="admf-journal-checkpoint")
        self._ckpt.start()

    def _checkpoints(self, every: float) -> None:
        db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        try:
            while not self._stop_ckpt.wait(every):
                with contextlib.suppress(sqlite3.Error):
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    # -- writes ------------------------------------------------------------------------------

    def record_intent(self, req: OrderRequest) -> bool:
        """Write an order intent before sending. False when the client_order_id is known already."""
        now = time.time_ns()
        stop, target = req.bracket if req.bracket is not None else (None, None)
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO intents (client_order_id, strategy_id, symbol, side, qty, order_type,"
                " limit_price, stop_price, tif, req_ts, reason, created_ns, updated_ns, order_class, stop_loss,"
                " bracket_stop, bracket_target) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    req.client_order_id,
                    req.strategy_id,
                    req.symbol,
                    req.side.value,
                    req.qty,
                    req.order_type.value,
                    req.limit_price,
                    req.stop_price,
                    req.tif.value,
                    req.ts,
                    req.reason,
                    now,
                    now,
                    req.order_class,
                    req.stop_loss,
                    stop,
                    target,
                ),
            )
            return cur.rowcount == 1

    def set_broker_id(
        self, client_order_id: str, broker_order_id: str, wire_client_order_id: str = "", leg: str = ""
    ) -> None:
        """Bind a broker order id (the first one, or a replacement's) to our client_order_id; with
        `leg`, the id of a leg of it (an OCO's stop-loss), which is not the order's own id."""
        with self._lock:
            self._db.execute("BEGIN")  # one commit for both rows (a commit is a WAL write)
            try:
                if not leg:
                    self._db.execute(
                        "UPDATE intents SET broker_order_id=?, updated_ns=? WHERE client_order_id=?",
                        (broker_order_id, time.time_ns(), client_order_id),
                    )
                self._db.execute(
                    "INSERT OR IGNORE INTO broker_ids VALUES (?,?,?,?)",
                    (broker_order_id, client_order_id, wire_client_order_id or client_order_id, leg),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def record_transition(self, update: OrderUpdate) -> None:
        """Append a state transition and update the intent's current status."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.execute(
                    "INSERT INTO transitions (client_order_id, status, ts, broker_order_id, filled_qty,"
                    " filled_avg_price, reason) VALUES (?,?,?,?,?,?,?)",
                    (
                        update.client_order_id,
                        update.status.value,
                        update.ts,
                        update.broker_order_id,
                        update.filled_qty,
                        update.filled_avg_price,
                        update.reason,
                    ),
                )
                self._db.execute(
                    "UPDATE intents SET status=?, filled_qty=max(filled_qty, ?), updated_ns=? WHERE client_order_id=?",
                    (update.status.value, update.filled_qty, time.time_ns(), update.client_order_id),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def record_fill(self, fill: Fill, source: str = "stream") -> bool:
        """Write a fill. False (and nothing written) when its exec_id is already known."""
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO fills VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    fill.exec_id,
                    fill.client_order_id,
                    fill.strategy_id,
                    fill.symbol,
                    fill.side.value,
                    fill.qty,
                    fill.price,
                    fill.ts,
                    fill.commission,
                    fill.reason,
                    source,
                    time.time_ns(),
                ),
            )
            new = cur.rowcount == 1
            if new and fill.ts > self._last_event_ts:
                self._last_event_ts = fill.ts
            return new

    def note_event_ts(self, ts: int) -> None:
        """Advance the last-event time (used as the lower bound of the next reconciliation);
        persisted by flush() and close()."""
        if ts > self._last_event_ts:
            self._last_event_ts = ts

    # -- reads -------------------------------------------------------------------------------

    @property
    def last_event_ts(self) -> int:
        return self._last_event_ts

    def has_fill(self, exec_id: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM fills WHERE exec_id=?", (exec_id,)).fetchone()
        return row is not None

    def intent(self, client_order_id: str) -> Intent | None:
        with self._lock:
            row = self._db.execute(_INTENT_SELECT + " WHERE client_order_id=?", (client_order_id,)).fetchone()
        return _intent(row) if row else None

    def client_id_for_broker_id(self, broker_order_id: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT client_order_id FROM broker_ids WHERE broker_order_id=?", (broker_order_id,)
            ).fetchone()
        return row[0] if row else None

    def broker_ids(self, client_order_id: str) -> list[tuple[str, str]]:
        """(broker order id, client_order_id sent on the wire) of every order this intent became
        (its legs aside, see leg_ids)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT broker_order_id, wire_client_order_id FROM broker_ids WHERE client_order_id=? AND leg=''"
                " ORDER BY rowid",
                (client_order_id,),
            ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def leg_ids(self, client_order_id: str) -> list[tuple[str, str]]:
        """(broker order id, leg name) of every leg of this intent (an OCO's stop-loss)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT broker_order_id, leg FROM broker_ids WHERE client_order_id=? AND leg!='' ORDER BY rowid",
                (client_order_id,),
            ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def replacement_count(self, client_order_id: str) -> int:
        """How many broker ids (original + replacements) this order has had."""
        with self._lock:
            row = self._db.execute(
                "SELECT count(*) FROM broker_ids WHERE client_order_id=? AND leg=''", (client_order_id,)
            ).fetchone()
        return int(row[0])

    def transitions(self, client_order_id: str) -> list[OrderUpdate]:
        with self._lock:
            rows = self._db.execute(
                "SELECT client_order_id, status, ts, broker_order_id, filled_qty, filled_avg_price, reason"
                " FROM transitions WHERE client_order_id=? ORDER BY seq",
                (client_order_id,),
            ).fetchall()
        return [
            OrderUpdate(
                client_order_id=r[0],
                status=OrderStatus.parse(r[1]),
                ts=r[2],
                broker_order_id=r[3],
                filled_qty=r[4],
                filled_avg_price=r[5],
                reason=r[6],
            )
            for r in rows
        ]

    def fills(self, client_order_id: str | None = None) -> list[Fill]:
        sql = (
            "SELECT exec_id, client_order_id, strategy_id, symbol, side, qty, price, ts, commission, reason FROM fills"
        )
        args: tuple = ()
        if client_order_id is not None:
            sql += " WHERE client_order_id=?"
            args = (client_order_id,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY ts, recorded_ns", args).fetchall()
        return [
            Fill(
                exec_id=r[0],
                client_order_id=r[1],
                strategy_id=r[2],
                symbol=r[3],
                side=Side(r[4]),
                qty=r[5],
                price=r[6],
                ts=r[7],
                commission=r[8],
                reason=r[9],
            )
            for r in rows
        ]

    def open_intents(self) -> list[Intent]:
        marks = ",".join("?" * len(_TERMINAL))
        with self._lock:
            rows = self._db.execute(
                _INTENT_SELECT + f" WHERE status IS NULL OR status NOT IN ({marks}) ORDER BY created_ns",
                _TERMINAL,
            ).fetchall()
        return [_intent(r) for r in rows]

    def last_brackets(self) -> list[Intent]:
        """The last bracketed entry that filled (at least partly), one per strategy and symbol:
        a restart re-arms its exit when the position it opened is held with none working."""
        with self._lock:
            rows = self._db.execute(
                _INTENT_SELECT + " WHERE bracket_stop IS NOT NULL AND bracket_target IS NOT NULL"
                " AND client_order_id IN (SELECT client_order_id FROM fills)"
                " ORDER BY created_ns, rowid",  # rowid: the order written, on a tie
            ).fetchall()
        last = {(r[1], r[2]): r for r in rows}  # (strategy_id, symbol): the latest wins
        return [_intent(r) for r in last.values()]

    def recover(self) -> Recovery:
        """State to resume from after a restart."""
        fills = self.fills()
        return Recovery(
            open_intents=self.open_intents(),
            fills=fills,
            exec_ids=frozenset(f.exec_id for f in fills),
            last_event_ts=self._last_event_ts,
        )

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def flush(self) -> None:
        """Fold the WAL into the main file (every write is already committed)."""
        if self._closed:
            return
        with self._lock:
            self._db.execute(
                "INSERT INTO meta VALUES ('last_event_ts', ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (str(self._last_event_ts),),
            )
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def get_meta(self, key: str) -> str | None:
        """A session-level value kept across restarts (e.g. the books' initial cash)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value", (key, value)
            )

    def close(self) -> None:
        if self._closed:
            return
        self._stop_ckpt.set()
        self._ckpt.join()
        self.flush()
        with self._lock:
            self._closed = True
            self._db.close()

    def _load_last_event_ts(self) -> int:
        row = self._db.execute(
            "SELECT max(coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key='last_event_ts'), 0),"
            " coalesce((SELECT max(ts) FROM fills), 0))"
        ).fetchone()
        return int(row[0] or 0)


_INTENT_SELECT = (
    "SELECT client_order_id, strategy_id, symbol, side, qty, order_type, limit_price, stop_price, tif,"
    " req_ts, reason, created_ns, broker_order_id, status, filled_qty, order_class, stop_loss,"
    " bracket_stop, bracket_target FROM intents"
)


def _migrate(db: sqlite3.Connection) -> None:
    """Add the columns a journal written by an earlier version lacks (their defaults are what
    that version meant: simple orders, no legs)."""
    for table, column, decl in _ADDED:
        have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
    if db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='legs'").fetchone():
        # a file of the live core's first version kept leg ids in a table of their own, unnamed
        db.execute("INSERT OR IGNORE INTO broker_ids SELECT broker_order_id, client_order_id, '', ? FROM legs",
                   (UNNAMED_LEG,))
        db.execute("DROP TABLE legs")


def _intent(r: tuple) -> Intent:
    req = OrderRequest(
        client_order_id=r[0],
        strategy_id=r[1],
        symbol=r[2],
        side=Side(r[3]),
        qty=r[4],
        order_type=OrderType(r[5]),
        limit_price=r[6],
        stop_price=r[7],
        tif=TimeInForce(r[8]),
        ts=r[9],
        reason=r[10],
        order_class=r[15],
        stop_loss=r[16],
        bracket=None if r[17] is None or r[18] is None else (r[17], r[18]),
    )
    return Intent(request=req, created_ns=r[11], broker_order_id=r[12], status=r[13], filled_qty=r[14])


_HINT = "give --journal (or live_trading.journal) a new file name or an earlier journal"


def _check_journal_file(path: Path) -> None:
    """LiveInputError, before anything is created, if `path` cannot be a journal."""
    from admf.core.errors import LiveInputError

    if path.is_dir():
        raise LiveInputError(f"journal {path} is a folder, not a file; {_HINT}")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise LiveInputError(f"journal {path}: {parent} is a file, not a folder; {_HINT}")
            break
    if path.exists():
        try:
            with path.open("rb") as f:
                head = f.read(16)
        except OSError as exc:
            raise LiveInputError(f"journal {path} cannot be read ({exc.strerror}); {_HINT}") from None
        if head and head != b"SQLite format 3\x00":
            raise LiveInputError(f"journal {path} is not an SQLite journal (not written by admf?); {_HINT}")
