"""Hooks (request, response, retry events) and raw responses (status and headers of any call):
what they carry, that they never carry the key or personal data, and that a failing hook never
fails a request."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

from d360_async import (
    APIConnectionError,
    D360Client,
    Hooks,
    RawResult,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
    RetryPolicy,
    Scope,
    ValidationError,
)

from . import samples
from .conftest import KEY
from .test_operations import url

TO = "4915112345678"
MESSAGE = {"to": TO, "template": {"name": "promo", "language": {"code": "en"}}}


class Recorder:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def hooks(self) -> Hooks:
        return Hooks(
            on_request=self.events.append,
            on_response=self.events.append,
            on_retry=self.events.append,
        )


async def test_a_retried_send_reports_every_attempt(mock_api: aioresponses) -> None:
    throttled = samples.meta_error(130429, fbtrace_id="AbC123")
    mock_api.post(url("/marketing_messages"), status=429, payload=throttled)
    mock_api.post(url("/marketing_messages"), payload=samples.SEND_OK)
    recorder = Recorder()
    async with D360Client(
        KEY, rate_limit=None, retry=RetryPolicy(wait=False), hooks=recorder.hooks()
    ) as client:
        await client.send_marketing_message(MESSAGE)
    kinds = [type(e).__name__ for e in recorder.events]
    assert kinds == ["RequestEvent", "ResponseEvent", "RetryEvent", "RequestEvent", "ResponseEvent"]
    first, failed, retry, second, ok = recorder.events
    assert first == RequestEvent(
        request_id=first.request_id,
        method="POST",
        path="/marketing_messages",
        scope=Scope.MESSAGES,
        attempt=1,
    )
    assert (failed.status, failed.error, failed.error_code, failed.fbtrace_id) == (
        429,
        "RateLimitError",
        130429,
        "AbC123",
    )
    assert failed.maybe_sent is False
    assert isinstance(retry, RetryEvent)
    assert (retry.attempt, retry.status, retry.error_code, retry.delay) == (1, 429, 130429, 0.0)
    assert (second.attempt, second.request_id) == (2, first.request_id)
    assert isinstance(ok, ResponseEvent)
    assert (ok.status, ok.error, ok.attempt, ok.maybe_sent) == (200, None, 2, True)
    assert ok.elapsed >= 0
    for event in recorder.events:
        assert KEY not in repr(event)
        assert TO not in repr(event)


async def test_paths_are_templates_never_ids(mock_api: aioresponses) -> None:
    mock_api.get(url("/marketing/77"), payload=samples.TEMPLATE)
    mock_api.get(url("/marketing/act_9/insights"), payload=samples.INSIGHTS_PAGE_2)
    mock_api.get(url("/marketing/55/dataset"), payload=samples.DATASET)
    recorder = Recorder()
    async with D360Client(KEY, rate_limit=None, hooks=recorder.hooks()) as client:
        await client.get_message_template("77")
        await client.get_ad_object_insights("act_9")
        await client.get_conversion_dataset("55")
    paths = [e.path for e in recorder.events if isinstance(e, ResponseEvent)]
    assert paths == [
        "/marketing/{template_id}",
        "/marketing/{ad_object_id}/insights",
        "/marketing/{meta_node_id}/dataset",
    ]
    scopes = {e.scope for e in recorder.events}
    assert scopes == {Scope.READS}


async def test_a_connection_failure_is_reported_without_a_status(
    mock_api: aioresponses,
) -> None:
    mock_api.post(url("/marketing_messages"), exception=aiohttp.ConnectionTimeoutError())
    recorder = Recorder()
    async with D360Client(
        KEY, rate_limit=None, retry=RetryPolicy.never(), hooks=recorder.hooks()
    ) as client:
        with pytest.raises(APIConnectionError):
            await client.send_marketing_message(MESSAGE)
    response = recorder.events[-1]
    assert isinstance(response, ResponseEvent)
    assert (response.status, response.error, response.maybe_sent) == (
        None,
        "APITimeoutError",
        False,
    )


async def test_async_hooks_are_awaited_and_a_failing_hook_is_ignored(
    mock_api: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    mock_api.get(url("/marketing/77"), payload=samples.TEMPLATE, repeat=True)
    seen: list[int | None] = []

    async def slow(event: ResponseEvent) -> None:
        await asyncio.sleep(0)
        seen.append(event.status)

    def broken(event: RequestEvent) -> None:
        raise KeyError(f"bug with {TO}")

    hooks = Hooks(on_request=[broken], on_response=[slow])
    async with D360Client(KEY, rate_limit=None, hooks=hooks) as client:
        for _ in range(3):
            await client.get_message_template("77")
    assert seen == [200, 200, 200]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once, not per request
    assert "KeyError" in warnings[0].getMessage()
    assert TO not in warnings[0].getMessage()


@pytest.mark.parametrize("junk", [1, "x", [1], {"on_request": print}])
def test_hooks_must_be_callables(junk: Any) -> None:
    with pytest.raises(ValidationError, match="hooks"):
        Hooks(on_request=junk)
    with pytest.raises(ValidationError, match="hooks"):
        D360Client(KEY, hooks=junk)


async def test_with_raw_response_gives_status_and_headers(mock_api: aioresponses) -> None:
    mock_api.get(
        url("/marketing/77"), status=503, payload={"error": "busy"}, headers={"X-Try": "1"}
    )
    mock_api.get(
        url("/marketing/77"),
        payload=samples.TEMPLATE,
        headers={"X-Business-Use-Case-Usage": "{}", "X-Echo": f"key={KEY}"},
    )
    async with D360Client(KEY, rate_limit=None, retry=RetryPolicy(wait=False)) as client:
        result = await client.with_raw_response.get_message_template("77")
    assert isinstance(result, RawResult)
    assert result.value.id == samples.TEMPLATE["id"]
    assert result.status == 200
    assert result.headers["x-business-use-case-usage"] == "{}"
    assert result.headers["X-Echo"] == "key=[redacted]"
    assert [status for status, _ in result.responses] == [503, 200]
    assert KEY not in repr(result)


async def test_with_raw_response_of_a_chunked_call(mock_api: aioresponses) -> None:
    mock_api.get(url("/marketing/template_analytics"), payload=samples.ANALYTICS, repeat=True)
    ids = [str(i) for i in range(15)]  # two requests of at most 10 ids
    async with D360Client(KEY, rate_limit=None) as client:
        result = await client.with_raw_response.get_template_analytics(
            start=1, end=2, template_ids=ids
        )
    assert [status for status, _ in result.responses] == [200, 200]


async def test_with_raw_response_knows_only_request_methods() -> None:
    async with D360Client(KEY) as client:
        for name in ("close", "_call", "iter_message_templates", "send_bulk", "nope"):
            with pytest.raises(AttributeError):
                getattr(client.with_raw_response, name)
