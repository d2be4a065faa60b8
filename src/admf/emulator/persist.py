"""SQLite state: account, orders, activities and the replay position survive a restart.

Writes are coalesced: the server marks the store dirty and flushes once per loop turn, so a burst
of orders costs one transaction. WAL mode keeps readers and the writer out of each other's way.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from admf.core.errors import ConfigError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS activities (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, data TEXT NOT NULL);
"""


class StateStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open state file: {exc}", field="state_file", value=str(path)) from None
        self._act_seq = self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM activities").fetchone()[0]

    def load(self) -> tuple[dict[str, Any], list[dict], list[dict]] | None:
        rows = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
        if "broker" not in rows:
            return None
        meta = {k: json.loads(v) for k, v in rows.items()}
        orders = [json.loads(d) for (d,) in self.db.execute("SELECT data FROM orders ORDER BY seq")]
        acts = [json.loads(d) for (d,) in self.db.execute("SELECT data FROM activities ORDER BY seq")]
        return meta, orders, acts

    def save(self, meta: dict[str, Any], orders: list[dict], activities: list[dict]) -> None:
        cur = self.db.cursor()
        cur.execute("BEGIN")
        try:
            cur.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                            [(k, json.dumps(v)) for k, v in meta.items()])
            cur.executemany("INSERT OR REPLACE INTO orders (id, seq, data) VALUES (?, ?, ?)",
                            [(o["id"], o["seq"], json.dumps(o)) for o in orders])
            rows = []
            for a in activities:
                self._act_seq += 1
                rows.append((a["id"], self._act_seq, json.dumps(a)))
            cur.executemany("INSERT OR REPLACE INTO activities (id, seq, data) VALUES (?, ?, ?)", rows)
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    def wipe(self) -> None:
        self.db.executescript("DELETE FROM meta; DELETE FROM orders; DELETE FROM activities;")
        self._act_seq = 0

    def close(self) -> None:
        self.db.close()
