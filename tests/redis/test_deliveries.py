"""Delivery statuses on a campaign kept in Redis: two workers send it against the emulator
(answers dropped after acceptance, Meta's 503 refusals), status webhooks go to a
``DeliveryTracker`` on ``campaign_journal``; every message left ``unknown`` is settled, and
``campaign_report`` counts the statuses the emulator generated."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from d360_async import D360Client, DeliveryMatch, DeliveryTracker, DeliveryUpdate
from d360_async.redis import campaign_journal, campaign_report, enqueue_campaign, run_worker
from d360_async.redis._layout import campaign_keys
from d360_async.testing import Emulator, WebhookSettings
from d360_async.webhooks import WebhookReceiver
from tests.webhooks.conftest import serving

from .campaigns import client_of, messages, raw
from .conftest import RedisProcess

N = 1_500
SETTINGS = WebhookSettings(
    delivered=0.3,
    read=0.5,
    failed=0.1,
    read_without_delivered=0.3,
    duplicates=0.2,
    reorder=0.4,
    delay_ms=1,
    jitter_ms=20,
    failed_codes=(131049, 131026),
    batch_size=20,
    batch_window_ms=5,
    retry_base_ms=5,
)


@asynccontextmanager
async def with_webhooks(
    url: str, *, seed: int, fault_rate: float, kinds: tuple[str, ...]
) -> AsyncIterator[tuple[DeliveryTracker, Emulator, D360Client]]:
    """A tracker on campaign "spring", its receiver, an emulator with faults sending status
    webhooks to it, and a client of the emulator."""
    async with DeliveryTracker(campaign_journal(url, "spring")) as tracker:
        receiver = WebhookReceiver(tracker.handle)
        async with (
            serving(receiver.app()) as hook_url,
            Emulator(
                rate=None,
                seed=seed,
                fault_rate=fault_rate,
                fault_kinds=kinds,
                webhook_url=hook_url,
                webhooks=SETTINGS,
            ) as emu,
            client_of(emu) as client,
        ):
            yield tracker, emu, client


async def test_with_webhooks_on_no_message_is_left_unknown(redis_server: RedisProcess) -> None:
    url = redis_server.url
    await enqueue_campaign(messages(N), "spring", redis=url)
    async with with_webhooks(url, seed=16, fault_rate=0.04, kinds=("drop_after", "503")) as (
        tracker,
        emu,
        client,
    ):
        workers = await asyncio.gather(
            *(
                run_worker(client, url, "spring", worker=f"w{i}", concurrency=20, poll=0.01)
                for i in range(2)
            )
        )
        async with asyncio.timeout(120):
            await emu.webhooks.drain()
        report = await campaign_report(url, "spring")
        final = Counter(emu.webhooks.final_statuses().values())
        accepted = emu.accepted_counts()

    unknown = sum(w.unknown for w in workers)
    assert emu.faults_injected["drop_after"] > 0 and unknown > 0  # the drops happened...
    d = report.deliveries
    assert (report.unknown, d.unknown) == (0, 0)  # ...and every one was settled
    assert d.settled == unknown
    assert report.done and report.sent == d.accepted == N == len(accepted)
    assert max(accepted.values()) == 1  # nobody twice
    assert (d.sent, d.delivered, d.read, d.failed, d.no_status) == (
        final["sent"],
        final["delivered"],
        final["read"],
        final["failed"],
        0,
    )
    assert sum(d.failed_by_code.values()) == d.failed
    assert tracker.counts.unmatched == 0
    assert "statuses: none=0" in str(report)


async def test_statuses_match_by_id_or_recipient_only_within_the_campaign(
    redis_server: RedisProcess,
) -> None:
    """A status of another campaign's message matches nothing; a second status of the same
    message keeps the most advanced one."""
    url = redis_server.url
    await enqueue_campaign(messages(3), "small", redis=url)
    async with Emulator(rate=None) as emu, client_of(emu) as client:
        await run_worker(client, url, "small", concurrency=3)
    journal = campaign_journal(url, "small")
    await journal.open(None)
    try:
        report = await journal.delivery_report()
        assert (report.accepted, report.no_status) == (3, 3)
        ids = await _ids(url)
        stranger = journal.digest(b"4915199999999")
        matches = await journal.record_deliveries(
            [
                DeliveryUpdate(message_id=ids[0], status="read", timestamp=1.0),
                DeliveryUpdate(message_id=ids[0], status="delivered", timestamp=2.0),
                DeliveryUpdate(message_id="wamid.other", status="sent", timestamp=3.0),
                DeliveryUpdate(
                    message_id="wamid.other2", status="sent", timestamp=3.0, recipient=stranger
                ),
                DeliveryUpdate(message_id=ids[1], status="deleted", timestamp=3.0),
            ]
        )
        assert matches == [DeliveryMatch.MESSAGE] * 2 + [DeliveryMatch.NONE] * 3
        report = await journal.delivery_report()
        assert (report.read, report.delivered, report.no_status) == (1, 0, 2)
    finally:
        await journal.close()


async def _ids(url: str) -> list[str]:
    """The campaign's message ids, by position."""
    async with raw(url) as client:
        found = await client.hgetall(campaign_keys("small").ids)
    return [k.decode() for k, _ in sorted(found.items(), key=lambda kv: int(kv[1]))]


