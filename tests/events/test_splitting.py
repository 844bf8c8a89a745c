"""Isolating the events a server rejects when its 400 does not say which one (as Meta's
``Invalid parameter`` errors do not): bisection, its bound, and 400s about the request."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from d360_async import BadRequestError, D360Client, RetryPolicy

from .conftest import NODE, PostTracker, events_run, raw_event

INVALID = {
    "message": "Invalid parameter",
    "type": "OAuthException",
    "code": 100,
    "error_subcode": 2804019,
    "is_transient": False,
    "error_user_title": "Invalid event",
    "error_user_msg": "The event contains a value that is not valid.",
    "fbtrace_id": "AbCdEf",
}


class MetaLikeServer:
    """Rejects a whole request, without an index, when any event is named ``Bad``."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.requests = 0
        self.wrap = False
        self.request_error: dict[str, Any] | None = None

    async def events(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = json.loads(await request.read())
        error: dict[str, Any] | None = self.request_error
        if error is None and any(e["event_name"] == "Bad" for e in body["data"]):
            error = INVALID
        if error is not None:
            payload = {"error": error}
            return web.json_response({"detail": payload} if self.wrap else payload, status=400)
        self.received.extend(e["event_id"] for e in body["data"])
        return web.json_response(
            {"events_received": len(body["data"]), "messages": [], "fbtrace_id": "T"}
        )


@pytest.fixture
async def server() -> AsyncIterator[tuple[MetaLikeServer, str]]:
    meta = MetaLikeServer()
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_post("/marketing/{node}/events", meta.events)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield meta, f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def client(server: tuple[MetaLikeServer, str]) -> AsyncIterator[D360Client]:
    async with D360Client(
        "key", base_url=server[1], rate_limit=None, retry=RetryPolicy(wait=False)
    ) as c:
        yield c


def events_with_bad(count: int, bad: set[int]) -> list[dict[str, Any]]:
    return [raw_event(i, event_name="Bad" if i in bad else "Purchase") for i in range(count)]


@pytest.mark.parametrize(("bad", "most_requests"), [(999, 11), (0, 21), (500, 21), (137, 21)])
async def test_one_bad_event_among_1000_is_isolated_by_bisection(
    server: tuple[MetaLikeServer, str], client: D360Client, bad: int, most_requests: int
) -> None:
    meta, _ = server
    run = client.send_conversion_events(NODE, events_with_bad(1000, {bad}))
    (batch,) = [b async for b in run]
    assert len(meta.received) == 999 and f"order-{bad}" not in meta.received
    assert len(set(meta.received)) == 999  # nothing delivered twice
    (rejected,) = batch.rejected
    assert (rejected.index, rejected.event_id, rejected.from_server) == (bad, f"order-{bad}", True)
    assert rejected.reason == "Invalid parameter: The event contains a value that is not valid."
    assert rejected.field == "event"
    assert batch.events_received == 999 and not batch.failed and batch.error is None
    assert batch.requests == meta.requests <= most_requests


async def test_several_bad_events_are_all_isolated(
    server: tuple[MetaLikeServer, str], client: D360Client
) -> None:
    meta, _ = server
    bad = {3, 404, 405, 998}
    report = await client.send_conversion_events(NODE, events_with_bad(1000, bad)).run()
    assert sorted(meta.received) == sorted(f"order-{i}" for i in range(1000) if i not in bad)
    assert (report.received, report.rejected, report.failed) == (996, 4, 0)
    assert report.requests <= 1 + 2 * 4 * 10


async def test_the_split_budget_bounds_extra_requests_and_loses_nothing(
    server: tuple[MetaLikeServer, str], client: D360Client
) -> None:
    meta, _ = server
    run = events_run(client, events_with_bad(1000, {999}), max_split_requests=3)
    (batch,) = [b async for b in run]
    assert meta.requests == batch.requests == 4
    assert isinstance(batch.error, BadRequestError)
    assert batch.events_received == len(meta.received) == 500 + 250 + 125
    assert [f.index for f in batch.failed] == list(range(875, 1000))  # not pinned down: failed
    assert not batch.rejected


@pytest.mark.parametrize(
    "error",
    [
        {"message": "Invalid parameter: test_event_code is not valid", "code": 100},
        {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190},
        {"message": "Permissions error", "code": 200},
    ],
)
async def test_a_400_about_the_request_fails_the_batch_without_splitting(
    server: tuple[MetaLikeServer, str],
    client: D360Client,
    posts: PostTracker,
    error: dict[str, Any],
) -> None:
    meta, _ = server
    meta.request_error = error
    run = client.send_conversion_events(NODE, events_with_bad(250, set()), batch_size=100)
    batches = [b async for b in run]
    assert meta.requests == 3 and len(posts.sizes) == 3
    assert all(isinstance(b.error, BadRequestError) and not b.rejected for b in batches)
    assert sum(len(b.failed) for b in batches) == 250
    assert run.report.failed == 250 and run.report.received == 0


async def test_wrapped_errors_are_read_too(
    server: tuple[MetaLikeServer, str], client: D360Client
) -> None:
    meta, _ = server
    meta.wrap = True  # 360dialog's {"detail": {"error": {...}}}
    run = client.send_conversion_events(NODE, events_with_bad(8, {5}))
    (batch,) = [b async for b in run]
    assert [(r.index, r.reason) for r in batch.rejected] == [
        (5, "Invalid parameter: The event contains a value that is not valid.")
    ]
    assert len(meta.received) == 7
