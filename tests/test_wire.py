"""The "on the wire" seam: ``on_wire`` runs once, before a request can be acted upon (by default
once it is written but its body's last byte, held back until ``on_wire`` returned), never for
a request that ended earlier; ``maybe_sent`` is False for every failure before that point.

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
from .raw_server import raw_server

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
        server.client(retry=RetryPolicy(wait=False)) as c,
    ):
        await send(c, 1, on_wire)
    assert order == ["on_wire", "server", "server"]


@pytest.mark.parametrize(
    ("refusal", "body", "status"),
    [
        ("429", {"error": "slow down"}, 429),
        ("Meta's 503 (code 2)", samples.meta_error(2), 503),
        ("throttling code in a 400", samples.meta_error(130429), 400),
    ],
)
async def test_a_refused_attempt_takes_the_wire_mark_back_until_its_retry(
    refusal: str, body: Any, status: int
) -> None:
    """A certainly refused attempt runs ``on_refused`` before its retry waits, and the retry
    runs ``on_wire`` again: a journal can keep the message out of ``pending`` in the pause."""
    order: list[str] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        order.append("server")
        if order.count("server") == 1:
            return web.json_response(body, status=status)
        return web.json_response(samples.SEND_OK)

    async def on_wire() -> None:
        order.append("on_wire")

    async def on_refused() -> None:
        order.append("on_refused")

    async with (
        loopback(handler) as server,
        server.client(retry=RetryPolicy(wait=False)) as c,
    ):
        await c._get_transport().request(
            "POST",
            SEND,
            safety=Safety.SEND,
            json_body=message(1),
            on_wire=on_wire,
            on_refused=on_refused,
        )
    assert order == ["on_wire", "server", "on_refused", "on_wire", "server"], refusal


@pytest.mark.parametrize(
    ("outcome", "answer"),
    [
        ("ambiguous 500, retried on request", lambda: web.json_response({}, status=500)),
        ("final refusal, no retry", lambda: web.json_response(samples.meta_error(100), status=400)),
    ],
)
async def test_on_refused_is_only_for_a_refusal_that_is_retried(
    outcome: str, answer: Callable[[], web.StreamResponse]
) -> None:
    calls: list[str] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        calls.append("server")
        return answer() if calls.count("server") == 1 else web.json_response(samples.SEND_OK)

    async def on_wire() -> None:
        calls.append("on_wire")

    async def on_refused() -> None:
        calls.append("on_refused")

    retry = RetryPolicy(wait=False, retry_ambiguous_sends=True)
    async with loopback(handler) as server, server.client(retry=retry) as c:
        try:
            await c._get_transport().request(
                "POST",
                SEND,
                safety=Safety.SEND,
                json_body=message(1),
                on_wire=on_wire,
                on_refused=on_refused,
            )
        except Exception:  # the 400 is final; what matters is the calls
            calls.append("raised")
    assert "on_refused" not in calls, outcome
    assert calls[:2] == ["on_wire", "server"]
    assert calls.count("on_wire") == 1  # an ambiguous retry is not armed again


async def test_cancelled_while_waiting_for_the_limiter_never_reaches_the_wire() -> None:
    calls, on_wire = counter()
    async with (
        loopback() as server,
        server.client(rate_limit=AsyncLimiter(1, 3600)) as c,
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
        async with server.client(retry=RetryPolicy(deadline=None)) as c:
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
        async with server.client(max_connections=1) as c:
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
        server.client(max_connections=1) as c,
    ):
        await send(c, 1, None)  # a pooled connection to reuse
        with pytest.raises(type(error)) as info:
            await send(c, 2, on_wire)
        # aiohttp would have wrapped an OSError or a TimeoutError: it is the very same object.
        assert info.value is error
        # Its connection was closed (a request cut short was written on it), its slot freed
        # (max_connections=1: a leak would hang here).
        await asyncio.wait_for(send(c, 3, None), 10)
    assert [a[2] for a in server.arrived] == [message(1)["to"], message(3)["to"]]


async def test_an_error_in_on_wire_on_a_new_connection_leaks_nothing() -> None:
    async def on_wire() -> None:
        raise JournalError("locked")

    async with (
        loopback() as server,
        server.client(max_connections=1) as c,
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
        async with server.client(
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
        server.client(session=session) as c,
    ):
        await send(c, 1, on_wire)
    assert calls == ["on_wire"]
    assert server.received(message(1)["to"])


# The held last byte (``_wire.HeldBody``): ``on_wire`` runs once the request is written but its
# body's last byte; these use a raw server that shows what had arrived.


async def test_on_wire_runs_once_the_request_is_written_but_its_last_byte() -> None:
    held: list[tuple[int, int]] = []
    async with raw_server() as server:

        async def on_wire() -> None:
            await server.until(lambda: bool(server.requests) and len(server.requests[0].body))
            request = server.requests[0]
            await server.until(lambda: len(request.body) == request.length - 1)
            held.append((request.length - len(request.body), len(server.complete)))

        async with D360Client(KEY, base_url=server.url, rate_limit=None) as c:
            await send(c, 1, on_wire)
    assert held == [(1, 0)]
    assert [r.complete for r in server.requests] == [True]


async def test_an_error_in_a_held_on_wire_closes_the_connection() -> None:
    """A request cut short was written on the connection: it is closed, never reused; the
    hook's own error propagates."""
    error = JournalError("disk full")

    async def on_wire() -> None:
        raise error

    async with raw_server() as server:
        async with D360Client(KEY, base_url=server.url, rate_limit=None) as c:
            await send(c, 1, None)  # a pooled connection to reuse
            with pytest.raises(JournalError) as info:
                await send(c, 2, on_wire)
            assert info.value is error
            await send(c, 3, None)
        await server.until(lambda: len(server.cut_short) == 1)
    assert [(r.connection, r.complete) for r in server.requests] == [
        (1, True),
        (1, False),
        (2, True),
    ]
    assert server.cut_short == [server.requests[1]]


