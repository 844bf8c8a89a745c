"""Throughput limits: the per-key token bucket (130429) and the pair limit (131056)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from d360_async.testing import Emulator
from d360_async.testing._ratelimit import PairLimiter, TokenBucket, retry_after_header

from ._helpers import call, message, meta_error


class FakeClock:
    """A manually advanced monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_refills_at_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=4, capacity=2, clock=clock)

    assert [bucket.acquire() for _ in range(3)] == [0.0, 0.0, 0.25]
    clock.now += 0.25
    assert bucket.acquire() == 0.0
    clock.now += 10
    assert [bucket.acquire() for _ in range(3)] == [0.0, 0.0, 0.25]  # capped at capacity


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert [retry_after_header(w) for w in (0.01, 1.0, 1.2)] == [1, 1, 2]


def test_pair_limiter_sliding_window() -> None:
    clock = FakeClock()
    pairs = PairLimiter(limit=2, window=6.0, clock=clock)

    assert [pairs.allow("k", "1") for _ in range(3)] == [True, True, False]
    assert pairs.allow("other-key", "1")
    assert pairs.allow("k", "2")
    clock.now += 5.9
    assert not pairs.allow("k", "1")
    clock.now += 0.2
    assert pairs.allow("k", "1")


async def test_send_rate_limit_answers_429_with_retry_after(http: aiohttp.ClientSession) -> None:
    clock = FakeClock()
    async with Emulator(rate=2, clock=clock) as emu:
        results = [
            await call(http, emu, "POST", "/marketing_messages", json=message(to=f"+49151{i:08d}"))
            for i in range(3)
        ]
        clock.now += 0.5
        later, _, _ = await call(
            http, emu, "POST", "/marketing/marketing_messages", json=message(to="+4915199999999")
        )

    assert [status for status, _, _ in results] == [200, 200, 429]
    _, body, response = results[2]
    assert response.headers["Retry-After"] == "1"
    assert meta_error(body)["code"] == 130429
    assert later == 200
    assert emu.rate_limited == 1
    assert len(emu.sent_messages) == 3


async def test_rate_limit_is_per_key_and_only_on_sends(http: aiohttp.ClientSession) -> None:
    clock = FakeClock()
    async with Emulator(rate=1, api_keys=["b"], clock=clock) as emu:
        a1, _, _ = await call(
            http, emu, "POST", "/marketing_messages", json=message(to="+4915100000001")
        )
        a2, _, _ = await call(
            http, emu, "POST", "/marketing_messages", json=message(to="+4915100000002")
        )
        b1, _, _ = await call(
            http, emu, "POST", "/marketing_messages", key="b", json=message(to="+4915100000003")
        )
        templates, _, _ = await call(http, emu, "GET", "/marketing/message_templates")

    assert (a1, a2, b1, templates) == (200, 429, 200, 200)


async def test_burst_sets_bucket_capacity(http: aiohttp.ClientSession) -> None:
    clock = FakeClock()
    async with Emulator(rate=1, burst=5, clock=clock) as emu:
        statuses = [
            (
                await call(
                    http, emu, "POST", "/marketing_messages", json=message(to=f"+49151{i:08d}")
                )
            )[0]
            for i in range(6)
        ]
    assert statuses == [200] * 5 + [429]


async def test_default_limit_uses_the_loop_clock(http: aiohttp.ClientSession) -> None:
    """80/s by default: a burst of 200 concurrent sends gets 429s, and nothing is lost."""
    async with Emulator() as emu:
        results = await asyncio.gather(
            *(
                call(http, emu, "POST", "/marketing_messages", json=message(to=f"+49151{i:08d}"))
                for i in range(200)
            )
        )
    statuses = [status for status, _, _ in results]
    assert 80 <= statuses.count(200) < 200
    assert statuses.count(200) + statuses.count(429) == 200
    assert statuses.count(429) == emu.rate_limited
    assert len(emu.sent_messages) == statuses.count(200)


async def test_pair_rate_limit_answers_131056(http: aiohttp.ClientSession) -> None:
    clock = FakeClock()
    async with Emulator(rate=None, pair_rate_limit=True, pair_window=6.0, clock=clock) as emu:
        first, _, _ = await call(
            http, emu, "POST", "/marketing_messages", json=message(to="+4915100000001")
        )
        second, body, _ = await call(
            http, emu, "POST", "/marketing_messages", json=message(to="+4915100000001")
        )
        other, _, _ = await call(
            http, emu, "POST", "/marketing_messages", json=message(to="+4915100000002")
        )
        clock.now += 6.0
        later, _, _ = await call(
            http, emu, "POST", "/marketing_messages", json=message(to="+4915100000001")
        )

    assert (first, second, other, later) == (200, 400, 200, 200)
    assert meta_error(body)["code"] == 131056
    assert emu.pair_rate_limited == 1
    assert emu.accepted_counts() == {"4915100000001": 2, "4915100000002": 1}


@pytest.mark.parametrize(
    "options",
    [
        {"rate": 0},
        {"rate": -1},
        {"burst": 0},
        {"pair_rate_limit": -2},
        {"fault_rate": 1.5},
        {"faults": ["boom"]},
        {"fault_kinds": ["418"]},
        {"latency_ms": -1},
        {"api_key": ""},
    ],
)
def test_invalid_options_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the messages are checked elsewhere
        Emulator(**options)  # type: ignore[arg-type]
