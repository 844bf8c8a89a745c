"""``RedisRateLimiter`` against a real valkey-server: the shared schedule, pauses, the pair
limit, fail-closed behaviour and what reaches Redis.

Timing assertions here are lower bounds ("not before"), which a loaded machine cannot break:
the limiter's promise is that requests never start early. What must not wait is shown by the
script's answers (``Bookings``: the start booked on the server's clock and the delay to it),
never by how fast this machine ran; a hang is bounded by the test's timeout.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from d360_async import LimiterUnavailableError, ValidationError
from d360_async._limits import RateLimiter, Scope
from d360_async.redis import RedisRateLimiter

from .conftest import Bookings, RedisProcess, busiest

ACCOUNT = "4930123456789"
#: Scheduling slack: the timers of the event loop may fire a hair early.
EPSILON = 0.002


@pytest.fixture
async def raw(redis_server: RedisProcess) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        await client.aclose()


async def server_time(raw: aioredis.Redis) -> float:
    seconds, micros = await raw.time()
    return seconds + micros / 1e6


async def starts(limiter: RedisRateLimiter, n: int, scope: Scope = Scope.MESSAGES) -> list[float]:
    """Wall-clock times at which ``n`` concurrent acquires were let through, sorted."""

    async def one() -> float:
        await limiter.acquire(scope)
        return time.time()

    return sorted(await asyncio.gather(*(one() for _ in range(n))))


def test_is_a_rate_limiter() -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", account=ACCOUNT)
    assert isinstance(limiter, RateLimiter)
    assert ACCOUNT not in repr(limiter)


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("rate", {"rate": 0}),
        ("rate", {"rate": -5}),
        ("rate", {"rate": float("inf")}),
        ("events_rate", {"events_rate": 0}),
        ("burst", {"burst": 0}),
        ("pair_interval", {"pair_interval": 0}),
        ("timeout", {"timeout": 0}),
        ("account", {"account": " "}),
        ("max_connections", {"max_connections": 0}),
    ],
)
def test_bad_settings_name_the_field(field: str, kwargs: dict[str, object]) -> None:
    settings: dict[str, object] = {"account": ACCOUNT, **kwargs}
    with pytest.raises(ValidationError) as caught:
        RedisRateLimiter("redis://127.0.0.1:1/0", **settings)  # type: ignore[arg-type]
    assert caught.value.field == field


async def test_two_limiters_share_one_schedule(
    redis_server: RedisProcess, raw: aioredis.Redis
) -> None:
    """Two workers at 20/s each would send 40/s on their own; sharing, they start 1/20 s apart.

    Start times are compared with the server's clock read before the first request (the same
    host clock): the i-th start is never before ``t0 + i/20``.
    """
    async with (
        RedisRateLimiter(redis_server.url, account=ACCOUNT, rate=20) as one,
        RedisRateLimiter(redis_server.url, account=ACCOUNT, rate=20) as two,
    ):
        t0 = await server_time(raw)
        a, b = await asyncio.gather(starts(one, 10), starts(two, 10))
    for i, moment in enumerate(sorted(a + b)):
        assert moment >= t0 + i / 20 - EPSILON


async def test_other_accounts_and_scopes_have_their_own_limit(redis_server: RedisProcess) -> None:
    async with (
        RedisRateLimiter(redis_server.url, account=ACCOUNT, rate=0.2, events_rate=0.2) as mine,
        RedisRateLimiter(redis_server.url, account="another number", rate=0.2) as other,
    ):
        mine_booked, other_booked = Bookings(mine), Bookings(other)
        await mine_booked.acquire(Scope.MESSAGES)  # the account's next message slot: 5 s away
        await other_booked.acquire(Scope.MESSAGES)
        await mine_booked.acquire(Scope.EVENTS)
        await mine_booked.acquire(Scope.READS)  # no reads rate: only pauses apply
    # none waited for that slot: each start was booked at the server's "now"
    answers = mine_booked.answers + other_booked.answers
    assert [(answer.booked, answer.delay) for answer in answers] == [(True, 0)] * 4


async def test_burst_lets_that_many_start_at_once(
    redis_server: RedisProcess, raw: aioredis.Redis
) -> None:
    async with RedisRateLimiter(redis_server.url, account=ACCOUNT, rate=0.5, burst=3) as limiter:
        booked = Bookings(limiter)
        t0 = await server_time(raw)
        times = await starts(limiter, 4)
    slots = sorted(answer.slot for answer in booked.booked())
    assert [answer.delay for answer in booked.answers[:3]] == [0, 0, 0]  # three at once
    assert slots[3] >= slots[0] + 2_000_000  # then one every 2 s (server clock)
    assert times[3] >= t0 + 2.0 - EPSILON


async def test_one_round_trip_per_request(redis_server: RedisProcess, raw: aioredis.Redis) -> None:
    await raw.config_resetstat()
    async with RedisRateLimiter(redis_server.url, account=ACCOUNT, rate=500) as limiter:
        await starts(limiter, 50)
        # one script per request (and per start given up by a stalled process: a loaded
        # machine); subscribe and load the scripts once. Nobody polls.
        again = limiter.rebooked
        assert again < 50  # not every request (none on a quiet machine)
        assert limiter.round_trips == 50 + again + 3
    stats = await raw.info("commandstats")
    assert stats["cmdstat_evalsha"]["calls"] == 50 + again
    assert "cmdstat_eval" not in stats


async def test_pause_holds_every_worker(redis_server: RedisProcess, raw: aioredis.Redis) -> None:
    """A 429 seen by one worker: no other worker's request starts before the pause ends, even
    those that had already booked a start inside it (they book again after it)."""
    async with (
        RedisRateLimiter(redis_server.url, account=ACCOUNT, rate=10) as seen_429,
        RedisRateLimiter(redis_server.url, account=ACCOUNT, rate=10) as worker_b,
        RedisRateLimiter(redis_server.url, account=ACCOUNT, rate=10) as worker_c,
    ):
        for limiter in (worker_b, worker_c):  # subscribed, as they are once they have sent
            await limiter.acquire(Scope.MESSAGES)
        # six requests booked 0.1 s apart, the first few already sleeping
        waiting = [asyncio.ensure_future(starts(limiter, 3)) for limiter in (worker_b, worker_c)]
        await asyncio.sleep(0.05)
        paused_at = await server_time(raw)
        await seen_429.pause(Scope.MESSAGES, 1.0)
        late = sorted(t for group in await asyncio.gather(*waiting) for t in group)
        after = await starts(seen_429, 1)
    assert all(moment >= paused_at + 1.0 - EPSILON for moment in late + after)
    # and after the pause they are spaced again, not released in a burst
    for i, moment in enumerate(late):
        assert moment - late[0] >= i / 10 - EPSILON


async def test_pause_is_never_shortened(redis_server: RedisProcess, raw: aioredis.Redis) -> None:
    async with RedisRateLimiter(redis_server.url, account=ACCOUNT, rate=100) as limiter:
        booked = Bookings(limiter)
        paused_at = await server_time(raw)
        await limiter.pause(Scope.MESSAGES, 2.0)
        await limiter.pause(Scope.MESSAGES, 0.1)  # shorter: the longer pause stays
        await limiter.pause(Scope.MESSAGES, 0)  # nothing
        await booked.acquire(Scope.EVENTS)  # another scope is not paused
        assert booked.answers[0].delay == 0
        slot = await booked.acquire(Scope.MESSAGES)
        assert time.time() >= paused_at + 2.0 - EPSILON
    assert slot >= paused_at * 1e6 + 2_000_000


async def test_a_stalled_process_books_again_instead_of_sending_late(
    redis_server: RedisProcess,
) -> None:
    """A worker whose event loop stalls past its booked start gives the start up and books a
    new one: its overdue requests never go out together as a burst."""
    async with RedisRateLimiter(
        redis_server.url, account=ACCOUNT, rate=10, max_lateness=0.05
    ) as limiter:
        booked = Bookings(limiter)
        await limiter.acquire(Scope.MESSAGES)  # the first start: now
        sleeping = asyncio.ensure_future(starts(limiter, 3))  # booked 0.1, 0.2, 0.3 s ahead
        # the three starts are booked, however slow the host (the recorder has no event to wait on)
        while len(booked.answers) < 4:  # noqa: ASYNC110
            await asyncio.sleep(0.001)
        stalled_until = time.time() + 0.5
        time.sleep(0.5)  # the whole process stalls (a long GC, a CPU-starved host)  # noqa: ASYNC251
        late = await sleeping
        assert limiter.rebooked >= 3
        # booked again after the stall, and spaced as any others: no burst
        for i, moment in enumerate(late):
            assert moment >= stalled_until + i / 10 - EPSILON


async def test_pair_limit_spaces_one_recipient(redis_server: RedisProcess) -> None:
    async with RedisRateLimiter(
        redis_server.url, account=ACCOUNT, rate=100, pair_interval=2.0
    ) as limiter:
        booked = Bookings(limiter)
        began = time.monotonic()
        first = await booked.acquire(key="recipient-digest-1")
        await booked.acquire(key="recipient-digest-2")  # another recipient: not held
        assert booked.answers[1].booked
        assert booked.answers[1].delay <= 10_000  # at most the rate's 1/100 s
        again = await booked.acquire(key="recipient-digest-1")
        assert time.monotonic() - began >= 2.0 - EPSILON
    assert not booked.answers[2].booked  # the pair limit: nothing booked, asked again later
    assert again >= first + 2_000_000


async def test_without_pair_interval_keys_are_not_limited(redis_server: RedisProcess) -> None:
    async with RedisRateLimiter(redis_server.url, account=ACCOUNT, rate=100) as limiter:
        booked = Bookings(limiter)
        for _ in range(3):
            await booked.acquire(key="same-recipient")
    # every answer booked a start (never "the pair limit is not open"), the rate's spacing only
    assert len(booked.used) == 3
    assert all(answer.booked for answer in booked.answers)
    assert booked.answers[0].delay == 0


async def test_keys_are_hash_tagged_digests(
    redis_server: RedisProcess, raw: aioredis.Redis
) -> None:
    """One Cluster slot per account (the ``{...}`` tag); no number or recipient in Redis."""
    recipient = "4915112345678"
    async with RedisRateLimiter(
        redis_server.url, account=ACCOUNT, rate=100, events_rate=5, pair_interval=6.0
    ) as limiter:
        await limiter.acquire(Scope.MESSAGES, key=recipient)
        await limiter.acquire(Scope.EVENTS)
        await limiter.pause(Scope.READS, 0.01)
        keys = sorted(key.decode() for key in await raw.keys("*"))
    assert len(keys) == 4
    tags = {key.split("{", 1)[1].split("}", 1)[0] for key in keys}
    assert len(tags) == 1
    assert all(key.startswith("d360:{") for key in keys)
    for key in keys:
        assert ACCOUNT not in key and recipient not in key
        assert await raw.pttl(key) > 0  # everything expires when idle
        if await raw.type(key) == b"string":
            assert recipient not in (await raw.get(key) or b"").decode()


async def test_unreachable_server_fails_closed(redis_server: RedisProcess) -> None:
    redis_server.stop()
    async with RedisRateLimiter(redis_server.url, account=ACCOUNT, timeout=0.5) as limiter:
        with pytest.raises(LimiterUnavailableError) as caught:
            await limiter.acquire(Scope.MESSAGES)
        with pytest.raises(LimiterUnavailableError):
            await limiter.pause(Scope.MESSAGES, 1.0)
    assert "redis" in str(caught.value)
    assert isinstance(caught.value.__cause__, RedisConnectionError | OSError)  # refused, not a hang


async def test_hung_server_fails_closed_within_the_timeout(
    redis_server: RedisProcess, raw: aioredis.Redis
) -> None:
    """A server that does not answer (frozen: connections open, nothing read) is as good as
    none: the request is not let through, and the limiter gives up after ``timeout``."""
    async with RedisRateLimiter(redis_server.url, account=ACCOUNT, timeout=0.3) as limiter:
        await limiter.acquire(Scope.MESSAGES)  # connected and subscribed
        pid = int((await raw.info("server"))["process_id"])
        os.kill(pid, signal.SIGSTOP)
        try:
            with pytest.raises(LimiterUnavailableError) as caught:
                await limiter.acquire(Scope.MESSAGES)
        finally:
            os.kill(pid, signal.SIGCONT)
        # ended by the limiter's own timeout (asyncio's, or the socket's): not a hang
        assert isinstance(caught.value.__cause__, TimeoutError | RedisTimeoutError)
        await limiter.acquire(Scope.MESSAGES)  # and works again once the server answers


async def test_server_restart_recovers(redis_server: RedisProcess) -> None:
    async with RedisRateLimiter(redis_server.url, account=ACCOUNT, timeout=0.5) as limiter:
        await limiter.acquire(Scope.MESSAGES)
        redis_server.stop()
        with pytest.raises(LimiterUnavailableError):
            await limiter.acquire(Scope.MESSAGES)
        redis_server.start()
        await limiter.acquire(Scope.MESSAGES)
        began = time.monotonic()
        await limiter.pause(Scope.MESSAGES, 0.3)  # pauses reach this limiter again
        await limiter.acquire(Scope.MESSAGES)
        assert time.monotonic() - began >= 0.3 - EPSILON


async def test_given_client_is_used_and_left_open(
    redis_server: RedisProcess, raw: aioredis.Redis
) -> None:
    async with RedisRateLimiter(raw, account=ACCOUNT, rate=50) as limiter:
        await limiter.acquire(Scope.MESSAGES)
    assert await raw.ping()


def busiest_second(slots: list[int]) -> int:
    """The most of ``slots`` (server microseconds) inside any 1-second window."""
    return busiest(slots, 1_000_000)


@pytest.mark.parametrize("burst", [1, 5])
async def test_four_workers_starting_together_book_no_second_above_the_rate(
    redis_server: RedisProcess, burst: int
) -> None:
    """#14 (the shared-limit benchmark's busiest window): four workers start at once, each with
    60 requests waiting (2.4 s of starts at 100/s). The starts booked, and those the requests
    went on, are counted in every 1-second window of the server's clock: never more than the
    rate (plus the burst allowance beyond the first, ``burst - 1``). The start is no burst."""
    rate = 100
    limiters = [
        RedisRateLimiter(redis_server.url, account=ACCOUNT, rate=rate, burst=burst)
        for _ in range(4)
    ]
    recorded = [Bookings(limiter) for limiter in limiters]
    try:
        await asyncio.gather(
            *(booked.acquire() for booked in recorded for _ in range(60)),
        )
    finally:
        for limiter in limiters:
            await limiter.aclose()
    booked = [answer.slot for r in recorded for answer in r.booked()]
    used = [slot for r in recorded for slot, _ in r.used]
    assert len(used) == 240
    if burst == 1:
        assert len(set(used)) == 240  # every start its own slot
    assert busiest_second(booked) <= rate + burst - 1
    assert busiest_second(used) <= rate + burst - 1
    assert busiest_second(used) >= rate - 1  # and the rate is used: the starts are packed


async def test_requests_go_in_the_order_of_their_starts_whatever_their_answers_latency(
    redis_server: RedisProcess,
) -> None:
    """#14 (the start burst): a request waits for its booked start on the server's clock, not
    for ``delay`` counted from when its answer arrived. Answers that come back unevenly (a
    burst of bookings queued at the server, a loaded event loop) must not make later starts
    overtake earlier ones (bunching requests up: more than the rate in a second). Here every
    other answer from the tenth on is held 15 ms (start spacing: 5 ms; those starts are 50 ms
    or more ahead, and 15 ms late is within ``max_lateness``): the requests still go in the
    order of their starts. Order, not speed."""
    async with RedisRateLimiter(redis_server.url, account=ACCOUNT, rate=200) as limiter:
        booked = Bookings(limiter)
        await booked.acquire()  # connected: the next answers come back at once
        recorded = limiter._call
        answers = 0

        async def uneven(script: Any, keys: tuple[str, ...], args: tuple[str, ...]) -> Any:
            nonlocal answers
            answer = await recorded(script, keys, args)
            answers += 1
            if answers > 10 and answers % 2:  # every other answer is held back a while
                await asyncio.sleep(0.015)
            return answer

        limiter._call = uneven  # type: ignore[method-assign]
        await asyncio.gather(*(booked.acquire() for _ in range(20)))
    used = [slot for slot, _ in booked.used[1:]]
    assert len(used) == 20
    # The first starts may be due before their answers come back on a loaded host: those go
    # at once, in the order their answers arrive. From 50 ms ahead on, every start is waited
    # for, the held ones included: they must go in slot order.
    ahead = [slot for slot in used if slot >= min(used) + 50_000]
    assert len(ahead) >= 9
    assert ahead == sorted(ahead)
