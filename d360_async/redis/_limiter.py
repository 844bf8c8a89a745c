"""One rate limit shared by every worker, process and host, through Redis or Valkey.

``RedisRateLimiter`` implements the ``RateLimiter`` protocol on a Redis-compatible server
(optional extra: ``pip install "d360-async[redis]"``). Give every ``D360Client`` that sends for
the same business number a limiter with the same ``account`` and the same server, and together
they never exceed the number's limit:

- **One round trip per request, nobody polls.** One Lua script books the next free start time
  (GCRA, the generic cell rate algorithm) on the server's own clock (``TIME``); the worker
  sleeps until that start, placed on its own clock (not for a delay counted from when the
  answer came: answers that come back unevenly would bunch starts up), and goes.
- **A 429 pauses everyone.** ``pause()`` moves the shared next-allowed time and publishes the
  pause; every limiter on the account wakes the requests that had booked a start inside the
  pause and books them again after it.
- **An optional per-recipient pair limit** (Meta allows about one marketing message per
  recipient every 6 seconds), in the same script, keyed by a digest of the recipient key.
- **A stall is not a burst.** A process that reaches a booked start too late (its event loop
  stalled, an answer came slowly) books again instead of sending late (``max_lateness``).
- **Fail closed.** Every call is bounded by ``timeout``; an unreachable, slow or failing server
  raises ``LimiterUnavailableError`` and the request is not sent. Never a send without the limit.

Keys are ``<prefix>:{<digest of account>}:...``: the hash tag keeps all of an account's keys in
one Redis Cluster slot, and neither the account (a phone number, an API key) nor a recipient
appears in Redis, only digests.

Example:
    >>> import asyncio
    >>> from d360_async import D360Client
    >>> from d360_async.redis import RedisRateLimiter
    >>> async def main() -> None:
    ...     limiter = RedisRateLimiter("redis://localhost:6379/0", account="4930123456", rate=80)
    ...     async with limiter, D360Client(rate_limit=limiter) as client:
    ...         await client.send_bulk(messages).run()
"""

from __future__ import annotations

import asyncio
import math
import time
from types import TracebackType
from typing import Any, Final, Self

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from d360_async._errors import LimiterUnavailableError, ValidationError
from d360_async._limits import Scope

from ._connect import REDIS_ERRORS, connect, describe, digest, positive

__all__ = ["RedisRateLimiter"]

#: Books one start time. Times are microseconds of the server's clock.
#: KEYS[1]: the scope's state, a hash (t: theoretical arrival time of the next request,
#:          p: end of the current pause). KEYS[2] (optional): the recipient's pair key.
#: ARGV[1]: emission interval (0: the scope has no rate, only pauses); ARGV[2]: burst
#:          tolerance; ARGV[3]: pair interval.
#: Returns {1, delay, start} when a start was booked, {0, delay, 0} when the recipient's pair
#: limit is not open yet (nothing booked: ask again after the delay).
ACQUIRE_SCRIPT: Final = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local state = redis.call('HMGET', KEYS[1], 't', 'p')
local tat = tonumber(state[1]) or 0
local pause = tonumber(state[2]) or 0
local start = math.max(now, pause)
local interval = tonumber(ARGV[1])
if interval > 0 then
  tat = math.max(tat, start)
  start = math.max(start, tat - tonumber(ARGV[2]))
end
if #KEYS > 1 then
  local free = tonumber(redis.call('GET', KEYS[2])) or 0
  if free > start then
    return {0, free - now, 0}
  end
  local until_free = start + tonumber(ARGV[3])
  redis.call('SET', KEYS[2], string.format('%.0f', until_free),
             'PX', math.ceil((until_free - now) / 1000) + 1)
end
if interval > 0 then
  tat = tat + interval
  redis.call('HSET', KEYS[1], 't', string.format('%.0f', tat))
  redis.call('PEXPIRE', KEYS[1], math.ceil((math.max(tat, pause) - now) / 1000) + 60000)
