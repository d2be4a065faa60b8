"""Broker errors raised by the Alpaca adapter. None of them ever holds a key or a secret:
they carry the HTTP method, path, status, Alpaca's numeric code and its message only.

The ones a command can end in are also the live core's typed outcomes (execution.reports):
OrderRejected is Refused, NotFound UnknownOrder, StaleRequest NotSent, BrokerUnavailable NoAnswer."""

from __future__ import annotations

from admf.core.errors import BrokerError, LiveInputError
from admf.execution.reports import NoAnswer, NotSent, Refused, UnknownOrder

__all__ = [
    "AlpacaError",
    "AlpacaInputError",
    "AuthError",
    "BadEndpoint",
    "BrokerTimeout",
    "BrokerUnavailable",
    "DuplicateClientOrderId",
    "EmptyKey",
    "EndpointUnreachable",
    "InsufficientBuyingPower",
    "KeyRefused",
    "NotAStream",
    "NotFound",
    "OrderRejected",
    "RateLimited",
    "StaleRequest",
    "StreamError",
]


class AlpacaError(BrokerError):
    """An error answered (or not answered) by an Alpaca-compatible server."""

    def __init__(self, message: str, *, status: int = 0, code: int = 0, method: str = "", path: str = "") -> None:
        self.status = status
        self.code = code
        self.message = message
        self.method = method
        self.path = path
        where = f"{method} {path}".strip()
        head = f"HTTP {status}" if status else ""
        if code:
            head = f"{head} code {code}".strip()
        prefix = ", ".join(p for p in (where, head) if p)
        super().__init__(f"{prefix}: {message}" if prefix else message)

    @property
    def reason(self) -> str:
        """Alpaca's message alone (a rejected order's reason)."""
        return self.message

    def __reduce__(self):  # keep keyword fields when pickled (e.g. across a process pool)
        return (_rebuild, (type(self), self.message, self.status, self.code, self.method, self.path))


def _rebuild(cls: type[AlpacaError], message: str, status: int, code: int, method: str, path: str):
    return cls(message, status=status, code=code, method=method, path=path)


class AuthError(AlpacaError):
    """Keys rejected (HTTP 401/403 not-authorized, stream 'unauthorized', data error 402)."""


class OrderRejected(AlpacaError, Refused):
    """The broker refused the order (HTTP 403/422, or invalid locally before sending)."""


class InsufficientBuyingPower(OrderRejected):
    pass


class DuplicateClientOrderId(OrderRejected):
    """422 'client_order_id must be unique'; resolved by looking the order up."""


class NotFound(AlpacaError, UnknownOrder):
    pass


class RateLimited(AlpacaError):
    """HTTP 429 kept coming for longer than the configured patience."""


class BrokerUnavailable(AlpacaError, NoAnswer):
    """5xx or connection failure after every retry."""


class BrokerTimeout(BrokerUnavailable):
    """No answer within the per-call timeout after every retry."""


class StreamError(AlpacaError):
    """A websocket protocol error that retrying cannot fix (e.g. insufficient subscription)."""


class StaleRequest(AlpacaError, NotSent):
    """Not sent: no call could be had within the rate limit before the caller's deadline."""


# -- bad live inputs: UserErrors (the CLI prints the one line and exits 2) ------------------------


class AlpacaInputError(AlpacaError, LiveInputError):
    """A live input the adapter cannot work with; str() is the one line for the user."""

    def __str__(self) -> str:
        return self.message


class KeyRefused(AuthError, AlpacaInputError):
    """The server refused the key pair (HTTP 401, stream 'not authorized', data error 402)."""


class EmptyKey(AlpacaInputError, ValueError):
    """The key id or the secret is empty."""


class BadEndpoint(AlpacaInputError):
    """A URL that cannot be an endpoint of its kind (no scheme, wrong scheme, no host)."""


class EndpointUnreachable(BrokerUnavailable, AlpacaInputError):
    """The first connection to an endpoint failed (refused, TLS mismatch, unknown host)."""


class NotAStream(StreamError, AlpacaInputError):
    """A stream URL whose server does not accept a websocket there (e.g. an unknown feed)."""