async def died_before_the_first_byte(url: str, campaign: str, count: int) -> None:
    """What a worker killed between its pending marks and its requests leaves: ``count``
    messages claimed by it and ``pending``, written long ago, never sent."""
    keys = campaign_keys(campaign)
    async with raw(url) as client:
        got = await client.xreadgroup("workers", "dead", {keys.queue: ">"}, count=count)
        for _, fields in got[0][1]:
            position = fields[b"i"]
            state = (await client.hget(keys.state, position)).decode()
            await client.hset(keys.state, position, "p" + state[1:65] + "dead")
            await client.hset(keys.written, position, "1.0")
            await client.hincrby(keys.counts, "q", -1)
            await client.hincrby(keys.counts, "p", 1)


async def test_webhooks_and_resend_unknown_after_leave_nobody_out(
    redis_server: RedisProcess,
) -> None:
    """A worker died between its pending marks and its requests (5 messages), and answers
    were lost after acceptance: webhooks settle the lost answers; re-running the producer
    with ``resend_unknown_after`` queues the 5 others again, and a worker sends them: every
    recipient accepted exactly once, nobody left unknown."""
    url, n = redis_server.url, 60
    await enqueue_campaign(messages(n), "spring", redis=url)
    await died_before_the_first_byte(url, "spring", 5)
    async with with_webhooks(url, seed=3, fault_rate=0.1, kinds=("drop_after",)) as (
        _,
        emu,
        client,
    ):
        first = await run_worker(client, url, "spring", concurrency=8, idle_timeout=0.2)
        async with asyncio.timeout(60):
            await emu.webhooks.drain()
        before = await campaign_report(url, "spring")
        dropped = emu.faults_injected["drop_after"]
        again = await enqueue_campaign(messages(n), "spring", redis=url, resend_unknown_after=60)
        second = await run_worker(client, url, "spring", concurrency=8)
        async with asyncio.timeout(60):
            await emu.webhooks.drain()
        after = await campaign_report(url, "spring")
        accepted = emu.accepted_counts()
    assert dropped > 0
    assert first.unknown == 5 + dropped
    assert (before.unknown, before.done) == (5, True)  # the lost answers were settled
    assert (again.added, again.queued_again) == (0, 5)
    assert second.total == 5 and second.failed == 0
    assert (after.sent, after.unknown, after.done) == (n, 0, True)
    assert len(accepted) == n and max(accepted.values()) == 1
