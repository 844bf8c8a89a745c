"""Throughput limits: a per-key token bucket and a per-recipient (pair) window."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

Clock = Callable[[], float]


class TokenBucket:
    """A token bucket refilled continuously from ``clock``.

    Args:
        rate: Tokens added per second.
        capacity: Bucket size (the burst allowed after a quiet period).
        clock: Monotonic clock in seconds (the event loop's ``time`` by default).

    Example:
        >>> now = [0.0]
        >>> bucket = TokenBucket(rate=2, capacity=2, clock=lambda: now[0])
        >>> [bucket.acquire() for _ in range(3)]
        [0.0, 0.0, 0.5]
        >>> now[0] = 0.5
        >>> bucket.acquire()
        0.0
    """

    __slots__ = ("_clock", "_stamp", "_tokens", "capacity", "rate")

    def __init__(self, rate: float, capacity: float, clock: Clock) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("rate must be > 0 and capacity >= 1")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._stamp = clock()

    def acquire(self) -> float:
        """Take one token: 0.0 when granted, else the seconds until one is available."""
        now = self._clock()
        tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return 0.0
        self._tokens = tokens
        return (1.0 - tokens) / self.rate


def retry_after_header(wait: float) -> int:
    """Whole seconds for ``Retry-After`` (delta-seconds are integers; at least 1)."""
    return max(1, math.ceil(wait))


class PairLimiter:
    """At most ``limit`` accepted messages per recipient within a sliding ``window``.

    Example:
        >>> now = [0.0]
        >>> pairs = PairLimiter(limit=1, window=6.0, clock=lambda: now[0])
        >>> (pairs.allow("k", "49151"), pairs.allow("k", "49151"), pairs.allow("k", "4930"))
        (True, False, True)
        >>> now[0] = 6.0
        >>> pairs.allow("k", "49151")
        True
    """

    __slots__ = ("_clock", "_sent", "limit", "window")

    def __init__(self, limit: int, window: float, clock: Clock) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._sent: dict[tuple[str, str], deque[float]] = {}

    def allow(self, api_key: str, wa_id: str) -> bool:
        """Record a message to ``wa_id`` if the pair is under its limit."""
        now = self._clock()
        stamps = self._sent.setdefault((api_key, wa_id), deque())
        while stamps and stamps[0] <= now - self.window:
            stamps.popleft()
        if len(stamps) >= self.limit:
            return False
        stamps.append(now)
        return True
