"""Fault injection: schedules, drops (before/after recording), slow bodies, latency, seeds."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from d360_async.testing import Emulator
from d360_async.testing._faults import FaultPlan, Latency

from ._helpers import call, event, message, meta_error

ALL_KINDS = ("500", "502", "503", "429", "drop_before", "drop_after", "slow")


async def _outcome(http: aiohttp.ClientSession, emu: Emulator, to: str) -> str:
    """The status as text, or ``"dropped"`` when the connection was closed without an answer
    (aiohttp reports that as ServerDisconnectedError or ClientOSError depending on timing)."""
    try:
        status, _, _ = await call(http, emu, "POST", "/marketing_messages", json=message(to=to))
    except aiohttp.ClientError:
        return "dropped"
    return str(status)


async def test_status_faults_follow_the_schedule(http: aiohttp.ClientSession) -> None:
    async with Emulator(rate=None, faults=["500", "502", "503", "429", "ok"], retry_after=3) as emu:
        results = [
            await call(http, emu, "POST", "/marketing_messages", json=message(to=f"+49151{i:08d}"))
            for i in range(6)
        ]

    assert [status for status, _, _ in results] == [500, 502, 503, 429, 200, 200]
    assert meta_error(results[0][1])["code"] == 1
    assert results[1][2].content_type == "text/html"
    assert "502 Bad Gateway" in results[1][1]
    assert meta_error(results[2][1])["code"] == 2
    assert meta_error(results[3][1])["code"] == 130429
    assert results[3][2].headers["Retry-After"] == "3"
    assert [m.wa_id for m in emu.sent_messages] == ["4915100000004", "4915100000005"]
    assert emu.faults_injected == {"500": 1, "502": 1, "503": 1, "429": 1}
    assert emu.rate_limited == 0


async def test_drop_before_closes_without_recording(http: aiohttp.ClientSession) -> None:
    async with Emulator(rate=None, faults=["drop_before"]) as emu:
        with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
            await call(http, emu, "POST", "/marketing_messages", json=message())
        retried, _, _ = await call(http, emu, "POST", "/marketing_messages", json=message())

    assert retried == 200
    assert emu.accepted_counts() == {"4915100000001": 1}
    assert emu.faults_injected == {"drop_before": 1}


async def test_drop_after_records_then_closes(http: aiohttp.ClientSession) -> None:
    """The ambiguous case: the client sees a dropped connection, yet the send was accepted;
    a blind retry then shows up as a duplicate."""
    async with Emulator(rate=None, faults=["drop_after"]) as emu:
        with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
            await call(http, emu, "POST", "/marketing/marketing_messages", json=message())
        assert emu.accepted_counts() == {"4915100000001": 1}
        await call(http, emu, "POST", "/marketing/marketing_messages", json=message())

    assert emu.duplicate_recipients() == {"4915100000001": 2}


async def test_drop_after_on_events_records_them(http: aiohttp.ClientSession) -> None:
    async with Emulator(faults=["drop_after", "drop_before"]) as emu:
        for _ in range(2):
            with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
                await call(http, emu, "POST", "/marketing/ds/events", json={"data": [event(1)]})
        status, _, _ = await call(
            http, emu, "POST", "/marketing/ds/events", json={"data": [event(1)]}
        )

    assert status == 200
    assert [e.event_id for e in emu.events["ds"]] == ["order-1"]
    assert emu.duplicate_events == 1


async def test_faults_apply_only_to_send_and_event_endpoints(http: aiohttp.ClientSession) -> None:
    async with Emulator(faults=["500"]) as emu:
        listed, _, _ = await call(http, emu, "GET", "/marketing/message_templates")
        sent, _, _ = await call(http, emu, "POST", "/marketing_messages", json=message())
    assert (listed, sent) == (200, 500)
    assert emu.fault_log == [("send-marketing-message", "500")]


async def test_slow_body_arrives_in_chunks_intact(http: aiohttp.ClientSession) -> None:
    async with Emulator(
        rate=None, faults=["slow"], slow_body_chunks=4, slow_body_delay_ms=30
    ) as emu:
        started = time.perf_counter()
        async with http.post(
            emu.url + "/marketing_messages", json=message(), headers={"D360-API-KEY": emu.api_key}
        ) as resp:
            chunks = [chunk async for chunk in resp.content.iter_any()]
            elapsed = time.perf_counter() - started
            assert resp.status == 200
            assert resp.headers["Content-Length"] == str(sum(map(len, chunks)))

    body = b"".join(chunks)
    assert elapsed >= 0.085  # three 30 ms pauses
    assert len(chunks) >= 2
    assert emu.sent_messages[0].wamid.encode() in body


async def test_fixed_latency_delays_every_api_request(http: aiohttp.ClientSession) -> None:
    async with Emulator(rate=None, latency_ms=100) as emu:
        started = time.perf_counter()
        await call(http, emu, "GET", "/marketing/message_templates")
        elapsed = time.perf_counter() - started
        started = time.perf_counter()
        async with http.get(emu.url + "/_emulator/state") as resp:
            await resp.read()
        control = time.perf_counter() - started

    assert elapsed >= 0.1
    assert control < 0.1


def test_latency_jitter_is_seeded() -> None:
    def delays(seed: int) -> list[float]:
        latency = Latency(fixed_ms=10, jitter_ms=20, seed=seed)
        return [latency.next_delay() for _ in range(20)]

    assert delays(5) == delays(5)
    assert delays(5) != delays(6)
    assert all(0.01 <= d <= 0.03 for d in delays(5))


async def _run(seed: int, *, concurrent: bool, recipients: list[str]) -> tuple[dict[str, str], Any]:
    async with (
        Emulator(
            rate=None, seed=seed, fault_rate=0.4, fault_kinds=ALL_KINDS, slow_body_delay_ms=1
        ) as emu,
        aiohttp.ClientSession() as http,
    ):
        if concurrent:
            outcomes = await asyncio.gather(*(_outcome(http, emu, to) for to in recipients))
        else:
            outcomes = [await _outcome(http, emu, to) for to in recipients]
        return dict(zip(recipients, outcomes, strict=True)), list(emu.fault_log)


async def test_same_seed_same_faults() -> None:
    recipients = [f"+49151{i:08d}" for i in range(40)]

    first, log = await _run(42, concurrent=False, recipients=recipients)
    second, same_log = await _run(42, concurrent=False, recipients=recipients)
    other, other_log = await _run(43, concurrent=False, recipients=recipients)

    assert first == second
    assert first != other
    assert log == same_log
    assert log != other_log
    kinds = {kind for _, kind in log}
    assert "ok" in kinds
    assert len(kinds) >= 4


async def test_seeded_faults_do_not_depend_on_interleaving() -> None:
    recipients = [f"+49151{i:08d}" for i in range(40)]

    sequential, _ = await _run(7, concurrent=False, recipients=recipients)
    concurrent, _ = await _run(7, concurrent=True, recipients=recipients)

    assert sequential == concurrent


def test_fault_plan_retry_of_same_body_draws_again() -> None:
    plan = FaultPlan(seed=3, rate=0.5, kinds=("500",), schedule=[])
    again = FaultPlan(seed=3, rate=0.5, kinds=("500",), schedule=[])

    draws = [plan.decide("send", b"same body") for _ in range(32)]

    assert draws == [again.decide("send", b"same body") for _ in range(32)]
    assert set(draws) == {"ok", "500"}


def test_fault_plan_schedule_then_rate_and_reset() -> None:
    plan = FaultPlan(seed=1, rate=0.0, kinds=("500",), schedule=["503", "ok", "drop_after"])
    plan.extend(["429"])

    assert [plan.decide("op", b"") for _ in range(5)] == ["503", "ok", "drop_after", "429", "ok"]
    assert not plan.active
    plan.reset()
    assert plan.active
    assert plan.injected == {}
    assert plan.log == []
    with pytest.raises(ValueError, match="unknown fault"):
        plan.extend(["teapot"])


async def test_add_faults_at_runtime(http: aiohttp.ClientSession) -> None:
    async with Emulator(rate=None) as emu:
        emu.add_faults(["503"])
        first, _, _ = await call(http, emu, "POST", "/marketing_messages", json=message())
        second, _, _ = await call(http, emu, "POST", "/marketing_messages", json=message())
    assert (first, second) == (503, 200)
