"""Client-side rate limiting on the event loop's clock (faked by looptime, so no real waiting):
the token bucket, a limiter shared by clients, retries paying for tokens, and the pause after a
429: per scope, kept in the limiter, so shared by the clients sharing it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiohttp import ClientSession
from aioresponses import CallbackResult, aioresponses

from d360_async import (
    AsyncLimiter,
    D360Client,
    LimiterUnavailableError,
    LocalLimiter,
    RateLimitError,
    RetryPolicy,
    Scope,
    ValidationError,
)
from d360_async._limits import make_limiter
from d360_async._outcome import may_have_been_acted_upon

from . import samples
from .conftest import KEY
from .test_operations import url

# Bucket periods are binary-exact (1, 0.25, 0.125 s): looptime steps the clock exactly, and an
# inexact period such as 0.2 s can leave aiolimiter waiting on a rounding residue forever.
pytestmark = pytest.mark.looptime
MESSAGE = {"to": "4915112345678", "template": {"name": "promo", "language": {"code": "en"}}}


def record_times(times: list[float]) -> Any:
    def callback(_url: Any, **_kwargs: Any) -> CallbackResult:
        times.append(asyncio.get_running_loop().time())
        return CallbackResult(payload=samples.SEND_OK)

    return callback


@pytest.mark.parametrize(("n", "rate", "bucket"), [(50, 10.0, 10), (30, 4.0, 1), (40, 64.0, 8)])
async def test_n_requests_take_at_least_n_minus_bucket_over_rate(
    mock_api: aioresponses, n: int, rate: float, bucket: int
) -> None:
    times: list[float] = []
    mock_api.post(url("/marketing_messages"), callback=record_times(times), repeat=True)
    limiter = AsyncLimiter(bucket, bucket / rate)
    loop = asyncio.get_running_loop()
    async with D360Client(KEY, rate_limit=limiter, retry=RetryPolicy.never()) as client:
        start = loop.time()
        await asyncio.gather(*(client.send_marketing_message(MESSAGE) for _ in range(n)))
        elapsed = loop.time() - start
    assert len(times) == n
    assert elapsed >= (n - bucket) / rate - 1e-9
    assert elapsed <= (n - bucket) / rate + 1.0 / rate  # and not slower than it has to be
    # No window of one second ever holds more than one bucket plus a second of refill.
    for t in times:
        assert sum(1 for u in times if t <= u < t + 1.0) <= bucket + rate + 1e-9


def test_default_limiter_is_80_sends_per_second_in_bursts_of_10() -> None:
    assert repr(make_limiter(80)) == "LocalLimiter(messages=80/s)"
    assert repr(make_limiter(2)) == "LocalLimiter(messages=2/s)"
    assert repr(D360Client(KEY).limiter) == "LocalLimiter(messages=80/s)"


async def test_a_rate_is_kept_in_small_bursts(mock_api: aioresponses) -> None:
    # 64/s (binary-exact waits on the virtual clock; 80/s is the same code with other numbers).
    times: list[float] = []
    mock_api.post(url("/marketing_messages"), callback=record_times(times), repeat=True)
    loop = asyncio.get_running_loop()
    async with D360Client(KEY, rate_limit=64, retry=RetryPolicy.never()) as client:
        start = loop.time()
        await asyncio.gather(*(client.send_marketing_message(MESSAGE) for _ in range(200)))
        elapsed = loop.time() - start
    # A bucket of 8 (an eighth of a second's worth), refilled at 64/s.
    assert elapsed == pytest.approx((200 - 8) / 64, abs=0.02)
    assert sum(1 for t in times if t - start < 0.001) == 8


async def test_one_limiter_shared_by_two_clients(mock_api: aioresponses) -> None:
    mock_api.post(url("/marketing_messages"), payload=samples.SEND_OK, repeat=True)
    shared = AsyncLimiter(5, 1.0)  # 5 per second between both clients
    loop = asyncio.get_running_loop()
    async with (
        D360Client(KEY, rate_limit=shared, retry=RetryPolicy.never()) as a,
        D360Client(KEY, rate_limit=shared, retry=RetryPolicy.never()) as b,
    ):
        start = loop.time()
        await asyncio.gather(
            *(c.send_marketing_message(MESSAGE) for c in [a, b] * 10)  # 20 in all
        )
        elapsed = loop.time() - start
    assert elapsed >= (20 - 5) / 5


async def test_retries_acquire_the_limiter_too(mock_api: aioresponses) -> None:
    mock_api.get(url("/marketing/77"), status=503, payload={"error": "busy"})
    mock_api.get(url("/marketing/77"), payload=samples.TEMPLATE)
    loop = asyncio.get_running_loop()
    async with D360Client(
        KEY, rate_limit=AsyncLimiter(1, 2.0), retry=RetryPolicy(wait=False)
    ) as client:
        start = loop.time()
        await client.get_message_template("77")
        # The retry needed a second token: one every 2 s.
        assert loop.time() - start == pytest.approx(2.0)


async def test_a_429_pauses_every_request_of_the_client(mock_api: aioresponses) -> None:
    times: list[float] = []
    mock_api.post(url("/marketing_messages"), status=429, headers={"Retry-After": "5"})
    mock_api.post(url("/marketing_messages"), callback=record_times(times), repeat=True)
    loop = asyncio.get_running_loop()
    async with D360Client(KEY, rate_limit=None, retry=RetryPolicy(deadline=None)) as client:
        start = loop.time()
        first = asyncio.create_task(client.send_marketing_message(MESSAGE))
        await asyncio.sleep(1.0)  # the 429 has come back by now
        assert isinstance(client.limiter, LocalLimiter)
        assert client.limiter.paused_until(Scope.MESSAGES) == pytest.approx(start + 5.0)
        others = [client.send_marketing_message(MESSAGE) for _ in range(3)]
        await asyncio.gather(first, *others)
    # The retry of the throttled request and the three later ones all waited for t = 5.
    assert len(times) == 4
    assert min(times) - start == pytest.approx(5.0)


async def test_cool_down_is_per_client(mock_api: aioresponses) -> None:
    times: list[float] = []
    mock_api.post(url("/marketing_messages"), status=429, headers={"Retry-After": "5"})
    mock_api.post(url("/marketing_messages"), callback=record_times(times), repeat=True)
    loop = asyncio.get_running_loop()
    async with (
        D360Client(KEY, rate_limit=None, retry=RetryPolicy.never()) as throttled,
        D360Client(KEY, rate_limit=None) as other,
    ):
        start = loop.time()
        with pytest.raises(Exception, match="429"):
            await throttled.send_marketing_message(MESSAGE)
        await other.send_marketing_message(MESSAGE)
    assert times == [pytest.approx(start)]


async def test_injected_session_is_used_and_left_open(mock_api: aioresponses) -> None:
    mock_api.post(url("/marketing_messages"), payload=samples.SEND_OK)
    async with ClientSession() as session:
        async with D360Client(KEY, session=session) as client:
            await client.send_marketing_message(MESSAGE)
        assert not session.closed
    assert len(mock_api.requests) == 1


@pytest.mark.parametrize("junk", [0, -1, float("nan"), float("inf"), True, "80", object()])
def test_rate_limit_must_be_a_positive_rate_or_a_limiter(junk: Any) -> None:
    with pytest.raises(ValidationError, match="rate_limit"):
        D360Client(KEY, rate_limit=junk)


async def test_time_waited_in_a_cool_down_is_not_logged_as_request_time(
    mock_api: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    mock_api.post(url("/marketing_messages"), status=429, headers={"Retry-After": "5"})
    mock_api.post(url("/marketing_messages"), payload=samples.SEND_OK, repeat=True)
    caplog.set_level(logging.DEBUG, logger="d360_async")
    async with D360Client(KEY, rate_limit=None, retry=RetryPolicy(deadline=None)) as client:
        first = asyncio.create_task(client.send_marketing_message(MESSAGE))
        await asyncio.sleep(1.0)  # the 429 has come back: a cool-down until t = 5
        caplog.clear()
        await client.send_marketing_message(MESSAGE)  # waits 4 s, then takes no time at all
        await first
    lines = [r.getMessage() for r in caplog.records if "-> 200" in r.getMessage()]
    assert sorted(lines) == [
        "POST /marketing_messages -> 200 attempt=1 elapsed=0.000s",  # the later request
        "POST /marketing_messages -> 200 attempt=2 elapsed=0.000s",  # the throttled one's retry
    ]


# --- the pause lives in the limiter, per scope ------------------------------------------------


async def test_two_clients_sharing_an_async_limiter_share_its_pause(
    mock_api: aioresponses,
) -> None:
    times: list[float] = []
    mock_api.post(url("/marketing_messages"), status=429, headers={"Retry-After": "5"})
    mock_api.post(url("/marketing_messages"), callback=record_times(times), repeat=True)
    shared = AsyncLimiter(100, 1.0)
    loop = asyncio.get_running_loop()
    async with (
        D360Client(KEY, rate_limit=shared, retry=RetryPolicy.never()) as throttled,
        D360Client(KEY, rate_limit=shared) as other,
    ):
        start = loop.time()
        with pytest.raises(RateLimitError):
            await throttled.send_marketing_message(MESSAGE)
        await other.send_marketing_message(MESSAGE)
    assert times == [pytest.approx(start + 5.0)]


async def test_two_clients_sharing_a_limiter_share_its_pause(mock_api: aioresponses) -> None:
    times: list[float] = []
    mock_api.post(url("/marketing_messages"), status=429, headers={"Retry-After": "5"})
    mock_api.post(url("/marketing_messages"), callback=record_times(times), repeat=True)
    shared = LocalLimiter(messages=None)
    loop = asyncio.get_running_loop()
    async with (
        D360Client(KEY, rate_limit=shared, retry=RetryPolicy(deadline=None)) as a,
        D360Client(KEY, rate_limit=shared) as b,
    ):
        start = loop.time()
        first = asyncio.create_task(a.send_marketing_message(MESSAGE))
        await asyncio.sleep(1.0)  # a's 429 has come back: a pause until t = 5 for both
        await b.send_marketing_message(MESSAGE)
        await first
    assert times == [pytest.approx(start + 5.0)] * 2


async def test_a_throttled_read_does_not_pause_sends(mock_api: aioresponses) -> None:
    sends: list[float] = []
    reads: list[float] = []
    insights = url("/marketing/act_1/insights")
    mock_api.get(insights, status=429, headers={"Retry-After": "30"})
    mock_api.get(insights, callback=record_times(reads), repeat=True)
    mock_api.post(url("/marketing_messages"), callback=record_times(sends), repeat=True)
    loop = asyncio.get_running_loop()
    async with D360Client(KEY, rate_limit=None, retry=RetryPolicy.never()) as client:
        start = loop.time()
        with pytest.raises(RateLimitError):
            await client.get_ad_object_insights("act_1")
        await client.send_marketing_message(MESSAGE)  # at once
        await client.get_ad_object_insights("act_1")  # waits out the reads' pause
    assert sends == [pytest.approx(start)]
    assert reads == [pytest.approx(start + 30.0)]


class Recording:
    """A ``RateLimiter`` of the test's own: records what the transport asks of it."""

    def __init__(self) -> None:
        self.acquired: list[tuple[Scope, str | None]] = []
        self.paused: list[tuple[Scope, float]] = []

    async def acquire(self, scope: Scope, *, key: str | None = None) -> None:
        self.acquired.append((scope, key))

    async def pause(self, scope: Scope, seconds: float) -> None:
        self.paused.append((scope, seconds))


