"""Fault switches: what the emulator can break on purpose, and the decisions they imply.

Faults (name: parameters, defaults):
    drop_sockets:       target="all"|"trade"|"data", every=None  abort sockets without a close frame,
                        now, or every `every` seconds while set
    silence:            target="all", seconds=None   stay connected (pings answered) but send nothing
    refuse_reconnects:  seconds, target="all", trade_code=429, data_code=406, drop=False
                        trade-stream upgrades get HTTP trade_code; data sockets get error data_code
                        after auth (406) or HTTP 429 on the upgrade; drop=True also drops sockets now
    delay_updates:      seconds                       hold every trade update this long
    drop_updates:       count=None, probability=1.0, events=None   lose trade updates
    duplicate_updates:  count=None, probability=1.0, events=None   send trade updates twice
    order_errors:       count=1, status=500, mode="error"|"timeout", timeout=30.0, actions=["submit"]
                        the order action is carried out, then the reply is a 5xx (mode error) or
                        nothing for `timeout` seconds and a dropped connection (mode timeout);
                        actions from submit, replace, cancel, cancel_all, close_position
    reject_orders:      count=1                       accept the next orders (200), then reject them on
                        the stream (event rejected)
    rate_limit_burst:   count=None, seconds=None      trading requests answer 429 (with headers)
    restart:            down=0.0                      restart the server keeping state (action)
count=None means "until cleared"; events limits the trade-update faults to those event names.
"""

from __future__ import annotations

import random
import time
from typing import Any

NAMES = (
    "drop_sockets", "silence", "refuse_reconnects", "delay_updates", "drop_updates",
    "duplicate_updates", "order_errors", "reject_orders", "rate_limit_burst", "restart",
)  # fmt: skip
ACTIONS = ("submit", "replace", "cancel", "cancel_all", "close_position")


class FaultError(ValueError):
    pass


def _num(params: dict, key: str, default: Any, kind: type = float, minimum: float | None = 0) -> Any:
    v = params.get(key, default)
    if v is None:
        return None
    try:
        v = kind(v)
    except (TypeError, ValueError):
        raise FaultError(f"{key} must be a number, got {v!r}") from None
    if minimum is not None and v < minimum:
        raise FaultError(f"{key} must be >= {minimum}, got {v!r}")
    return v


def _target(params: dict) -> str:
    t = params.get("target", "all")
    if t not in ("all", "trade", "data"):
        raise FaultError(f"target must be all, trade or data, got {t!r}")
    return t