end
return {1, start - now, start}
"""

#: Pauses a scope: no start before now + ARGV[1] microseconds (a later pause is kept), and
#: tells every limiter of the account (PUBLISH on ARGV[2], "<scope> <end>"). Returns the end.
PAUSE_SCRIPT: Final = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local wanted = now + tonumber(ARGV[1])
local state = redis.call('HMGET', KEYS[1], 't', 'p')
local pause = tonumber(state[2]) or 0
if wanted <= pause then
  return pause
end
redis.call('HSET', KEYS[1], 'p', string.format('%.0f', wanted))
local tat = tonumber(state[1]) or 0
redis.call('PEXPIRE', KEYS[1], math.ceil((math.max(tat, wanted) - now) / 1000) + 60000)
redis.call('PUBLISH', ARGV[2], ARGV[3] .. ' ' .. string.format('%.0f', wanted))
return wanted
"""

_MICRO: Final = 1_000_000
#: A start found too late is booked again at most this many times in a row, then goes.
_REBOOKS: Final = 3
_SCOPES: Final = {scope.value: scope for scope in Scope}


def _unavailable(exc: BaseException) -> LimiterUnavailableError:
    return LimiterUnavailableError(f"redis rate limiter unavailable: {describe(exc)}")


def _digest(value: str, size: int) -> str:
    return digest(value, size, b"d360-limit")


