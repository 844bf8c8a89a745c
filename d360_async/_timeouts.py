"""Timeouts by phase: waiting for a pooled connection, opening one, and the request itself.

The first two phases end before anything is written, so a timeout there is ``maybe_sent=False``
and a send may be retried safely; only the third can leave a send's outcome unknown.
"""

from __future__ import annotations

import math
from typing import Any

import aiohttp
import attrs

from ._errors import ValidationError

__all__ = ["DEFAULT_TIMEOUT", "Timeout", "as_timeout"]


def _check(name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(name, "must be a number of seconds or None")
    if not (value > 0 and math.isfinite(value)):
        raise ValidationError(name, "must be a positive, finite number of seconds")


def _seconds(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _check(f"timeout.{attribute.name}", value)


@attrs.frozen(kw_only=True)
class Timeout:
    """How long each phase of one attempt may take (seconds; None for no limit).

    Args:
        pool: Waiting for a free connection of the pool (``max_connections`` in use).
        connect: Opening a new connection (DNS, TCP, TLS).
        request: From the moment the request starts to be written until its response has been
            read in full.

    aiohttp measures the first two together: an attempt gets at most ``pool + connect``
    seconds to obtain its connection, of which at most ``connect`` to open a new one. Either
    running out is an ``APITimeoutError`` with ``maybe_sent=False``.

    Example:
        >>> Timeout.of(5.0)  # a plain number keeps the phases apart
        Timeout(pool=5.0, connect=5.0, request=5.0)
        >>> Timeout(pool=1.0).request
        30.0
    """

    pool: float | None = attrs.field(default=30.0, validator=_seconds)
    connect: float | None = attrs.field(default=10.0, validator=_seconds)
    request: float | None = attrs.field(default=30.0, validator=_seconds)

    @classmethod
    def of(cls, seconds: float) -> Timeout:
        """``seconds`` for each phase, but at most 10 s (the default) to open a connection."""
        if seconds is None:
            raise ValidationError("timeout", "must be a number of seconds")
        _check("timeout", seconds)
        return cls(pool=seconds, connect=min(seconds, 10.0), request=seconds)

    def for_aiohttp(self) -> aiohttp.ClientTimeout:
        """aiohttp's timeout for the first two phases (the third is the transport's own)."""
        pool, connect = self.pool, self.connect
        both = None if pool is None or connect is None else pool + connect
        return aiohttp.ClientTimeout(total=None, connect=both, sock_connect=connect)


DEFAULT_TIMEOUT = Timeout()


def as_timeout(value: object) -> Timeout | aiohttp.ClientTimeout:
    """A ``Timeout`` from what ``timeout=`` accepts: a number of seconds, a ``Timeout``, or an
    ``aiohttp.ClientTimeout`` (used as is: aiohttp's own phases, no split of ours).

    Raises:
        ValidationError: Anything else.
    """
    if isinstance(value, (Timeout, aiohttp.ClientTimeout)):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Timeout.of(value)
    raise ValidationError(
        "timeout",
        f"expected seconds, a Timeout or an aiohttp.ClientTimeout, got {type(value).__name__}",
    )
