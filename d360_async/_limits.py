"""Client-side throttling: the limiter protocol, its scopes, and the in-process default.

A limiter does two things for a request, before it goes out: it waits out the pause (the
cool-down after the server throttled a request of the same scope) and takes a slot of the
scope's rate. ``D360Client(rate_limit=...)`` accepts any object that does both
(:class:`RateLimiter`), so a limit and its pauses can be shared by several clients, or by
several processes through a shared store.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import hmac
import typing
import weakref

from aiolimiter import AsyncLimiter

from ._errors import ValidationError
from ._recipients import recipient_key

__all__ = ["LocalLimiter", "RateLimiter", "Scope", "make_limiter", "recipient_digest"]


class Scope(enum.StrEnum):
    """What a request counts against: each scope has its own rate and its own pause.

    Example:
        >>> [str(scope) for scope in Scope]
        ['messages', 'events', 'reads']
    """

    #: Marketing message sends (Meta's per-number throughput limit).
    MESSAGES = "messages"
    #: Conversions API posts.
    EVENTS = "events"
    #: Everything else: templates, template analytics, ads insights, datasets, dataset quality.
    READS = "reads"


@typing.runtime_checkable
class RateLimiter(typing.Protocol):
    """What ``D360Client(rate_limit=...)`` needs from a limiter.

    Example:
        >>> class Unlimited:
        ...     async def acquire(self, scope: Scope, *, key: str | None = None) -> None:
        ...         pass
        ...
        ...     async def pause(self, scope: Scope, seconds: float) -> None:
        ...         pass
        >>> isinstance(Unlimited(), RateLimiter)
        True
    """

    async def acquire(self, scope: Scope, *, key: str | None = None) -> None:
        """Wait until one request of ``scope`` may start: wait out the scope's pause, take a slot.

        ``key`` is an opaque per-recipient key (a digest, never a phone number) for limiters
        that enforce Meta's pair limit; None for anything but sends. Raises a ``D360Error``
        subclass (e.g. ``LimiterUnavailableError``) if the limiter cannot decide: fail closed,
        never let a request through unlimited.
        """

    async def pause(self, scope: Scope, seconds: float) -> None:
        """After the server throttled a ``scope`` request: no request of ``scope`` through this
        limiter starts for ``seconds`` from now (a later pause already set is kept, never
        shortened). Shared by every client (and, for a shared limiter, every process) using
        the limiter."""


class LocalLimiter:
    """The in-process limiter: a token bucket per limited scope, a pause per scope.

    Args:
        messages: Sends per second (a token bucket holding an eighth of a second's worth, at
            least one), an ``aiolimiter.AsyncLimiter``, or None for no limit.
        events: The same for Conversions API posts (no limit by default).
        reads: The same for every other request (no limit by default).

    Times are the event loop's clock, so tests can run it on a virtual clock. Pass the same
    object to several clients to share its rates and its pauses.

    Example:
        >>> limiter = LocalLimiter(messages=80)
        >>> async def throttled() -> None:
        ...     await limiter.pause(Scope.READS, 5.0)  # reads wait 5 s; sends do not
        ...     await limiter.acquire(Scope.MESSAGES)
    """

    __slots__ = ("__weakref__", "_buckets", "_until")

    def __init__(
        self,
        messages: float | AsyncLimiter | None = 80.0,
        *,
        events: float | AsyncLimiter | None = None,
        reads: float | AsyncLimiter | None = None,
    ) -> None:
        rates = {Scope.MESSAGES: messages, Scope.EVENTS: events, Scope.READS: reads}
        self._buckets: dict[Scope, AsyncLimiter] = {}
        for scope, rate in rates.items():
            bucket = _bucket(scope.value, rate)
            if bucket is not None:
                self._buckets[scope] = bucket
        self._until = dict.fromkeys(Scope, 0.0)

    def __repr__(self) -> str:
        rates = ", ".join(
            f"{scope.value}={b.max_rate / b.time_period:g}/s" for scope, b in self._buckets.items()
        )
        return f"LocalLimiter({rates})"

    def rate(self, scope: Scope) -> float | None:
        """Requests per second allowed for ``scope`` (None: not rate limited)."""
        bucket = self._buckets.get(scope)
        return None if bucket is None else bucket.max_rate / bucket.time_period

    def paused_until(self, scope: Scope) -> float:
        """Loop time at which the pause of ``scope`` ends (0.0 or in the past when not paused)."""
        return self._until[scope]

    def is_open(self, scope: Scope) -> bool:
        """True when a request of ``scope`` may start now without waiting: no rate and no
        pause set (the transport then skips ``acquire``, a coroutine per request)."""
        return not self._until[scope] and scope not in self._buckets

    async def acquire(self, scope: Scope, *, key: str | None = None) -> None:
        """Wait out the pause of ``scope``, then take a slot of its bucket (``key`` is unused)."""
        if self._until[scope]:
            await self._wait(scope)
        bucket = self._buckets.get(scope)
        if bucket is not None:
            await bucket.acquire()
            if self._until[scope]:  # a pause began while this request waited for its slot
                await self._wait(scope)

    async def pause(self, scope: Scope, seconds: float) -> None:
        """Hold every request of ``scope`` for ``seconds`` from now (never shortened)."""
        until = asyncio.get_running_loop().time() + seconds
        if until > self._until[scope]:
            self._until[scope] = until

    async def _wait(self, scope: Scope) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        while (until := self._until[scope]) > now:
            await asyncio.sleep(until - now)
            now = loop.time()
        self._until[scope] = 0.0  # over: later requests need not read the clock


def _bucket(name: str, rate: float | AsyncLimiter | None) -> AsyncLimiter | None:
    """A token bucket holding an eighth of a second's worth of requests (at least one).

    The rate is kept and bursts stay small, so a server whose own bucket is full-second-sized
    never sees more than it allows. ``AsyncLimiter(max_rate=B, time_period=B / R)`` gives a
    bucket of ``B`` refilled at ``R`` per second.
    """
    if rate is None or isinstance(rate, AsyncLimiter):
        return rate
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < float("inf"):
        raise ValidationError(name, "must be a positive number of requests per second")
    burst = max(1.0, float(rate) / 8)
    return AsyncLimiter(burst, burst / float(rate))


#: One LocalLimiter per AsyncLimiter given to clients, so that they share its pauses too.
_WRAPPED: weakref.WeakValueDictionary[int, LocalLimiter] = weakref.WeakValueDictionary()


def make_limiter(rate_limit: object) -> RateLimiter:
    """The limiter a client uses for ``D360Client(rate_limit=...)``.

    - A number: sends per second through a :class:`LocalLimiter` of the client's own.
    - None: no rate; the pauses after a 429 still apply (per client).
    - An ``aiolimiter.AsyncLimiter``: every request takes a slot of it, as in earlier
      versions; clients given the same one share its pauses as well.
    - Any :class:`RateLimiter`: used as is (share it to share its rates and pauses).

    Raises:
        ValidationError: Anything else, or a number that is not positive.

    Example:
        >>> make_limiter(80)
        LocalLimiter(messages=80/s)
        >>> make_limiter(None)
        LocalLimiter()
    """
    if rate_limit is None:
        return LocalLimiter(None)
    if isinstance(rate_limit, AsyncLimiter):
        # The wrapper holds the AsyncLimiter, so its id is not reused while the entry lives.
        shared = _WRAPPED.get(id(rate_limit))
        if shared is None:
            shared = LocalLimiter(rate_limit, events=rate_limit, reads=rate_limit)
            _WRAPPED[id(rate_limit)] = shared
        return shared
    if isinstance(rate_limit, RateLimiter):
        return rate_limit
    if isinstance(rate_limit, (int, float)) and not isinstance(rate_limit, bool):
        return LocalLimiter(_bucket("rate_limit", rate_limit))
    raise ValidationError(
        "rate_limit",
        "expected requests per second, an aiolimiter.AsyncLimiter, a RateLimiter or None, "
        f"got {type(rate_limit).__name__}",
    )


def recipient_digest(secret: bytes, to: object) -> str | None:
    """The per-recipient key a limiter gets for a send to ``to``: an HMAC of the recipient's
    digits keyed with the API key (the pair limit is per sender and recipient; the digest
    reveals neither). None when ``to`` is not a string.

    Example:
        >>> recipient_digest(b"key", "+49 151 1234567") == recipient_digest(b"key", "491511234567")
        True
    """
    if not isinstance(to, str):
        return None
    return hmac.new(secret, recipient_key(to).encode(), hashlib.sha256).hexdigest()[:32]
