"""Error types. A UserError is a mistake in input: the CLI prints it in one line and exits 2."""

from __future__ import annotations

from typing import Any


class AdmfError(Exception):
    """Base of every error raised on purpose by admf."""


class UserError(AdmfError):
    """Bad input. Names the file, the field, the value, and what is accepted."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        field: str | None = None,
        value: Any = None,
        accepted: str | None = None,
    ) -> None:
        self.file = file
        self.field = field
        self.value = value
        self.accepted = accepted
        self.detail = message
        super().__init__(self._format())

    def _format(self) -> str:
        parts = []
        if self.file:
            parts.append(str(self.file))
        if self.field:
            parts.append(self.field)
        head = ": ".join(parts)
        msg = self.detail
        if self.value is not None:
            shown = repr(self.value)
            if len(shown) > 80:
                shown = shown[:77] + "..."
            msg = f"{msg} (got {shown})"
        if self.accepted:
            msg = f"{msg}; accepted: {self.accepted}"
        return f"{head}: {msg}" if head else msg


class ConfigError(UserError):
    """A configuration file is malformed or invalid."""


class DataError(UserError):
    """A data file is missing, unreadable or inconsistent."""


class BrokerError(AdmfError):
    """A broker refused or failed a request."""


class LiveInputError(UserError):
    """A live session cannot start with what it was given (keys refused, an endpoint that is
    unreachable or of the wrong kind, a journal that is not one). One line, exit 2, nothing sent."""
