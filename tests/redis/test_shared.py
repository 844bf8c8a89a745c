"""Several ``D360Client`` workers sharing one ``RedisRateLimiter`` limit, end to end: the
emulator on loopback, a real valkey-server, ``send_bulk`` with its defaults.

Each worker has its own limiter object, connection pool and Pub/Sub subscription, as separate
processes would; only Redis connects them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from d360_async import (
    BulkReport,
    D360Client,
    LimiterUnavailableError,
    MessageBuilder,
    Scope,
    SendStatus,
)
from d360_async.redis import RedisRateLimiter
from d360_async.testing import Emulator

from .conftest import Bookings, RedisProcess

WELCOME = MessageBuilder(name="welcome_offer", language="en_US")


def campaign(worker: int, count: int) -> Iterator[Any]:
    for i in range(count):
        yield WELCOME.build(f"49{worker + 1:02d}{i:09d}", body=[f"friend {i}"])


class Noted:
    """A ``RateLimiter`` around the worker's own, noting the start (server clock) each request
    went on, the pause its limiter had heard of then, and the pauses this worker asked for."""

    def __init__(self, limiter: RedisRateLimiter) -> None:
        self.limiter = limiter
        self.bookings = Bookings(limiter)
        self.pauses: list[tuple[float, int]] = []  # (seconds, end on the server's clock)

    def rate(self, scope: Scope) -> float | None:
        return self.limiter.rate(scope)

    async def acquire(self, scope: Scope, *, key: str | None = None) -> None:
        await self.bookings.acquire(scope, key=key)

    async def pause(self, scope: Scope, seconds: float) -> None:
        await self.limiter.pause(scope, seconds)
        self.pauses.append((seconds, self.limiter._scopes[scope].pause_end))


async def test_a_429_seen_by_one_worker_pauses_all_four(redis_server: RedisProcess) -> None:
    """The emulator throttles the 41st send (Retry-After: 1 s). The worker that got the 429
    pauses the shared limit: no request goes on a start inside the pause (server clock) once
    its limiter has heard of the pause (the worker that paused: at once), and every worker
    has requests held back until after it. Order, not speed: a limiter that heard late under
    load let its earlier starts go, and that is all it may do."""
    async with Emulator(rate=None, faults=["ok"] * 40 + ["429"], retry_after=1) as emu:
        workers = [
            Noted(RedisRateLimiter(redis_server.url, account=emu.api_key, rate=40))
            for _ in range(4)
        ]
        clients = [D360Client(emu.api_key, base_url=emu.url, rate_limit=w) for w in workers]
        try:
            # 10 in flight each: starts are booked up to a second ahead when the 429 comes
            reports = await asyncio.gather(
                *(c.send_bulk(campaign(i, 30), concurrency=10).run() for i, c in enumerate(clients))
            )
        finally:
            for client, worker in zip(clients, workers, strict=True):
                await client.close()
                await worker.limiter.aclose()
    assert [r.sent for r in reports] == [30, 30, 30, 30]  # the throttled send was retried
    assert emu.faults_injected["429"] == 1
    paused = [(w, p) for w in workers for p in w.pauses]
    assert len(paused) == 1
    _, (seconds, end) = paused[0]
    begin = end - seconds * 1_000_000  # the server's clock when the pause was set
    for worker in workers:
        used = worker.bookings.used
        inside = [(slot, heard) for slot, heard in used if begin <= slot < end]
        assert all(heard < end for _, heard in inside), inside  # only before hearing of it
        assert [slot for slot, _ in used if slot >= end]  # each had sends held back


async def test_redis_stopped_mid_campaign_fails_closed_and_a_resume_completes(
    redis_server: RedisProcess, tmp_path: Path
) -> None:
    """Redis dies while a campaign runs: sends stop with ``LimiterUnavailableError`` within
    the limiter's timeout, nothing goes out without the limit, every message not sent is
    "failed" (certainly not sent); with Redis back, the journal's resume sends the rest."""
    journal = tmp_path / "campaign.sqlite"
    total, rate, timeout = 150, 50, 0.5
    async with Emulator(rate=None, latency_ms=20) as emu:
        limiter = RedisRateLimiter(
            redis_server.url, account=emu.api_key, rate=rate, timeout=timeout
        )
        async with limiter, D360Client(emu.api_key, base_url=emu.url, rate_limit=limiter) as c:
            enough = asyncio.Event()

            def progress(report: BulkReport) -> None:
                if report.sent >= 40:
                    enough.set()

            bulk = c.send_bulk(
                campaign(0, total), journal=journal, on_progress=progress, progress_interval=0
            )
            run = asyncio.ensure_future(bulk.run())
            await enough.wait()
            redis_server.stop()
            stopped_at = time.time()
            report = await run
        first = len(emu.sent_messages)
        after_stop = [m for m in emu.sent_messages if m.timestamp > stopped_at]

        assert report.stopped is not None and "rate limiter unavailable" in report.stopped
        assert report.sent == first < total
        assert report.failed >= 1 and report.unknown == 0
        assert report.sent + report.failed + report.skipped == total
        # only what had its start already (in flight, or booked before): unthrottled, the
        # other ~100 messages would have gone out at once
        assert len(after_stop) <= 10

        redis_server.start()
        limiter = RedisRateLimiter(redis_server.url, account=emu.api_key, rate=rate)
        async with limiter, D360Client(emu.api_key, base_url=emu.url, rate_limit=limiter) as c:
            resumed = await c.send_bulk(campaign(0, total), journal=journal).run()

        assert resumed.sent == total - first
        assert resumed.skipped == first  # already sent in the first run
        assert len(emu.sent_messages) == total
        assert emu.duplicate_recipients() == {}


async def test_a_failed_limiter_is_a_certainly_not_sent_failure(
    redis_server: RedisProcess,
) -> None:
    async with Emulator(rate=None) as emu:
        redis_server.stop()
        limiter = RedisRateLimiter(redis_server.url, account=emu.api_key, timeout=0.3)
        async with limiter, D360Client(emu.api_key, base_url=emu.url, rate_limit=limiter) as c:
            with pytest.raises(LimiterUnavailableError):
                await c.send_marketing_message(next(campaign(0, 1)))
            run = c.send_bulk(campaign(0, 5), preflight=False)
            outcomes = [result async for result in run]
    assert emu.sent_messages == []
    assert {r.status for r in outcomes} <= {SendStatus.FAILED, SendStatus.SKIPPED}
    failed = [r for r in outcomes if r.status is SendStatus.FAILED]
    assert failed and all(isinstance(r.error, LimiterUnavailableError) for r in failed)
    assert run.report.stopped is not None
