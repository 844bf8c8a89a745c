"""Timeouts by phase (pool wait, connect, the request itself) on real loopback servers: a
timeout before the request was written is ``maybe_sent=False``, after it ``True``; pool
exhaustion never leaves a message "unknown". Assertions are on what the server received, never
on how fast anything was."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from d360_async import (
    APIConnectionError,
    APITimeoutError,
    D360Client,
    RetryPolicy,
    Timeout,
    ValidationError,
)
from d360_async.testing import Emulator

from .conftest import KEY
from .loopback import loopback


def message(i: int) -> dict[str, Any]:
    return {"to": f"4915100{i:06d}", "template": {"name": "promo", "language": {"code": "en"}}}


def welcome(i: int) -> dict[str, Any]:
    return {
        "to": f"4915200{i:06d}",
        "template": {
            "name": "welcome_offer",
            "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "x"}]}],
        },
    }


def test_a_number_keeps_the_phases_apart() -> None:
    client = D360Client(KEY, timeout=5.0)
    assert client.timeout == Timeout(pool=5.0, connect=5.0, request=5.0)
    assert D360Client(KEY, timeout=60).timeout == Timeout(pool=60, connect=10.0, request=60)
    assert D360Client(KEY).timeout == Timeout(pool=30.0, connect=10.0, request=30.0)
    # aiohttp measures the pool wait and the connect together, the connect alone separately.
    limits = Timeout(pool=2.0, connect=3.0, request=9.0).for_aiohttp()
    assert (limits.total, limits.connect, limits.sock_connect) == (None, 5.0, 3.0)


@pytest.mark.parametrize(
    "junk", [0, -1.0, float("nan"), float("inf"), "5", True, [5], Timeout, object()]
)
def test_a_timeout_must_make_sense(junk: Any) -> None:
    with pytest.raises(ValidationError, match="timeout"):
        D360Client(KEY, timeout=junk)


@pytest.mark.parametrize("field", ["pool", "connect", "request"])
def test_each_phase_must_make_sense(field: str) -> None:
    with pytest.raises(ValidationError, match=f"timeout.{field}"):
        Timeout(**{field: -1.0})


async def test_the_request_timeout_starts_on_the_wire_and_means_maybe_sent() -> None:
    async with loopback() as server:
        server.hold = True
        async with D360Client(
            KEY,
            base_url=server.url,
            rate_limit=None,
            retry=RetryPolicy.never(),
            timeout=Timeout(pool=None, connect=5.0, request=0.3),
        ) as client:
            with pytest.raises(APITimeoutError) as info:
                await client.send_marketing_message(message(1))
    assert info.value.maybe_sent is True
    assert server.received(message(1)["to"])


async def test_a_pool_wait_timeout_is_not_sent_and_is_retried_for_a_send() -> None:
    async with loopback() as server:
        server.hold = True
        async with D360Client(
            KEY,
            base_url=server.url,
            rate_limit=None,
            max_connections=1,
            retry=RetryPolicy(attempts=2, wait=False),
            timeout=Timeout(pool=0.1, connect=0.1, request=30.0),
        ) as client:
            first = asyncio.create_task(client.send_marketing_message(message(1)))
            await server.arrivals(1)  # holds the only connection
            with pytest.raises(APITimeoutError) as info:
                await client.send_marketing_message(message(2))
            server.release.set()
            await first
    assert info.value.maybe_sent is False
    assert "waiting for or opening a connection" in str(info.value)
    assert not server.received(message(2)["to"])


async def test_pool_exhaustion_never_makes_a_maybe_sent() -> None:
    # 200 concurrent sends, 5 connections, a short pool timeout: those that waited too long
    # fail, and each of them is certainly not sent.
    async with (
        Emulator(rate=None, latency_ms=50) as emu,
        D360Client(
            emu.api_key,
            base_url=emu.url,
            rate_limit=None,
            max_connections=5,
            retry=RetryPolicy.never(),
            timeout=Timeout(pool=0.2, connect=0.1, request=30.0),
        ) as client,
    ):
        results = await asyncio.gather(
            *(client.send_marketing_message(welcome(i)) for i in range(200)),
            return_exceptions=True,
        )
        accepted = {m.wa_id for m in emu.sent_messages}
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures, "the pool was never exhausted: nothing was shown"
    assert all(isinstance(f, APIConnectionError) and not f.maybe_sent for f in failures)
    assert len(accepted) == len(results) - len(failures)
    for i, result in enumerate(results):
        assert (welcome(i)["to"] in accepted) is not isinstance(result, BaseException)


async def test_pool_exhaustion_leaves_nothing_unknown_in_a_bulk_run() -> None:
    async with (
        Emulator(rate=None, latency_ms=50) as emu,
        D360Client(
            emu.api_key,
            base_url=emu.url,
            rate_limit=None,
            max_connections=5,
            retry=RetryPolicy.never(),
            timeout=Timeout(pool=0.2, connect=0.1, request=30.0),
        ) as client,
    ):
        report = await client.send_bulk(
            (welcome(i) for i in range(200)), concurrency=200, preflight=False
        ).run()
        accepted = len(emu.sent_messages)
    assert report.failed > 0
    assert report.unknown == 0
    assert report.sent == accepted
    assert report.sent + report.failed == 200


async def test_an_aiohttp_timeout_is_used_as_given() -> None:
    async with loopback() as server:
        server.hold = True
        async with D360Client(
            KEY,
            base_url=server.url,
            rate_limit=None,
            retry=RetryPolicy.never(),
            timeout=aiohttp.ClientTimeout(total=0.3),
        ) as client:
            with pytest.raises(APITimeoutError) as info:
                await client.get_message_template("1")
    assert info.value.maybe_sent is True  # it was on the wire when the total ran out