async def test_any_rate_limiter_gets_scopes_digests_and_pauses(mock_api: aioresponses) -> None:
    mock_api.post(url("/marketing_messages"), status=429, headers={"Retry-After": "7"})
    mock_api.post(url("/marketing_messages"), payload=samples.SEND_OK)
    mock_api.post(url("/marketing/55/events"), payload=samples.EVENTS_OK)
    mock_api.get(url("/marketing/77"), payload=samples.TEMPLATE)
    limiter = Recording()
    async with D360Client(KEY, rate_limit=limiter, retry=RetryPolicy(deadline=None)) as client:
        assert client.limiter is limiter
        await client.send_marketing_message(MESSAGE)
        await client.post_conversion_events(
            "55", [{"event_name": "Purchase", "event_time": 1795608000, "event_id": "e1"}]
        )
        await client.get_message_template("77")
    scopes = [scope for scope, _ in limiter.acquired]
    assert scopes == [Scope.MESSAGES, Scope.MESSAGES, Scope.EVENTS, Scope.READS]
    keys = [key for _, key in limiter.acquired]
    assert keys[0] == keys[1] and keys[0] is not None and keys[2:] == [None, None]
    assert "15112345678" not in keys[0] and len(keys[0]) == 32  # a digest, not the number
    assert limiter.paused == [(Scope.MESSAGES, 7.0)]


