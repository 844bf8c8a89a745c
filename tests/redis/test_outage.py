"""Redis unreachable, or restarted mid-campaign with append-only persistence: a typed error,
nothing sent without its state recorded first, and the campaign resumes and completes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from d360_async import JournalUnavailableError
from d360_async.redis import RedisRateLimiter, campaign_report, enqueue_campaign, run_worker
from d360_async.testing import Emulator

from .campaigns import client_of, messages, number, states
from .conftest import RedisProcess

#: Every write on disk before Redis answers it: what a SIGKILL cannot take back.
DURABLE = {"appendonly": "yes", "appendfsync": "always"}


@pytest.fixture
def durable_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(data_dir=tmp_path / "redis", config=DURABLE)
    try:
        yield server
    finally:
        server.close()


async def test_unreachable_redis_is_a_typed_error_and_nothing_is_sent(
    redis_server: RedisProcess,
) -> None:
    url = redis_server.url
    redis_server.stop()
    with pytest.raises(JournalUnavailableError, match="redis unavailable"):
        await enqueue_campaign(messages(10), "spring", redis=url, redis_timeout=0.5)
    with pytest.raises(JournalUnavailableError, match="nothing is sent without its state"):
        await campaign_report(url, "spring", redis_timeout=0.5)
    async with Emulator(rate=None) as emu, client_of(emu) as client:
        started = time.monotonic()
        with pytest.raises(JournalUnavailableError):
            await run_worker(client, url, "spring", reconnect_for=0.5, redis_timeout=0.5)
        assert time.monotonic() - started < 30  # bounded: it gives up after reconnect_for
    assert emu.sent_messages == []


async def kill_when(server: RedisProcess, emu: Emulator, accepted: int) -> None:
    while len(emu.sent_messages) < accepted:  # noqa: ASYNC110 (polling a test server)
        await asyncio.sleep(0.002)
    server.stop()  # SIGKILL


async def test_no_message_is_sent_without_its_state_recorded_first(
    durable_redis: RedisProcess,
) -> None:
    """Redis is killed mid-campaign (the worker gives up quickly here). Restarted from its
    append-only file, it has a state written for every message the server accepted (pending,
    sent or unknown: never queued); a new worker then completes the campaign, nobody twice,
    and whoever was never messaged is among the unknown."""
    url = durable_redis.url
    n = 400
    await enqueue_campaign(messages(n), "spring", redis=url)
    async with Emulator(rate=None, latency_ms=10) as emu, client_of(emu) as client:
        worker = run_worker(
            client, url, "spring", concurrency=8, reconnect_for=0.2, redis_timeout=0.5
        )
        outcome, _ = await asyncio.gather(
            asyncio.wait_for(worker, 60), kill_when(durable_redis, emu, 150), return_exceptions=True
        )
        assert isinstance(outcome, JournalUnavailableError)
        await asyncio.sleep(0.1)  # answers in flight land
        accepted_at_kill = set(emu.accepted_counts())
        durable_redis.start()
        found = await states(url, "spring")
        unrecorded = {number(i) for i, status in found.items() if status is None}
        assert len(found) == n
        assert not accepted_at_kill & unrecorded
        report = await run_worker(client, url, "spring", concurrency=8, idle_timeout=0.3)
        accepted = emu.accepted_counts()
    assert report.stopped is None
    final = await campaign_report(url, "spring")
    assert final.done and final.total == n
    assert max(accepted.values()) == 1
    found = await states(url, "spring")
    unknown = {number(i) for i, status in found.items() if status == "unknown"}
    sent = {number(i) for i, status in found.items() if status == "sent"}
    assert sent | unknown == {number(i) for i in range(n)}
    assert sent <= set(accepted)
    assert {number(i) for i in range(n)} - set(accepted) <= unknown


@pytest.mark.parametrize("limited", [False, True], ids=["journal", "journal-and-limiter"])
async def test_a_worker_rides_out_a_redis_restart(
    durable_redis: RedisProcess, limited: bool
) -> None:
    """Redis killed and restarted a second later: the worker keeps trying (reconnect_for),
    resumes, and the campaign completes with the same guarantee. With the rate limit booked
    in that Redis too, sends fail with ``LimiterUnavailableError`` (certainly not sent), their
    messages go back to the queue, and the worker runs again once Redis is back (the journal
    notes the limiter that gave out; no result per message is kept)."""
    url = durable_redis.url
    n = 400
    await enqueue_campaign(messages(n), "spring", redis=url)

    async def restart(emu: Emulator) -> None:
        await kill_when(durable_redis, emu, 150)
        await asyncio.sleep(1.0)
        durable_redis.start()

    limiter = RedisRateLimiter(url, account="spring-key", rate=1e6, timeout=0.5)
    try:
        async with (
            Emulator(rate=None, latency_ms=10) as emu,
            client_of(emu, rate_limit=limiter if limited else None) as client,
        ):
            worker = run_worker(
                client, url, "spring", concurrency=8, reconnect_for=30, redis_timeout=0.5
            )
            report: Any
            report, _ = await asyncio.gather(asyncio.wait_for(worker, 90), restart(emu))
            accepted = emu.accepted_counts()
    finally:
        await limiter.aclose()
    assert report.stopped is None  # the last run ended with the campaign
    final = await campaign_report(url, "spring")
    assert final.done and final.total == n and final.pending == final.queued == 0
    assert max(accepted.values()) == 1
    # the sends in flight when Redis died ended; their outcomes were written once it was back
    assert (final.sent, final.unknown, report.unknown) == (n, 0, 0)
    assert len(accepted) == n
