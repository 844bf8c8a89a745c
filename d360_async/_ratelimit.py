"""Client-side throttling: aiolimiter's token bucket, plus one shared cool-down after a 429."""

from __future__ import annotations

import asyncio

from aiolimiter import AsyncLimiter

__all__ = ["CoolDown", "make_limiter"]


def make_limiter(rate_limit: float | AsyncLimiter | None) -> AsyncLimiter | None:
    """An ``AsyncLimiter`` from a rate in requests per second.

    The bucket holds an eighth of a second's worth of requests (at least one): the rate is
    kept, bursts stay small, so a server whose own bucket is full-second-sized never sees more
    than it allows. An ``AsyncLimiter`` passed in is used as is, so one limiter can be shared
    by several clients; ``AsyncLimiter(max_rate=B, time_period=B / R)`` gives a bucket of
    ``B`` refilled at ``R`` per second.
    """
    if rate_limit is None or isinstance(rate_limit, AsyncLimiter):
        return rate_limit
    if isinstance(rate_limit, bool) or not rate_limit > 0:
        raise ValueError("rate_limit must be a positive number of requests per second")
    rate = float(rate_limit)
    burst = max(1.0, rate / 8)
    return AsyncLimiter(burst, burst / rate)


class CoolDown:
    """One pause shared by every request of a client.

    When the server throttles one request, every other request of the client waits too, until
    the same moment: one cool-down for all, not one per request. Times are the event loop's
    clock, so tests can run it on a virtual clock.

    Example:
        >>> async def throttled(gate: CoolDown, retry_after: float) -> None:
        ...     gate.pause(retry_after)  # every request of the client now waits...
        ...     await gate.wait()  # ...until the loop clock passes the pause
    """

    __slots__ = ("_until",)

    def __init__(self) -> None:
        self._until = 0.0

    def pause(self, seconds: float) -> None:
        """Hold every request for ``seconds`` from now (an earlier end is extended, never cut)."""
        until = asyncio.get_running_loop().time() + seconds
        if until > self._until:
            self._until = until

    @property
    def paused_until(self) -> float:
        """Loop time at which the current pause ends (in the past when not paused)."""
        return self._until

    async def wait(self) -> float:
        """Wait until no pause is in force; returns the seconds waited."""
        loop = asyncio.get_running_loop()
        start = now = loop.time()
        while self._until > now:
            await asyncio.sleep(self._until - now)
            now = loop.time()
        return now - start