class Faults:
    """The active faults. All methods run on the server loop."""

    def __init__(self, seed: int = 42) -> None:
        self.rng = random.Random(seed ^ 0x5EED)
        self.active: dict[str, dict[str, Any]] = {}
        self._until: dict[str, float] = {}

    def normalize(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """Validate and fill defaults; raises FaultError on bad input."""
        if name not in NAMES:
            raise FaultError(f"unknown fault {name!r}; known: {', '.join(NAMES)}")
        p = dict(params or {})
        if name == "drop_sockets":
            return {"target": _target(p), "every": _num(p, "every", None)}
        if name == "silence":
            return {"target": _target(p), "seconds": _num(p, "seconds", None)}
        if name == "refuse_reconnects":
            secs = _num(p, "seconds", None)
            if secs is None:
                raise FaultError("refuse_reconnects needs seconds")
            trade_code = _num(p, "trade_code", 429, int)
            data_code = _num(p, "data_code", 406, int)
            if data_code not in (406, 429):
                raise FaultError("data_code must be 406 or 429")
            return {"target": _target(p), "seconds": secs, "trade_code": trade_code, "data_code": data_code,
                    "drop": bool(p.get("drop", False))}
        if name == "delay_updates":
            return {"seconds": _num(p, "seconds", 1.0)}
        if name in ("drop_updates", "duplicate_updates"):
            events = p.get("events")
            if isinstance(events, str):
                events = [e for e in events.split(",") if e]
            prob = _num(p, "probability", 1.0)
            if prob > 1:
                raise FaultError("probability must be within [0, 1]")
            return {"count": _num(p, "count", None, int), "probability": prob,
                    "events": list(events) if events else None}
        if name == "order_errors":
            mode = p.get("mode", "error")
            if mode not in ("error", "timeout"):
                raise FaultError("mode must be error or timeout")
            status = _num(p, "status", 500, int)
            if not 500 <= status <= 599:
                raise FaultError("status must be a 5xx code")
            actions = p.get("actions", ["submit"])
            if isinstance(actions, str):
                actions = [a for a in actions.split(",") if a]
            bad = [a for a in actions if a not in ACTIONS]
            if bad:
                raise FaultError(f"unknown action {bad[0]!r}; known: {', '.join(ACTIONS)}")
            return {"count": _num(p, "count", 1, int), "status": status, "mode": mode,
                    "timeout": _num(p, "timeout", 30.0), "actions": list(actions)}
        if name == "reject_orders":
            return {"count": _num(p, "count", 1, int)}
        if name == "rate_limit_burst":
            count, secs = _num(p, "count", None, int), _num(p, "seconds", None)
            if count is None and secs is None:
                count = 1
            return {"count": count, "seconds": secs}
        return {"down": _num(p, "down", 0.0)}

    def set(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        p = self.normalize(name, params)
        secs = p.get("seconds")
        if secs is not None and name in ("silence", "refuse_reconnects", "rate_limit_burst"):
            self._until[name] = time.monotonic() + secs
        else:
            self._until.pop(name, None)
        if name not in ("restart",) and not (name == "drop_sockets" and p.get("every") is None):
            self.active[name] = p
        return p

    def clear(self, name: str | None = None) -> None:
        if name is None:
            self.active.clear()
            self._until.clear()
        else:
            self.active.pop(name, None)
            self._until.pop(name, None)

    def _live(self, name: str) -> dict[str, Any] | None:
        p = self.active.get(name)
        if p is None:
            return None
        until = self._until.get(name)
        if until is not None and time.monotonic() >= until:
            self.clear(name)
            return None
        return p

    def remaining(self, name: str) -> float | None:
        """Seconds left of a timed fault, None when it is not timed or not on."""
        until = self._until.get(name)
        return None if until is None or self._live(name) is None else max(0.0, until - time.monotonic())

    def describe(self) -> dict[str, Any]:
        out = {}
        for name in list(self.active):
            p = self._live(name)
            if p is not None:
                d = dict(p)
                until = self._until.get(name)
                if until is not None:
                    d["remaining_seconds"] = round(max(0.0, until - time.monotonic()), 3)
                out[name] = d
        return out

    # decisions

    def silent(self, target: str) -> bool:
        p = self._live("silence")
        return p is not None and p["target"] in ("all", target)

    def refuse(self, target: str) -> int | None:
        p = self._live("refuse_reconnects")
        if p is None or p["target"] not in ("all", target):
            return None
        return p["trade_code"] if target == "trade" else p["data_code"]

    def _take(self, name: str, event: str) -> bool:
        p = self._live(name)
        if p is None or (p["events"] and event not in p["events"]):
            return False
        if p["probability"] < 1.0 and self.rng.random() >= p["probability"]:
            return False
        if p["count"] is not None:
            p["count"] -= 1
            if p["count"] <= 0:
                self.clear(name)
        return True

    def drop_update(self, event: str) -> bool:
        return self._take("drop_updates", event)

    def duplicate_update(self, event: str) -> bool:
        return self._take("duplicate_updates", event)

    def update_delay(self) -> float:
        p = self._live("delay_updates")
        return p["seconds"] if p else 0.0

    def order_error(self, action: str) -> dict[str, Any] | None:
        p = self._live("order_errors")
        if p is None or action not in p["actions"]:
            return None
        if p["count"] is not None:
            p["count"] -= 1
            if p["count"] <= 0:
                self.clear("order_errors")
        return p

    def reject_order(self) -> bool:
        p = self._live("reject_orders")
        if p is None:
            return False
        if p["count"] is not None:
            p["count"] -= 1
            if p["count"] <= 0:
                self.clear("reject_orders")
        return True

    def burst(self) -> bool:
        p = self._live("rate_limit_burst")
        if p is None:
            return False
        if p["count"] is not None:
            p["count"] -= 1
            if p["count"] <= 0:
                self.clear("rate_limit_burst")
        return True
