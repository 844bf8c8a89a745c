"""Origin pinning: every operation against a server that redirects to a second loopback server.
The second server receives nothing (so never the API key), the error is a ``RedirectError`` whose
``location`` keeps no query secrets, and no send is reported as sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from d360_async import D360Client, RedirectError, RetryPolicy
from d360_async._outcome import may_have_been_acted_upon

from .conftest import KEY
from .loopback import Loopback, loopback
from .test_retry import OPERATIONS, Call

STATUSES = [301, 302, 303, 307, 308]
MESSAGES = [
    {"to": f"4915100{i:06d}", "template": {"name": "promo", "language": {"code": "en"}}}
    for i in range(20)
]


def redirecting(target: Loopback, status: int) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        location = f"{target.url}{request.path}?token=s3cret-{KEY}#frag"
        return web.Response(status=status, headers={"Location": location})

    return handler


@pytest.fixture
async def other() -> AsyncIterator[Loopback]:
    async with loopback() as server:
        yield server


def check(error: BaseException, other: Loopback) -> None:
    assert isinstance(error, RedirectError)
    assert error.location == f"{other.url}/" + error.location.split("/", 3)[3]
    for text in (str(error), repr(error), error.location):
        assert "s3cret" not in text
        assert KEY not in text
        assert "#frag" not in text


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize(
    ("op", "call", "is_send"),
    [(o[0], o[3], o[5]) for o in OPERATIONS],
    ids=[o[0] for o in OPERATIONS],
)
async def test_no_operation_follows_a_redirect(
    other: Loopback, op: str, call: Call, is_send: bool, status: int
) -> None:
    async with (
        loopback(redirecting(other, status)) as server,
        D360Client(KEY, base_url=server.url, rate_limit=None, retry=RetryPolicy(wait=False)) as c,
    ):
        with pytest.raises(RedirectError) as info:
            await call(c)
    check(info.value, other)
    assert info.value.status == status
    assert len(server.arrived) == 1  # and no retry
    assert other.arrived == []
    if is_send and status in (301, 307, 308):
        assert not may_have_been_acted_upon(info.value)  # certainly not processed here


@pytest.mark.parametrize("status", [302, 307])
async def test_iterators_and_pipelines_follow_no_redirect(other: Loopback, status: int) -> None:
    async with (
        loopback(redirecting(other, status)) as server,
        D360Client(KEY, base_url=server.url, rate_limit=None, retry=RetryPolicy(wait=False)) as c,
    ):
        with pytest.raises(RedirectError):
            [t async for t in c.iter_message_templates()]
        with pytest.raises(RedirectError):
            [r async for r in c.iter_ad_object_insights("act_1")]
        report = await c.send_bulk(MESSAGES, preflight=False).run()
        purchase = {"currency": "EUR", "value": 9.5}
        events: list[Any] = [
            {"event_name": "Purchase", "event_time": 1795608000, "event_id": f"e{i}"}
            | {"custom_data": purchase}
            for i in range(5)
        ]
        events_report = await c.send_conversion_events("55", events, hash_pii=False).run()
    assert report.sent == 0
    assert report.failed + report.unknown == len(MESSAGES)
    assert (events_report.received, events_report.failed) == (0, len(events))
    assert other.arrived == []
    assert len(server.arrived) == 2 + len(MESSAGES) + 1


async def test_a_redirect_without_location_is_typed_too() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=301)

    async with (
        loopback(handler) as server,
        D360Client(KEY, base_url=server.url, rate_limit=None) as c,
    ):
        with pytest.raises(RedirectError, match="nowhere") as info:
            await c.get_message_template("1")
    assert info.value.location is None
