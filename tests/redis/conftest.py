"""The real Redis-compatible server fixture (``redis_server``) lives in ``tests/conftest.py``.

``Bookings`` records what the limiter's script answered, so that tests bound the limiter by
the starts it booked on the server's clock (counts and order), never by how fast this machine
ran."""

from __future__ import annotations

import asyncio
from typing import Any

import attrs

from d360_async._limits import Scope
from d360_async.redis import RedisRateLimiter
from tests.redis_server import RedisProcess

__all__ = ["Booking", "Bookings", "RedisProcess", "busiest"]


@attrs.frozen
class Booking:
    """One answer of the acquire script: ``booked`` (False: the recipient's pair limit was not
    open, nothing booked), the ``delay`` until the start and the ``slot`` (server microseconds;
    0 when nothing was booked)."""

    booked: bool
    delay: int
    slot: int


class Bookings:
    """Every answer of ``limiter``'s acquire script, and the start each acquire went on.

    ``used`` holds, per acquire that returned, the slot it went on and the pause end its
    limiter had heard of at that moment (server microseconds).
    """

    def __init__(self, limiter: RedisRateLimiter) -> None:
        self.limiter = limiter
        self.answers: list[Booking] = []
        self.used: list[tuple[int, int]] = []
        self._last: dict[asyncio.Task[Any] | None, int] = {}
        call = limiter._call
        acquire_script = limiter._acquire

        async def recorded(script: Any, keys: tuple[str, ...], args: tuple[str, ...]) -> Any:
            answer = await call(script, keys, args)
            if script is acquire_script:
                booking = Booking(booked=bool(answer[0]), delay=int(answer[1]), slot=answer[2])
                self.answers.append(booking)
                if booking.booked:
                    self._last[asyncio.current_task()] = booking.slot
            return answer

        limiter._call = recorded  # type: ignore[method-assign]

    async def acquire(self, scope: Scope = Scope.MESSAGES, *, key: str | None = None) -> int:
        """``limiter.acquire``; returns the slot the request went on."""
        await self.limiter.acquire(scope, key=key)
        slot = self._last.pop(asyncio.current_task())
        self.used.append((slot, self.limiter._scopes[scope].pause_end))
        return slot

    def booked(self) -> list[Booking]:
        return [answer for answer in self.answers if answer.booked]


def busiest(times: list[float] | list[int], width: float) -> int:
    """The most of ``times`` inside any window ``[t, t + width)`` (sliding, not aligned).

    Example:
        >>> busiest([0, 500_000, 999_999, 1_000_000, 1_999_999], 1_000_000)
        3
    """
    ordered = sorted(times)
    most = first = 0
    for last, moment in enumerate(ordered):
        while moment - ordered[first] >= width:
            first += 1
        most = max(most, last - first + 1)
    return most