async def test_a_connection_lost_while_on_wire_runs_is_not_sent_and_on_wire_runs_again() -> None:
    """The server ends the connection while the body waits for its last byte: certainly not
    acted upon (``maybe_sent=False``, so a send is retried); ``on_wire``, cancelled by
    aiohttp before it returned, runs again for the retry."""
    calls: list[str] = []
    async with raw_server() as server:
        server.cut_after = {0: 1, 1: 1}  # the first two requests

        async def on_wire() -> None:
            calls.append("on_wire")
            if len(calls) < 3:  # the first two requests: ended by the lost connection only
                await asyncio.Event().wait()

        async with D360Client(
            KEY, base_url=server.url, rate_limit=None, retry=RetryPolicy.never()
        ) as c:
            with pytest.raises(APIConnectionError) as info:
                await send(c, 1, on_wire)
            assert info.value.maybe_sent is False
            assert calls == ["on_wire"]
        async with D360Client(
            KEY, base_url=server.url, rate_limit=None, retry=RetryPolicy(wait=False)
        ) as c:
            await send(c, 2, on_wire)
    assert calls == ["on_wire", "on_wire", "on_wire"]
    assert [r.complete for r in server.requests] == [False, False, True]


async def test_cancelled_while_a_held_on_wire_runs_is_never_acted_upon() -> None:
    started = asyncio.Event()

    async def on_wire() -> None:
        started.set()
        await asyncio.Event().wait()

    async with raw_server() as server:
        async with D360Client(KEY, base_url=server.url, rate_limit=None) as c:
            task = asyncio.create_task(send(c, 1, on_wire))
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await send(c, 2, None)
        await server.until(lambda: len(server.cut_short) == 1)
    assert [(r.connection, r.complete) for r in server.requests] == [(1, False), (2, True)]


async def test_without_hold_on_wire_runs_before_anything_is_written() -> None:
    arrived: list[int] = []
    async with raw_server() as server:

        async def on_wire() -> None:
            arrived.append(len(server.requests))

        async with D360Client(KEY, base_url=server.url, rate_limit=None) as c:
            await c._get_transport().request(
                "POST", SEND, safety=Safety.SEND, json_body=message(1), on_wire=on_wire, hold=False
            )
    assert arrived == [0]
    assert [r.complete for r in server.requests] == [True]
