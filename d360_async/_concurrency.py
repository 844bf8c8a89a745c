"""``concurrency="auto"``: how many requests are in flight follows the rate and the latency.

To send ``R`` requests per second when each takes ``W`` seconds, ``R * W`` must be in flight
(Little's law). ``AdaptiveConcurrency`` measures ``W`` (the time on the wire: from the moment
the rate limiter lets a request go to its answer, so the wait in the limiter does not count)
and keeps ``R * W * headroom`` permits, within ``[floor, ceiling]``. It re-decides on a timer
(every latency, between 0.1 s and 1 s), so it follows latency as it changes; a pause of the
limiter (the server throttled a request) cuts the permits by a third, which then grow back by
a tenth per step. Without a known rate it still finds its way: when requests wait in the
limiter, the measured throughput takes the place of ``R``; when they do not, the permits grow
by half per step.

The fan-out (``_fanout``) asks for a permit before it takes an item and gives it back after.
The transport marks when each attempt leaves the limiter (``WIRE_START``, a context variable:
each worker is its own task) and counts the times the server throttled it.

Which rate: a limiter may tell it with a ``rate(scope)`` method (``LocalLimiter`` and
``RedisRateLimiter`` do); None there means the scope is not rate limited, and ``"auto"`` is
then a fixed bound (``UNLIMITED_CONCURRENCY``). A limiter without the method gets the
adaptive control without a known rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar
from typing import Final, Literal

from ._errors import ValidationError
from ._limits import Scope
from ._params import whole

__all__ = [
    "DEFAULT_CEILING",
    "UNLIMITED_CONCURRENCY",
    "WIRE_START",
    "AdaptiveConcurrency",
    "Concurrency",
    "auto_concurrency",
    "check_concurrency",
    "default_pool",
    "limiter_rate",
    "pool_size",
]

Concurrency = int | Literal["auto"]

#: Most requests in flight ``"auto"`` ever allows (and never more than the connection pool).
DEFAULT_CEILING: Final = 2000
#: In flight with ``"auto"`` when the scope has no rate limit: nothing to follow, so the fixed
#: defaults of earlier versions (50 sends, 4 Conversions API posts).
UNLIMITED_CONCURRENCY: Final = {Scope.MESSAGES: 50, Scope.EVENTS: 4, Scope.READS: 4}
#: Seconds of requests at the configured rate that the default connection pool holds: enough
#: for ``"auto"`` at up to about 1 s of latency (with its 25 % headroom).
POOL_SECONDS: Final = 1.25
#: The default connection pool is never smaller than this.
MIN_POOL: Final = 100

_HEADROOM: Final = 1.25
_MIN_PERIOD: Final = 0.1
_MAX_PERIOD: Final = 1.0
#: Until the first answer, the latency is taken to be the time waited plus this (two steps):
#: the requests that start before the next step (and a limiter's first burst) need permits.
_AHEAD: Final = 2 * _MIN_PERIOD
_THROTTLE_CUT: Final = 2 / 3
_THROTTLE_RECOVERY: Final = 0.1
_MIN_THROTTLE_FACTOR: Final = 0.1
_GROWTH: Final = 1.5
#: Event loop lag (seconds a decision comes late) beyond which the permits do not grow.
_LAGGING: Final = 0.05
#: Requests whose total time is this many times their wire time are held by the limiter.
_LIMITER_BOUND: Final = 1.5

#: When the current task's last request attempt left the rate limiter (event loop time); set
#: by the transport.
WIRE_START: ContextVar[float] = ContextVar("d360_wire_start", default=-math.inf)


def check_concurrency(value: object) -> Concurrency:
    """``value`` if it is ``"auto"`` or an int of at least 1, else a ``ValidationError``.

    Example:
        >>> check_concurrency("auto"), check_concurrency(8)
        ('auto', 8)
    """
    if value == "auto":
        return "auto"
    if isinstance(value, str):
        raise ValidationError("concurrency", 'must be "auto" or a whole number')
    return whole("concurrency", value, minimum=1)


def pool_size(rate: float | None) -> int:
    """The default connection pool: ``POOL_SECONDS`` of requests at ``rate``, at least 100.

    Example:
        >>> pool_size(None), pool_size(80), pool_size(1000)
        (100, 100, 1250)
    """
    if rate is None:
        return MIN_POOL
    return max(MIN_POOL, math.ceil(rate * POOL_SECONDS))


def limiter_rate(limiter: object, scope: Scope) -> float | Literal["unknown"] | None:
    """Requests per second ``limiter`` allows for ``scope``: its ``rate(scope)`` if it has
    that method (None: not limited), else ``"unknown"``.

    Example:
        >>> from d360_async import LocalLimiter
        >>> limiter = LocalLimiter(80)
        >>> limiter_rate(limiter, Scope.MESSAGES), limiter_rate(limiter, Scope.EVENTS)
        (80.0, None)
        >>> limiter_rate(object(), Scope.MESSAGES)
        'unknown'
    """
    method = getattr(limiter, "rate", None)
    if not callable(method):
        return "unknown"
    value = method(scope)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        return None
    return float(value)


def auto_concurrency(
    concurrency: object,
    *,
    limiter: object,
    scope: Scope,
    pool: int,
    throttled: Callable[[], int],
) -> int | AdaptiveConcurrency:
    """What a run's ``concurrency`` argument means: an int as given; ``"auto"`` an
    ``AdaptiveConcurrency`` for the limiter's rate of ``scope``, within the connection pool
    (``pool``, 0: unlimited) and ``DEFAULT_CEILING``; or ``UNLIMITED_CONCURRENCY`` when the scope
    has no rate limit.

    Raises:
        ValidationError: ``concurrency`` is neither ``"auto"`` nor an int of at least 1.
    """
    value = check_concurrency(concurrency)
    ceiling = min(DEFAULT_CEILING, pool) if pool > 0 else DEFAULT_CEILING
    if value != "auto":
        return value
    rate = limiter_rate(limiter, scope)
    if rate is None:
        return min(ceiling, UNLIMITED_CONCURRENCY[scope])
    return AdaptiveConcurrency(
        rate=None if rate == "unknown" else rate, ceiling=ceiling, pauses=throttled
    )


def default_pool(limiter: object) -> int:
    """The connection pool a client makes when not told: ``pool_size`` of the fastest rate the
    limiter reports for sends or Conversions API posts.

    Example:
        >>> from d360_async import LocalLimiter
        >>> default_pool(LocalLimiter(1000)), default_pool(LocalLimiter(None)), default_pool(None)
        (1250, 100, 100)
    """
    rates = [
        rate
        for scope in (Scope.MESSAGES, Scope.EVENTS)
        if isinstance(rate := limiter_rate(limiter, scope), float)
    ]
    return pool_size(max(rates, default=None))


class AdaptiveConcurrency:
    """Permits for requests in flight, as many as the rate and the measured latency need.

    Args:
        rate: Requests per second the limiter allows (None: unknown or unlimited).
        ceiling: Most permits ever (the connection pool, at most ``DEFAULT_CEILING``).
        floor: Fewest permits.
        headroom: Permits beyond Little's law, for jitter (1.25: a quarter more).
        pauses: How many times the server has throttled so far (the transport's count).
        clock: Seconds, monotonic (default: the event loop's clock).

    The fan-out calls ``acquire()`` before taking an item and ``release(started)`` after it.

    Example:
        >>> gate = AdaptiveConcurrency(rate=1000, ceiling=1250)
        >>> gate.workers, gate.limit
        (1250, 250)
    """

    __slots__ = (
        "_active",
        "_clock",
        "_due",
        "_factor",
        "_floor",
        "_headroom",
        "_latency",
        "_limit",
        "_pauses",
        "_rate",
        "_seen_pauses",
        "_started",
        "_timer",
        "_waiters",
        "_window",
        "ceiling",
    )

    def __init__(
        self,
        *,
        rate: float | None,
        ceiling: int,
        floor: int = 1,
        headroom: float = _HEADROOM,
        pauses: Callable[[], int] = lambda: 0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if ceiling < 1 or not 1 <= floor <= ceiling or headroom < 1:
            raise ValueError("need 1 <= floor <= ceiling and headroom >= 1")
        self._rate = rate
        self.ceiling = ceiling
        self._floor = floor
        self._headroom = headroom
        self._pauses = pauses
        self._seen_pauses = pauses()
        self._clock = clock
        self._factor = 1.0  # cut by throttling, grows back
        self._latency: float | None = None  # seconds on the wire, smoothed
        self._window = _Window()
        self._active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._due = 0.0  # when the timer should fire
        self._started: float | None = None
        # before any answer: enough for the limiter's first burst and the first step's starts
        start = 16 if rate is None else math.ceil(rate * _AHEAD * headroom)
        self._limit = self._bounded(start)

    @property
    def workers(self) -> int:
        """How many workers the fan-out runs (each waits for a permit): the ceiling."""
        return self.ceiling

    @property
    def limit(self) -> int:
        """Permits now: requests that may be in flight."""
        return self._limit

    @property
    def latency(self) -> float | None:
        """The latency estimate (seconds on the wire), None before the first answer."""
        return self._latency

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    def _bounded(self, value: float) -> int:
        return max(self._floor, min(self.ceiling, math.ceil(value)))

    async def acquire(self) -> float:
        """Wait for a permit; returns the time it was granted (give it to ``release``)."""
        if self._active < self._limit and not self._waiters:
            self._active += 1
        else:
            self._window.saturated = True
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():  # granted, then cancelled
                    self._active -= 1
                    self._grant()
                else:  # a release may have popped it already (_grant drops cancelled waits)
                    with contextlib.suppress(ValueError):
                        self._waiters.remove(waiter)
                raise
        now = self._now()
        if self._timer is None:
            if self._started is None:
                self._started = now
                self._window.clear(now)
            self._arm()
        return now

    def release(self, started: float) -> None:
        """Give a permit back; ``started`` is what ``acquire`` returned."""
        self._active -= 1
        left = WIRE_START.get()
        if left >= started:  # the item made a request: one latency sample
            now = self._now()
            self._window.add(now - left, now - started)
        self._grant()

    def _grant(self) -> None:
        waiters = self._waiters
        while waiters and self._active < self._limit:
            waiter = waiters.popleft()
            if not waiter.done():
                self._active += 1
                waiter.set_result(None)

    def _arm(self) -> None:
        period = min(_MAX_PERIOD, max(_MIN_PERIOD, self._latency or 0.0))
        self._due = self._now() + period
        self._timer = asyncio.get_running_loop().call_later(period, self._tick)

    def _tick(self) -> None:
        now = self._now()
        self.adapt(now, lag=now - self._due)
        self._grant()
        if self._active or self._waiters:
            self._arm()
        else:  # idle: no timer until the next acquire
            self._timer = None
            self._started = None

    def adapt(self, now: float, *, lag: float = 0.0) -> None:
        """Re-decide the permits from what was measured since the last call.

        ``lag``: how late this decision comes (the event loop's lag). A loop that lags has no
        CPU to spare: more requests in flight would not go faster, and their waits would make
        the measured latency, hence the permits, grow without end. The permits do not grow
        then (they may shrink).
        """
        if lag > _LAGGING:
            ceiling = self._limit
            self._decide(now)
            self._limit = min(self._limit, ceiling)
        else:
            self._decide(now)

    def _decide(self, now: float) -> None:
        pauses = self._pauses()
        if pauses != self._seen_pauses:
            self._seen_pauses = pauses
            self._factor = max(_MIN_THROTTLE_FACTOR, self._factor * _THROTTLE_CUT)
            self._limit = self._bounded(self._limit * _THROTTLE_CUT)
            self._window.clear(now)
            return
        self._factor = min(1.0, self._factor + _THROTTLE_RECOVERY)
        window = self._window
        if window.count:
            wire = window.wire / window.count
            if self._latency is None or wire > self._latency:
                self._latency = wire  # up at once: too few in flight costs throughput
            else:
                self._latency += 0.3 * (wire - self._latency)  # down gently
        elif self._latency is None and self._started is not None:
            # nothing answered yet: the latency is at least the time since the first request,
            # and the requests started until the next step will still be in flight then
            target = self._target(now - self._started + _AHEAD, window, now)
            self._limit = max(self._limit, self._bounded(target))
            return
        if self._latency is not None:
            self._limit = self._bounded(self._target(self._latency, window, now))
        window.clear(now)

    def _target(self, latency: float, window: _Window, now: float) -> float:
        if self._rate is not None:
            return self._rate * latency * self._headroom * self._factor
        elapsed = now - window.since
        if window.count and elapsed > 0 and window.total > _LIMITER_BOUND * window.wire:
            # requests wait in the limiter: it, not us, sets the pace; follow its throughput
            return window.count / elapsed * latency * self._headroom * self._factor
        if window.saturated:  # every permit in use and nothing holds requests back: more
            return self._limit * _GROWTH * self._factor
        return self._limit


class _Window:
    """Sums over the requests answered since the last decision."""

    __slots__ = ("count", "saturated", "since", "total", "wire")

    def __init__(self) -> None:
        self.clear(0.0)

    def add(self, wire: float, total: float) -> None:
        self.count += 1
        self.wire += wire
        self.total += total

    def clear(self, now: float) -> None:
        self.count = 0
        self.wire = self.total = 0.0
        self.since = now
        self.saturated = False  # a request had to wait for a permit