def _rate(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValidationError(name, "must be a positive number of requests per second or None")
    if not math.isfinite(value):
        raise ValidationError(name, "must be finite")
    return float(value)


class _ScopeState:
    """A scope's key, script arguments, and the requests of this process sleeping on it."""

    __slots__ = ("args", "key", "pause_end", "rate", "sleepers")

    def __init__(self, key: str, rate: float | None, burst: int, pair_us: float) -> None:
        self.key = key
        self.rate = rate
        interval = _MICRO / rate if rate else 0.0
        self.args = (repr(interval), repr(interval * (burst - 1)), repr(pair_us))
        #: The latest pause end heard of (server microseconds).
        self.pause_end = 0
        #: Sleeping requests: their wake-up future -> the start they booked.
        self.sleepers: dict[asyncio.Future[bool], int] = {}


class _Usual:
    """The usual value of a measure: follows the lowest seen at once and higher ones slowly
    (a hundredth of the way per value), so that a spike stands out while a lasting change
    (a clock set forward, a host that got slower) becomes the new usual.

    Example:
        >>> lateness = _Usual()
        >>> [round(lateness.usual(seen), 3) for seen in (0.002, 0.001, 0.5, 0.001)]
        [0.002, 0.001, 0.006, 0.001]
    """

    __slots__ = ("value",)

    def __init__(self, value: float = math.inf) -> None:
        self.value = value

    def usual(self, seen: float) -> float:
        """Take ``seen`` into account; returns the usual value."""
        value = self.value
        self.value = value = seen if seen < value else value + 0.01 * (seen - value)
        return value


def _wake(future: asyncio.Future[bool], slot_reached: bool) -> None:
    if not future.done():
        future.set_result(slot_reached)


class RedisRateLimiter:
    """A ``RateLimiter`` on Redis or Valkey, shared by every process that uses the same account.

    Args:
        redis: A ``redis://`` (or ``rediss://``, ``unix://``) URL, or a ``redis.asyncio.Redis``
            client to use as is (not closed by ``aclose``). A URL gets its own blocking
            connection pool of ``max_connections``.
        account: What the limit belongs to: the business phone number (Meta's limit is per
            number) or the API key of its channel. Every limiter with the same ``account``,
            ``prefix`` and server shares one limit. Only a digest of it is stored.
        rate: Marketing messages per second for the account (Meta: 80 by default, up to 1,000).
        events_rate: Conversions API requests per second (None: not rate limited, pauses
            still apply).
        reads_rate: Requests per second for reads (templates, analytics, insights); None: not
            limited, pauses still apply.
        burst: How many requests may start at once after a quiet spell (1: every start is
            ``1/rate`` after the previous one).
        pair_interval: Seconds between two messages to the same recipient (Meta's pair
            limit is about 6); None turns the pair limit off. Applies to requests that carry a
            recipient ``key``.
        timeout: Seconds any call to the server may take; beyond it ``acquire`` raises
            ``LimiterUnavailableError`` (the request is not sent).
        max_lateness: Seconds a request may start later than this process's usual lateness
            behind its booked time. A process that reaches its start later (a stalled event
            loop, an answer slower than usual) books again (up to 3 times in a row) instead of
            sending late: a stall never turns into a burst.
        max_connections: Size of the connection pool made for a URL; callers wait for a free
            connection (within ``timeout``) rather than fail.
        prefix: First part of every key.

    Raises:
        ValidationError: A rate, burst, interval or timeout that is not positive.

    Example:
        >>> limiter = RedisRateLimiter("redis://localhost:6379/0", account="4930123456",
        ...                            rate=1000, pair_interval=6.0)
        >>> limiter
        RedisRateLimiter(account=<digest 62609543...>, messages=1000.0/s, pair_interval=6.0)
        >>> limiter.rate(Scope.MESSAGES), limiter.rate(Scope.EVENTS)
        (1000.0, None)
    """

    def __init__(
        self,
        redis: str | aioredis.Redis,
        *,
        account: str,
        rate: float = 80.0,
        events_rate: float | None = None,
        reads_rate: float | None = None,
        burst: int = 1,
        pair_interval: float | None = None,
        timeout: float = 2.0,
        max_lateness: float = 0.025,
        max_connections: int = 64,
        prefix: str = "d360",
    ) -> None:
        if not isinstance(account, str) or not account.strip():
            raise ValidationError("account", "must be a non-empty string")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValidationError("burst", "must be an integer of at least 1")
        self._timeout = positive("timeout", timeout)
        pair = None if pair_interval is None else positive("pair_interval", pair_interval)
        self._pair_interval = pair
        pair_us = (pair or 0.0) * _MICRO
        self._tag = _digest(account.strip(), 12)
        base = f"{prefix}:{{{self._tag}}}"
        rates = {
            Scope.MESSAGES: _rate("rate", rate),
            Scope.EVENTS: _rate("events_rate", events_rate),
            Scope.READS: _rate("reads_rate", reads_rate),
        }
        if rates[Scope.MESSAGES] is None:
            raise ValidationError("rate", "must be a positive number of messages per second")
        self._scopes = {
            scope: _ScopeState(f"{base}:{scope.value}", value, burst, pair_us)
            for scope, value in rates.items()
        }
        self._pair_prefix = f"{base}:pair:"
        self._channel = f"{base}:pause"
        self._redis, self._own = connect(
            redis, max_connections=max_connections, timeout=self._timeout
        )
        self._acquire = self._redis.register_script(ACQUIRE_SCRIPT)
        self._pause = self._redis.register_script(PAUSE_SCRIPT)
        self._listener: asyncio.Task[None] | None = None
        self._subscribing: asyncio.Lock | None = None
        self._round_trips = 0
        self._rebooked = 0
        self._max_lateness = positive("max_lateness", max_lateness)
        # Our clock minus the server's as usually seen when an answer arrives (the clocks'
        # difference plus the answer's way back); and how late our starts usually are.
        self._skew = _Usual()
        self._lateness = _Usual(0.0)  # on time, until a process shows it is slower

    def __repr__(self) -> str:
        rates = "".join(
            f", {scope.value}={state.rate}/s"
            for scope, state in self._scopes.items()
            if state.rate is not None
        )
        pair = "" if self._pair_interval is None else f", pair_interval={self._pair_interval}"
        return f"RedisRateLimiter(account=<digest {self._tag[:8]}...>{rates}{pair})"

    def rate(self, scope: Scope) -> float | None:
        """Requests per second allowed for ``scope`` (None: not rate limited)."""
        return self._scopes[Scope(scope)].rate

    @property
    def rebooked(self) -> int:
        """Starts given up because this process reached them too late (``max_lateness``)."""
        return self._rebooked

    @property
    def round_trips(self) -> int:
        """Calls made to the server so far: one per request (the script), one per pause, and
        three when (re)connecting (subscribe to pauses, load the two scripts)."""
        return self._round_trips

    async def acquire(self, scope: Scope, *, key: str | None = None) -> None:
        """Wait until one request of ``scope`` may start, and book its start.

        Args:
            scope: What the request is.
            key: An opaque per-recipient key (a digest); with ``pair_interval`` set, two
                requests with the same key start at least ``pair_interval`` apart.

        Raises:
            LimiterUnavailableError: The server did not answer within ``timeout`` or failed.
        """
        state = self._scopes[scope]
        if key is not None and self._pair_interval is not None:
            keys: tuple[str, ...] = (state.key, self._pair_prefix + _digest(key, 16))
        else:
            keys = (state.key,)
        if self._listener is None:
            await self._listen()
        rebooks = 0
        while True:
            booked, delay, slot = await self._call(self._acquire, keys, state.args)
            if not booked:  # the recipient's pair limit: nothing booked, ask again then
                await asyncio.sleep(delay / _MICRO)
                continue
            if slot < state.pause_end:  # booked before a pause we have heard of
                await asyncio.sleep((state.pause_end - slot) / _MICRO)
                continue
            # where the server's clock stands on ours, answer's way included (see _usual)
            skew = self._skew.usual(time.time() - (slot - delay) / _MICRO)
            # Wait for the booked start as placed on our clock, not for ``delay`` from when
            # this answer came: answers that come back unevenly (a burst of bookings queued
            # at the server, a busy event loop) would shift starts by their own latency and
            # bunch them up (more than the rate in a second). Never early: skew >= offset.
            wait = slot / _MICRO + skew - time.time()
            if wait > 0 and not await self._sleep(state, wait, slot):
                continue  # a pause covers the start: book again after it
            # How much later than usual this start is, on the server's clock. A process that
            # stalled books again rather than sending its overdue starts all at once (a burst
            # the server would throttle); one that is merely slow all along sends each start
            # equally late (no burst), and after a few tries any start goes (no starvation).
            # Waiting for a connection before the script ran does not count.
            late = time.time() - skew - slot / _MICRO
            if late - self._lateness.usual(late) <= self._max_lateness or rebooks >= _REBOOKS:
                return
            rebooks += 1
            self._rebooked += 1

    async def pause(self, scope: Scope, seconds: float) -> None:
        """No request of ``scope`` starts for ``seconds`` from now, in any process of the
        account; requests already booked inside the pause are booked again after it.

        Raises:
            LimiterUnavailableError: The server did not answer within ``timeout`` or failed.
        """
        if not seconds > 0:
            return
        state = self._scopes[scope]
        args = (repr(seconds * _MICRO), self._channel, scope.value)
        end = await self._call(self._pause, (state.key,), args)
        self._paused(scope, int(end))

    async def aclose(self) -> None:
        """Stop listening for pauses; close the connection pool made for a URL."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
        if self._own:
            await self._redis.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- internals -------------------------------------------------------------------------

    async def _call(self, script: Any, keys: tuple[str, ...], args: tuple[str, ...]) -> Any:
        self._round_trips += 1
        try:
            async with asyncio.timeout(self._timeout):
                return await script(keys=keys, args=args)
        except REDIS_ERRORS as exc:
            raise _unavailable(exc) from exc

    async def _sleep(self, state: _ScopeState, seconds: float, slot: int) -> bool:
        """Sleep until the booked start; False when a pause covering it woke us early."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        timer = loop.call_later(seconds, _wake, future, True)
        state.sleepers[future] = slot
        try:
            return await future
        finally:
            timer.cancel()
            del state.sleepers[future]

    def _paused(self, scope: Scope, end: int) -> None:
        """A pause of ``scope`` until ``end``: wake whoever booked a start before it."""
        state = self._scopes[scope]
        if end <= state.pause_end:
            return
        state.pause_end = end
        for future, slot in list(state.sleepers.items()):
            if slot < end:
                _wake(future, False)

    async def _listen(self) -> None:
        """Subscribe to the account's pauses and load the scripts (once; again after the
        subscription broke)."""
        if self._subscribing is None:
            self._subscribing = asyncio.Lock()
        async with self._subscribing:
            if self._listener is not None:
                return
            self._round_trips += 3
            pubsub: Any = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                async with asyncio.timeout(self._timeout):
                    await pubsub.subscribe(self._channel)
                    # loaded now, not by the first requests racing to EVALSHA a missing script
                    await self._redis.script_load(ACQUIRE_SCRIPT)
                    await self._redis.script_load(PAUSE_SCRIPT)
            except REDIS_ERRORS as exc:
                await pubsub.aclose()
                raise _unavailable(exc) from exc
            self._listener = asyncio.create_task(self._receive(pubsub))

    async def _receive(self, pubsub: Any) -> None:
        try:
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                if message is None or message.get("type") != "message":
                    continue
                data = message["data"]
                name, _, end = (data.decode() if isinstance(data, bytes) else data).partition(" ")
                scope = _SCOPES.get(name)
                if scope is not None and end.isdigit():
                    self._paused(scope, int(end))
        except (RedisError, OSError):
            pass  # the connection broke: the next acquire subscribes again (or fails closed)
        finally:
            if self._listener is asyncio.current_task():
                self._listener = None
            await pubsub.aclose()
