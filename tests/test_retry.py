"""The retry matrix (operation x failure -> retried or not), Retry-After, and the bounds
(attempts, deadline). Time is the event loop's, faked by looptime: nothing really waits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

from d360_async import (
    APIConnectionError,
    APIStatusError,
    D360Client,
    Hooks,
    InternalServerError,
    LocalLimiter,
    RateLimitError,
    RetryPolicy,
    Scope,
)
from d360_async._outcome import may_have_been_acted_upon

from . import samples
from .conftest import KEY, requests_to
from .test_operations import url

Call = Callable[[D360Client], Awaitable[Any]]
MESSAGE = {"to": "4915112345678", "template": {"name": "promo", "language": {"code": "en"}}}
EVENT = {"event_name": "Purchase", "event_time": 1795608000}

# (name, method, path, call, success body, is a send)
OPERATIONS: list[tuple[str, str, str, Call, dict[str, Any], bool]] = [
    (
        "get_dataset_quality",
        "GET",
        "/marketing/dataset_quality",
        lambda c: c.get_dataset_quality("1"),
        samples.DATASET_QUALITY,
        False,
    ),
    (
        "send_marketing_message",
        "POST",
        "/marketing_messages",
        lambda c: c.send_marketing_message(MESSAGE),
        samples.SEND_OK,
        True,
    ),
    (
        "send_marketing_message_alt",
        "POST",
        "/marketing/marketing_messages",
        lambda c: c.send_marketing_message_alt(MESSAGE),
        samples.SEND_OK,
        True,
    ),
    (
        "get_message_templates",
        "GET",
        "/marketing/message_templates",
        lambda c: c.get_message_templates(),
        samples.TEMPLATES_PAGE_2,
        False,
    ),
    (
        "get_message_template",
        "GET",
        "/marketing/77",
        lambda c: c.get_message_template("77"),
        samples.TEMPLATE,
        False,
    ),
    (
        "get_template_analytics",
        "GET",
        "/marketing/template_analytics",
        lambda c: c.get_template_analytics(start=1, end=2, template_ids=["1"]),
        samples.ANALYTICS,
        False,
    ),
    (
        "enable_template_analytics",
        "POST",
        "/marketing/template_analytics",
        lambda c: c.enable_template_analytics(),
        samples.ENABLE_ANALYTICS,
        False,
    ),
    (
        "get_ad_object_insights",
        "GET",
        "/marketing/act_1/insights",
        lambda c: c.get_ad_object_insights("act_1"),
        samples.INSIGHTS_PAGE_2,
        False,
    ),
    (
        "get_conversion_dataset",
        "GET",
        "/marketing/55/dataset",
        lambda c: c.get_conversion_dataset("55"),
        samples.DATASET,
        False,
    ),
    (
        "post_conversion_dataset",
        "POST",
        "/marketing/55/dataset",
        lambda c: c.post_conversion_dataset("55"),
        samples.DATASET,
        False,
    ),
    (
        "post_conversion_events[with event_id]",
        "POST",
        "/marketing/55/events",
        lambda c: c.post_conversion_events("55", [{**EVENT, "event_id": "e1"}]),
        samples.EVENTS_OK,
        False,
    ),
    (
        "post_conversion_events[without event_id]",
        "POST",
        "/marketing/55/events",
        lambda c: c.post_conversion_events("55", [EVENT]),
        samples.EVENTS_OK,
        True,
    ),
]


def status(code: int, body: Any = None) -> dict[str, Any]:
    return {"status": code, "payload": body if body is not None else {"error": f"HTTP {code}"}}


# (name, aioresponses kwargs, retried for reads, retried for sends)
FAILURES: list[tuple[str, dict[str, Any], bool, bool]] = [
    ("400", status(400, samples.meta_error(100)), False, False),
    ("401", status(401, samples.ERROR_TEXT), False, False),
    ("403", status(403, samples.meta_error(132015)), False, False),
    ("408", status(408), True, True),  # the server did not get the whole request
    ("429", status(429), True, True),
    ("400 code 130429", status(400, samples.meta_error(130429)), True, True),
    ("400 code 80007", status(400, samples.meta_error(80007)), True, True),
    ("500", status(500), True, False),
    # A throttling code makes a 5xx no less ambiguous: a proxy may have forwarded the send.
    ("500 code 130429", status(500, samples.meta_error(130429)), True, False),
    ("504 code 4", status(504, samples.meta_error(4)), True, False),
    ("501", status(501), False, False),  # not implemented: trying again cannot help
    ("505", status(505), False, False),  # HTTP version refused: likewise
    ("511", status(511), False, False),  # a captive portal: likewise (and not processed)
    ("502", status(502), True, False),
    ("503", status(503), True, False),  # a proxy may answer 503 after forwarding the request
    ("503 code 2", status(503, samples.meta_error(2)), True, True),  # Meta refused it itself
    ("500 code 2", status(500, samples.meta_error(2)), True, False),  # not Meta's documented 503
    ("504", status(504), True, False),
    ("connect timeout", {"exception": aiohttp.ConnectionTimeoutError()}, True, True),
    ("read timeout", {"exception": aiohttp.SocketTimeoutError()}, True, False),
    ("server disconnected", {"exception": aiohttp.ServerDisconnectedError()}, True, False),
    ("connection reset", {"exception": aiohttp.ClientOSError(104, "reset")}, True, False),
]


def _mock(mocked: aioresponses, method: str, path: str, **kwargs: Any) -> None:
    mocked.add(url(path), method=method, **kwargs)


@pytest.mark.parametrize(
    ("failure", "failure_kwargs", "read_retried", "send_retried"),
    FAILURES,
    ids=[f[0] for f in FAILURES],
)
@pytest.mark.parametrize(
    ("op", "method", "path", "call", "ok_body", "is_send"),
    OPERATIONS,
    ids=[o[0] for o in OPERATIONS],
)
@pytest.mark.parametrize("ambiguous_opt_in", [False, True], ids=["default", "opt-in"])
async def test_retry_matrix(
    mock_api: aioresponses,
    op: str,
    method: str,
    path: str,
    call: Call,
    ok_body: dict[str, Any],
    is_send: bool,
    failure: str,
    failure_kwargs: dict[str, Any],
    read_retried: bool,
    send_retried: bool,
    ambiguous_opt_in: bool,
) -> None:
    _mock(mock_api, method, path, **failure_kwargs)
    _mock(mock_api, method, path, payload=ok_body)
    policy = RetryPolicy(wait=False, retry_ambiguous_sends=ambiguous_opt_in)
    expected = read_retried if (not is_send or ambiguous_opt_in) else send_retried
    async with D360Client(KEY, rate_limit=None, retry=policy) as client:
        if expected:
            result = await call(client)
            assert result.raw == ok_body
        else:
            with pytest.raises((APIStatusError, APIConnectionError)):
                await call(client)
    assert len(requests_to(mock_api, method, path)) == (2 if expected else 1)


@pytest.mark.looptime
async def test_attempts_bound_the_retries(mock_api: aioresponses) -> None:
    for _ in range(5):
        _mock(mock_api, "GET", "/marketing/77", **status(503))
    policy = RetryPolicy(attempts=3, deadline=None, initial_backoff=1.0, jitter=0.0)
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with D360Client(KEY, rate_limit=None, retry=policy) as client:
        with pytest.raises(InternalServerError):
            await client.get_message_template("77")
    assert len(requests_to(mock_api, "GET", "/marketing/77")) == 3
    assert loop.time() - start == pytest.approx(1.0 + 2.0)  # backoff 1 s, then 2 s


@pytest.mark.looptime
async def test_deadline_bounds_the_retries(mock_api: aioresponses) -> None:
    for _ in range(10):
        _mock(mock_api, "GET", "/marketing/77", **status(500))
    policy = RetryPolicy(attempts=10, deadline=5.0, initial_backoff=2.0, jitter=0.0)
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with D360Client(KEY, rate_limit=None, retry=policy) as client:
        with pytest.raises(InternalServerError):
            await client.get_message_template("77")
    # Waits 2 s after the first failure; a further 4 s would end past the 5 s deadline.
    assert len(requests_to(mock_api, "GET", "/marketing/77")) == 2
    assert loop.time() - start == pytest.approx(2.0)


@pytest.mark.looptime
@pytest.mark.parametrize(
    ("header", "cap", "waited"),
    [("7", 60.0, 7.0), ("0.25", 60.0, 0.25), ("1000", 30.0, 30.0)],
)
async def test_retry_after_is_honoured_and_capped(
    mock_api: aioresponses, header: str, cap: float, waited: float
) -> None:
    _mock(mock_api, "POST", "/marketing_messages", status=429, headers={"Retry-After": header})
    _mock(mock_api, "POST", "/marketing_messages", payload=samples.SEND_OK)
    policy = RetryPolicy(deadline=None, max_retry_after=cap, jitter=0.0)
    loop = asyncio.get_running_loop()
    async with D360Client(KEY, rate_limit=None, retry=policy) as client:
        start = loop.time()
        response = await client.send_marketing_message(MESSAGE)
        assert loop.time() - start == pytest.approx(waited)
    assert response.message_id is not None


@pytest.mark.looptime
async def test_retry_after_past_the_deadline_raises_at_once(mock_api: aioresponses) -> None:
    _mock(mock_api, "GET", "/marketing/77", status=429, headers={"Retry-After": "50"})
    loop = asyncio.get_running_loop()
    async with D360Client(KEY, rate_limit=None, retry=RetryPolicy(deadline=10.0)) as client:
        start = loop.time()
        with pytest.raises(RateLimitError) as info:
            await client.get_message_template("77")
        assert loop.time() - start == 0.0
    assert info.value.retry_after == 50.0


@pytest.mark.looptime
async def test_wait_false_turns_backoff_off(mock_api: aioresponses) -> None:
    _mock(mock_api, "GET", "/marketing/77", status=429, headers={"Retry-After": "7"})
    _mock(mock_api, "GET", "/marketing/77", **status(503))
    _mock(mock_api, "GET", "/marketing/77", payload=samples.TEMPLATE)
    loop = asyncio.get_running_loop()
    async with D360Client(KEY, rate_limit=None, retry=RetryPolicy(wait=False)) as client:
        start = loop.time()
        template = await client.get_message_template("77")
        assert loop.time() == start
    assert template.id == samples.TEMPLATE["id"]


@pytest.mark.looptime
async def test_per_recipient_throttle_backs_off_four_to_the_n(mock_api: aioresponses) -> None:
    _mock(mock_api, "POST", "/marketing_messages", **status(400, samples.meta_error(131056)))
    _mock(mock_api, "POST", "/marketing_messages", **status(400, samples.meta_error(131056)))
    _mock(mock_api, "POST", "/marketing_messages", payload=samples.SEND_OK)
    loop = asyncio.get_running_loop()
    async with D360Client(KEY, rate_limit=None, retry=RetryPolicy(deadline=None)) as client:
        start = loop.time()
        await client.send_marketing_message(MESSAGE)
        assert loop.time() - start == pytest.approx(4.0 + 16.0)
        # Only that recipient was throttled: the client as a whole is not paused.
        assert isinstance(client.limiter, LocalLimiter)
        assert client.limiter.paused_until(Scope.MESSAGES) <= loop.time()


def test_backoff_grows_exponentially_within_jitter_and_cap() -> None:
    policy = RetryPolicy(initial_backoff=0.5, max_backoff=3.0, jitter=0.25)
    for attempt, base in [(1, 0.5), (2, 1.0), (3, 2.0)]:
        for _ in range(50):
            assert base <= policy.backoff(attempt) <= base + 0.25
    assert all(policy.backoff(6) == 3.0 for _ in range(20))


@pytest.mark.parametrize(
    "kwargs", [{"attempts": 0}, {"deadline": -1.0}, {"jitter": -0.1}, {"initial_backoff": -1.0}]
)
def test_policy_rejects_nonsense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        RetryPolicy(**kwargs)


async def test_a_send_retried_after_an_ambiguous_attempt_stays_ambiguous(
    mock_api: aioresponses,
) -> None:
    # Opted in to ambiguous retries: the first attempt timed out reading (maybe accepted), the
    # second could not connect. The error says "not sent" of the last attempt only.
    _mock(mock_api, "POST", "/marketing_messages", exception=aiohttp.SocketTimeoutError())
    _mock(mock_api, "POST", "/marketing_messages", exception=aiohttp.ConnectionTimeoutError())
    policy = RetryPolicy(attempts=2, wait=False, retry_ambiguous_sends=True)
    async with D360Client(KEY, rate_limit=None, retry=policy) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.send_marketing_message(MESSAGE)
    assert info.value.maybe_sent is False
    assert info.value.maybe_sent_before is True
    assert may_have_been_acted_upon(info.value)


class RecordingLimiter:
    def __init__(self) -> None:
        self.pauses: list[float] = []

    async def acquire(self, scope: Scope, *, key: str | None = None) -> None:
        pass

    async def pause(self, scope: Scope, seconds: float) -> None:
        self.pauses.append(seconds)


@pytest.mark.looptime
async def test_the_pause_is_the_delay_reported(mock_api: aioresponses) -> None:
    """A 429 without Retry-After: the scope's pause and the retry's reported delay are one
    value (one draw of the jitter), not two."""
    for _ in range(3):
        _mock(mock_api, "GET", "/marketing/77", **status(429))
    _mock(mock_api, "GET", "/marketing/77", payload=samples.TEMPLATE)
    delays: list[float] = []
    limiter = RecordingLimiter()
    policy = RetryPolicy(initial_backoff=0.5, jitter=5.0)
    hooks = Hooks(on_retry=lambda event: delays.append(event.delay))
    async with D360Client(KEY, rate_limit=limiter, retry=policy, hooks=hooks) as client:
        await client.get_message_template("77")
    assert len(delays) == 3
    assert limiter.pauses == delays
