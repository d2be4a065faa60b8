"""The one interface every incremental indicator implements."""

from __future__ import annotations

from typing import Any, ClassVar

NAN = float("nan")


class Indicator:
    """An O(1)-per-bar indicator fed one bar at a time.

    ``value`` is the primary output; multi-output indicators also expose named
    attributes listed in ``outputs``. Every output is nan until ``ready``.
    """

    __slots__ = ("ready", "value")

    name: ClassVar[str] = ""
    outputs: ClassVar[tuple[str, ...]] = ("value",)
    # Filled by the registry decorator: parameter name -> core.params.Param.
    param_specs: ClassVar[dict[str, Any]] = {}

    def __init__(self) -> None:
        self.ready = False
        self.value = NAN

    def update(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> None:
        raise NotImplementedError

    @property
    def warmup(self) -> int:
        """Bars needed before ``ready`` turns True."""
        raise NotImplementedError

    @property
    def params(self) -> dict[str, Any]:
        """The parameters this instance was built with."""
        return {k: getattr(self, k) for k in self.param_specs}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args}) ready={self.ready} value={self.value!r}"
