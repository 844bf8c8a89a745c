"""The "on the wire" seam: ``on_wire`` runs once, right before a request is written, never for a
request that ended earlier; ``maybe_sent`` is False for every failure before that point.

Real loopback servers (the seam lives in aiohttp's connection pool, which aioresponses skips).
No assertion depends on speed: what is checked is what the server received.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from d360_async import AsyncLimiter, D360Client, RetryPolicy
from d360_async._errors import APIConnectionError
from d360_async._retry import Safety

from . import samples
from .conftest import KEY
from .loopback import loopback

SEND = "/marketing_messages"


def message(i: int) -> dict[str, Any]:
    return {"to": f"4915100{i:06d}", "template": {"name": "promo", "language": {"code": "en"}}}


def counter() -> tuple[list[str], Callable[[], Awaitable[None]]]:
    calls: list[str] = []

    async def on_wire() -> None:
        calls.append("on_wire")

    return calls, on_wire


async def send(client: D360Client, i: int, on_wire: Callable[[], Awaitable[None]] | None) -> Any:
    """One send through the transport, as the bulk sender makes it."""
    return await client._get_transport().request(
        "POST", SEND, safety=Safety.SEND, json_body=message(i), on_wire=on_wire
    )


async def test_on_wire_runs_once_before_the_server_sees_the_request() -> None:
    order: list[str] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        order.append("server")
        if len(order) == 2:  # the first attempt is throttled: on_wire must not run again
            return web.json_response({"error": "slow down"}, status=429)
        return web.json_response(samples.SEND_OK)

    async def on_wire() -> None:
        order.append("on_wire")

    async with (
        loopback(handler) as server,
        D360Client(KEY, base_url=server.url, rate_limit=None, retry=RetryPolicy(wait=False)) as c,
    ):
        await send(c, 1, on_wire)
    assert order == ["on_wire", "server", "server"]


async def test_cancelled_while_waiting_for_the_limiter_never_reaches_the_wire() -> None:
    calls, on_wire = counter()
    async with (
        loopback() as server,
        D360Client(KEY, base_url=server.url, rate_limit=AsyncLimiter(1, 3600)) as c,
    ):
        await send(c, 1, None)  # takes the only token for an hour
        waiting = asyncio.create_task(send(c, 2, on_wire))
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    assert calls == []
    assert not server.received(message(2)["to"])


async def test_cancelled_during_the_cool_down_never_reaches_the_wire() -> None:
    calls, on_wire = counter()
    async with loopback() as server:
        server.script.append(
            web.json_response({"error": "slow down"}, status=429, headers={"Retry-After": "3600"})
        )
        async with D360Client(
            KEY, base_url=server.url, rate_limit=None, retry=RetryPolicy(deadline=None)
        ) as c:
            throttled = asyncio.create_task(send(c, 1, None))
            await server.arrivals(1)
            await asyncio.sleep(0.02)  # the 429 is back: an hour's cool-down
            waiting = asyncio.create_task(send(c, 2, on_wire))
            await asyncio.sleep(0.05)
            for task in (throttled, waiting):
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
    assert calls == []
    assert [a[2] for a in server.arrived] == [message(1)["to"]]


async def test_cancelled_while_waiting_for_the_pool_never_reaches_the_wire() -> None:
    calls, on_wire = counter()
    async with loopback() as server:
        server.hold = True
        async with D360Client(KEY, base_url=server.url, rate_limit=None, max_connections=1) as c:
            first = asyncio.create_task(send(c, 1, None))
            await server.arrivals(1)  # holds the only connection
            waiting = asyncio.create_task(send(c, 2, on_wire))
            await asyncio.sleep(0.05)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            server.release.set()
            await first
            await send(c, 3, None)  # the pool still works
    assert calls == []
    assert [a[2] for a in server.arrived] == [message(1)["to"], message(3)["to"]]


async def test_a_failed_connect_never_reaches_the_wire() -> None:
    calls, on_wire = counter()
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with D360Client(
        KEY, base_url=f"http://127.0.0.1:{port}", rate_limit=None, retry=RetryPolicy.never()
    ) as c:
        with pytest.raises(APIConnectionError) as info:
            await send(c, 1, on_wire)
    assert info.value.maybe_sent is False
    assert calls == []


class JournalError(Exception):
    pass


@pytest.mark.parametrize(
    "error",
    [JournalError("disk full"), OSError(28, "No space left on device"), TimeoutError("lock")],
    ids=["own", "OSError", "TimeoutError"],
)
async def test_an_error_in_on_wire_propagates_unchanged_and_nothing_is_written(
    error: Exception,
) -> None:
    async def on_wire() -> None:
        raise error

    async with (
        loopback() as server,
        D360Client(KEY, base_url=server.url, rate_limit=None, max_connections=1) as c,
    ):
        await send(c, 1, None)  # a pooled connection to reuse
        with pytest.raises(type(error)) as info:
            await send(c, 2, on_wire)
        # aiohttp would have wrapped an OSError or a TimeoutError: it is the very same object.
        assert info.value is error
        # The connection went back to the pool (max_connections=1: a leak would hang here).
        await asyncio.wait_for(send(c, 3, None), 10)
    assert [a[2] for a in server.arrived] == [message(1)["to"], message(3)["to"]]


async def test_an_error_in_on_wire_on_a_new_connection_leaks_nothing() -> None:
    async def on_wire() -> None:
        raise JournalError("locked")

    async with (
        loopback() as server,
        D360Client(KEY, base_url=server.url, rate_limit=None, max_connections=1) as c,
    ):
        with pytest.raises(JournalError):
            await send(c, 1, on_wire)
        await asyncio.wait_for(send(c, 2, None), 10)
    assert [a[2] for a in server.arrived] == [message(2)["to"]]


async def test_a_timeout_while_waiting_for_the_pool_is_not_sent() -> None:
    # 200 sends share 5 connections; the server holds every answer, so the total timeout ends
    # all of them: those on the wire maybe sent, those still waiting for the pool certainly not.
    wired: set[int] = set()

    def tracked(i: int) -> Callable[[], Awaitable[None]]:
        async def on_wire() -> None:
            wired.add(i)

        return on_wire

    async with loopback() as server:
        server.hold = True
        async with D360Client(
            KEY,
            base_url=server.url,
            rate_limit=None,
            max_connections=5,
            timeout=aiohttp.ClientTimeout(total=0.5),
            retry=RetryPolicy.never(),
        ) as c:
            results = await asyncio.gather(
                *(send(c, i, tracked(i)) for i in range(200)), return_exceptions=True
            )
        server.release.set()
    failures = [(i, r) for i, r in enumerate(results) if isinstance(r, APIConnectionError)]
    assert len(failures) == len(results)
    not_sent = {i for i, r in failures if not r.maybe_sent}
    assert len(not_sent) >= 150  # at most a few batches of 5 made it to the wire
    for i in not_sent:
        assert i not in wired
        assert not server.received(message(i)["to"])
    for i, r in failures:
        if r.maybe_sent:
            assert i in wired


async def test_an_injected_session_runs_on_wire_before_handing_the_request_over() -> None:
    calls, on_wire = counter()
    async with (
        loopback() as server,
        aiohttp.ClientSession() as session,
        D360Client(KEY, base_url=server.url, rate_limit=None, session=session) as c,
    ):
        await send(c, 1, on_wire)
    assert calls == ["on_wire"]
    assert server.received(message(1)["to"])