class Broken:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def acquire(self, scope: Scope, *, key: str | None = None) -> None:
        raise self.error

    async def pause(self, scope: Scope, seconds: float) -> None:
        raise self.error


async def test_a_failing_limiter_fails_closed(mock_api: aioresponses) -> None:
    mock_api.post(url("/marketing_messages"), payload=samples.SEND_OK, repeat=True)
    limiter = Broken(ConnectionRefusedError(111, "Connection refused"))
    async with D360Client(KEY, rate_limit=limiter) as client:
        with pytest.raises(LimiterUnavailableError, match="Connection refused") as info:
            await client.send_marketing_message(MESSAGE)
    assert not mock_api.requests
    assert not may_have_been_acted_upon(info.value)


async def test_a_limiter_error_of_its_own_passes_through(mock_api: aioresponses) -> None:
    error = LimiterUnavailableError("redis is down")
    async with D360Client(KEY, rate_limit=Broken(error)) as client:
        with pytest.raises(LimiterUnavailableError) as info:
            await client.get_message_template("77")
    assert info.value is error
    assert not mock_api.requests


def test_the_same_async_limiter_gives_the_same_limiter() -> None:
    shared = AsyncLimiter(5, 1.0)
    assert D360Client(KEY, rate_limit=shared).limiter is D360Client(KEY, rate_limit=shared).limiter
    assert D360Client(KEY, rate_limit=5).limiter is not D360Client(KEY, rate_limit=5).limiter
