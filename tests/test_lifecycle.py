"""A client's life: typed errors when closed, from another event loop or closed during a run;
``is_closed``; properties without side effects; a ``repr`` that never raises; ``with_options``
copies that share the session."""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from aiohttp import web
from aioresponses import aioresponses

from d360_async import (
    ClientClosedError,
    D360Client,
    EventLoopError,
    RetryPolicy,
    Timeout,
    ValidationError,
)
from d360_async._outcome import may_have_been_acted_upon

from . import samples
from .conftest import KEY
from .loopback import loopback
from .test_operations import url
from .test_retry import OPERATIONS, Call

MESSAGE = {"to": "4915112345678", "template": {"name": "promo", "language": {"code": "en"}}}


def in_new_loop(coro: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run ``coro()`` with ``asyncio.run`` in a thread of its own (a loop of its own)."""
    out: list[Any] = []

    def target() -> None:
        try:
            out.append(asyncio.run(coro()))
        except BaseException as exc:
            out.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    return out[0]


@pytest.mark.parametrize("call", [o[3] for o in OPERATIONS], ids=[o[0] for o in OPERATIONS])
async def test_a_closed_client_raises_a_typed_error(call: Call) -> None:
    client = D360Client(KEY)
    await client.close()
    assert client.is_closed
    with pytest.raises(ClientClosedError) as info:
        await call(client)
    assert info.value.maybe_sent is False


async def test_the_iterators_and_pipelines_of_a_closed_client_raise_typed_errors() -> None:
    client = D360Client(KEY)
    async with client:
        pass
    with pytest.raises(ClientClosedError):
        [t async for t in client.iter_message_templates()]
    with pytest.raises(ClientClosedError):
        client.send_bulk([MESSAGE])
    with pytest.raises(ClientClosedError):
        async with client:
            pass


def test_a_client_used_from_a_second_event_loop_says_so(mock_api: aioresponses) -> None:
    mock_api.get(url("/marketing/77"), payload=samples.TEMPLATE, repeat=True)
    client = D360Client(KEY)

    async def use() -> Any:
        return await client.get_message_template("77")

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # aiolimiter's "reused across loops" warning included
        first = in_new_loop(use)
        second = in_new_loop(use)

        async def close() -> None:
            await client.close()

        assert in_new_loop(close) is None
    assert first.id == samples.TEMPLATE["id"]
    assert isinstance(second, EventLoopError)
    assert "one client per event loop" in str(second)
    assert client.is_closed


async def test_close_during_a_run_gives_typed_errors() -> None:
    async with loopback() as server:
        server.hold = True
        client = D360Client(
            KEY, base_url=server.url, rate_limit=None, max_connections=2, retry=RetryPolicy()
        )
        tasks = [
            asyncio.create_task(client.send_marketing_message({**MESSAGE, "to": f"4915100{i}"}))
            for i in range(6)
        ]
        await server.arrivals(2)  # two on the wire, four waiting for the pool
        await asyncio.sleep(0.05)
        await client.close()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, ClientClosedError) for r in results), results
    on_the_wire = [r for r in results if may_have_been_acted_upon(r)]
    assert len(on_the_wire) == len(server.arrived) == 2
    assert sum(1 for r in results if not may_have_been_acted_upon(r)) == 4


def test_properties_have_no_side_effects_outside_a_loop() -> None:
    client = D360Client(KEY)
    assert (client.base_url, client.is_closed) == ("https://waba-v2.360dialog.io", False)
    assert client.retry == RetryPolicy()
    assert client.timeout == Timeout()
    assert client.limiter is client.limiter
    assert repr(client) == "D360Client(base_url='https://waba-v2.360dialog.io', closed=False)"


def test_the_repr_of_a_half_built_client_does_not_raise() -> None:
    with pytest.raises(ValidationError) as info:
        D360Client(KEY, max_connections=0)
    half_built = info.traceback[-1].frame.f_locals.get("self")  # what pytest would show
    assert isinstance(half_built, D360Client)
    assert "D360Client(" in repr(half_built)
    assert half_built.is_closed
    assert repr(object.__new__(D360Client)) == "D360Client(base_url=None, closed=True)"


async def test_with_options_shares_the_session() -> None:
    peers: list[Any] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        peers.append(request.transport.get_extra_info("peername"))
        return web.json_response(samples.TEMPLATE)

    async with loopback(handler) as server:
        client = D360Client(KEY, base_url=server.url, rate_limit=None, max_connections=1)
        fast = client.with_options(timeout=2.0, retry=RetryPolicy.never())
        assert (fast.timeout, fast.retry) == (Timeout.of(2.0), RetryPolicy.never())
        assert (client.timeout, client.retry) == (Timeout(), RetryPolicy())
        assert fast.limiter is client.limiter
        await client.get_message_template("1")
        await fast.get_message_template("1")
        await client.get_message_template("1")
        async with fast:  # leaving the copy closes the copy only
            pass
        assert fast.is_closed and not client.is_closed
        await client.get_message_template("1")
        other = client.with_options(timeout=1.0)
        await client.close()
        assert other.is_closed
        with pytest.raises(ClientClosedError):
            await other.get_message_template("1")
    # One connection (one pool) served the original and the copy alike.
    assert len(peers) == 4
    assert len(set(peers)) == 1


async def test_with_options_rejects_junk() -> None:
    async with D360Client(KEY) as client:
        with pytest.raises(ValidationError, match="timeout"):
            client.with_options(timeout="soon")  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="retry"):
            client.with_options(retry=3)  # type: ignore[arg-type]
