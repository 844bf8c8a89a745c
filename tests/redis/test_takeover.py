"""Workers that die or stall: their messages are taken over, and two workers can never both
send one (compare-and-set on the message's state, only by the worker holding it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from d360_async import ClaimLostError
from d360_async._admission import Item
from d360_async._recipients import recipient_key
from d360_async.redis import campaign_report, enqueue_campaign, run_worker
from d360_async.redis._journal import Claims, RedisJournal
from d360_async.redis._queue import ClaimedMessages
from d360_async.redis._store import CampaignStore
from d360_async.testing import Emulator

from .campaigns import client_of, messages, number, states
from .conftest import RedisProcess


class Worker:
    """A worker's claims and journal driven by hand: claim, mark pending, record, then stop
    answering as a dead or stalled process would (no heartbeat, no release)."""

    def __init__(self, store: CampaignStore, name: str, *, idle_timeout: float) -> None:
        self.store = store
        self.claims = Claims()
        self.source = ClaimedMessages(
            store, name, self.claims, batch=10, idle_timeout=idle_timeout, poll=0.01
        )
        self.journal = RedisJournal(store, name, self.claims)
        self._items = aiter(self.source)

    async def claim(self, n: int) -> list[Item]:
        return [await anext(self._items) for _ in range(n)]

    def digests(self, item: Item) -> tuple[str, str]:
        return self.journal.digest(recipient_key(item.to).encode()), self.journal.digest(item.body)

    async def pending(self, item: Item) -> None:
        await self.journal.mark_pending(item.index, *self.digests(item))

    def record(self, item: Item, status: str, message_id: str | None = None) -> None:
        self.journal.record(item.index, *self.digests(item), status, message_id)

    async def stall(self) -> None:
        """Stop the heartbeat, keep everything else (the claims stay unacknowledged)."""
        await self._items.aclose()  # type: ignore[attr-defined]


@asynccontextmanager
async def worker(url: str, name: str, *, idle_timeout: float = 0.3) -> AsyncIterator[Worker]:
    store = CampaignStore(url, "spring")
    await store.open(create=False)
    hand = Worker(store, name, idle_timeout=idle_timeout)
    await hand.journal.open(None)
    try:
        yield hand
    finally:
        hand.claims.clear()  # a dead worker gives nothing back
        await hand.journal.close()
        await store.aclose()


async def test_a_dead_workers_messages_are_taken_over_its_pending_ones_unknown(
    redis_server: RedisProcess,
) -> None:
    """A worker claims 10 messages, marks 3 pending, and dies: after the idle timeout another
    worker sends the 7 never written and records the 3 ``unknown`` (never sent again)."""
    url = redis_server.url
    await enqueue_campaign(messages(50), "spring", redis=url)
    async with worker(url, "dead") as dead:
        claimed = await dead.claim(10)
        for item in claimed[:3]:
            await dead.pending(item)
        await dead.stall()
        async with Emulator(rate=None) as emu, client_of(emu) as client:
            report = await run_worker(client, url, "spring", idle_timeout=0.3, poll=0.01)
            accepted = emu.accepted_counts()
    assert (report.sent, report.unknown) == (47, 3)
    found = await states(url, "spring")
    assert {i for i, s in found.items() if s == "unknown"} == {item.index for item in claimed[:3]}
    assert set(accepted) == {number(i) for i in range(50)} - {item.to for item in claimed[:3]}
    assert (await campaign_report(url, "spring")).done


async def test_a_stalled_worker_cannot_send_what_another_took_over(
    redis_server: RedisProcess,
) -> None:
    """A worker stalls past the idle timeout holding 10 messages; another takes them over and
    sends them. When the first wakes up, it can neither mark one pending (it would send it a
    second time) nor overwrite the outcome the other recorded."""
    url = redis_server.url
    await enqueue_campaign(messages(10), "spring", redis=url)
    async with worker(url, "slow") as slow:
        claimed = await slow.claim(10)
        await slow.stall()
        async with Emulator(rate=None) as emu, client_of(emu) as client:
            report = await run_worker(client, url, "spring", idle_timeout=0.3, poll=0.01)
        assert report.sent == 10
        with pytest.raises(ClaimLostError, match="taken over by another worker"):
            await slow.pending(claimed[0])
        slow.record(claimed[1], "failed")  # it still thinks it holds the others
        await slow.journal.flush()
    assert set((await states(url, "spring")).values()) == {"sent"}
    assert max(emu.accepted_counts().values()) == 1


async def test_the_answer_of_a_stalled_worker_settles_what_the_other_left_unknown(
    redis_server: RedisProcess,
) -> None:
    """A worker writes a request and stalls; the one that takes its messages over records it
    unknown. The first then gets its answer: sent (with its id) is evidence and replaces
    unknown; a failure after a takeover is not (unknown stays: it may have been accepted)."""
    url = redis_server.url
    await enqueue_campaign(messages(4), "spring", redis=url)
    async with worker(url, "slow") as slow:
        claimed = await slow.claim(4)
        await slow.pending(claimed[0])
        await slow.pending(claimed[1])
        await slow.stall()
        async with Emulator(rate=None) as emu, client_of(emu) as client:
            report = await run_worker(client, url, "spring", idle_timeout=0.3, poll=0.01)
        assert (report.sent, report.unknown) == (2, 2)
        slow.record(claimed[0], "sent", "wamid.LATE")
        slow.record(claimed[1], "failed")
        await slow.journal.flush()
        row = await slow.journal.find_message("wamid.LATE")
    found = await states(url, "spring")
    assert (found[claimed[0].index], found[claimed[1].index]) == ("sent", "unknown")
    final = await campaign_report(url, "spring")
    assert (final.sent, final.unknown, final.done) == (3, 1, True)
    assert row is not None and (row.index, row.status) == (claimed[0].index, "sent")


async def test_the_journal_costs_one_round_trip_per_message_at_most(
    redis_server: RedisProcess,
) -> None:
    """Outcomes ride with the next pending mark (``linger`` long here, so only that or the
    end of the run writes them): one round trip per message for the journal, plus one claim
    per batch, whatever the speed."""
    url = redis_server.url
    n = 200
    await enqueue_campaign(messages(n), "spring", redis=url)
    store = CampaignStore(url, "spring")
    await store.open(create=False)
    async with Emulator(rate=None) as emu, client_of(emu) as client:
        claims = Claims()
        source = ClaimedMessages(store, "one", claims, batch=50, idle_timeout=30, poll=0.01)
        journal = RedisJournal(store, "one", claims, linger=3600)
        before = store.round_trips
        report = await client.send_bulk(source, journal=journal, dedupe=False, concurrency=1).run()  # type: ignore[arg-type]
        used = store.round_trips - before
    await store.aclose()
    assert report.sent == n
    claims_made = source.claims_made
    # 4 full claims and the one finding the campaign done; those that found nothing while
    # the last outcome was being written do not count
    assert claims_made - source.empty_claims == n // 50 + 1
    assert used - claims_made <= n + 1  # n pending marks, then the last outcome


async def test_concurrent_pending_marks_share_round_trips(redis_server: RedisProcess) -> None:
    """50 sends in flight: pending marks waiting together go in one script (group commit)."""
    url = redis_server.url
    n = 500
    await enqueue_campaign(messages(n), "spring", redis=url)
    store = CampaignStore(url, "spring")
    await store.open(create=False)
    async with Emulator(rate=None, latency_ms=5) as emu, client_of(emu) as client:
        claims = Claims()
        source = ClaimedMessages(store, "one", claims, batch=100, idle_timeout=30, poll=0.01)
        journal = RedisJournal(store, "one", claims)
        report = await client.send_bulk(source, journal=journal, dedupe=False, concurrency=50).run()  # type: ignore[arg-type]
    await store.aclose()
    assert report.sent == n
    assert store.round_trips < n  # fewer than one per message


async def test_a_worker_restarted_under_its_name_takes_its_messages_back_at_once(
    redis_server: RedisProcess,
) -> None:
    url = redis_server.url
    await enqueue_campaign(messages(30), "spring", redis=url)
    async with worker(url, "w1", idle_timeout=3600) as first:
        await first.claim(10)
        await first.stall()
    async with Emulator(rate=None) as emu, client_of(emu) as client:
        report = await asyncio.wait_for(
            run_worker(client, url, "spring", worker="w1", idle_timeout=3600, poll=0.01), 30
        )
    assert report.sent == 30
    assert len(emu.accepted_counts()) == 30


async def test_only_the_worker_holding_a_message_can_mark_it_pending(
    redis_server: RedisProcess,
) -> None:
    """Two workers hold the same queued message: the one that stalled and the one that took
    it over (not yet on the wire). Only the second can mark it pending: both marking it from
    the same queued state would both send it."""
    url = redis_server.url
    await enqueue_campaign(messages(3), "spring", redis=url)
    async with worker(url, "slow") as slow, worker(url, "fast") as fast:
        claimed = await slow.claim(3)
        await slow.stall()
        await asyncio.sleep(0.4)  # past the idle timeout (0.3 s)
        taken = await fast.claim(3)
        assert [item.index for item in taken] == [item.index for item in claimed]
        with pytest.raises(ClaimLostError):
            await slow.pending(claimed[0])
        await fast.pending(taken[0])
        fast.record(taken[0], "sent", "wamid.FAST")
        await fast.journal.flush()
    found = await states(url, "spring")
    assert found[claimed[0].index] == "sent"


async def test_a_restarted_worker_takes_back_thousands_of_its_messages_in_one_claim(
    redis_server: RedisProcess,
) -> None:
    """The claim script reads the states of the entries it hands out a thousand at a time
    (Lua's ``unpack`` takes a few thousand values at most): a worker restarted under its name
    with 2,500 unacknowledged entries gets every one back in its first claim, none twice."""
    url = redis_server.url
    n = 2500
    await enqueue_campaign(messages(n), "spring", redis=url)
    store = CampaignStore(url, "spring")
    await store.open(create=False)
    try:
        first = ClaimedMessages(store, "w1", Claims(), batch=n, idle_timeout=3600, poll=0.01)
        done, items, full = await first._claim("1")
        assert (done, len(items), full) == (0, n, True)
        again = ClaimedMessages(store, "w1", Claims(), batch=10, idle_timeout=3600, poll=0.01)
        done, items, full = await again._claim("1")
        positions = [item.index for item in items]
    finally:
        await store.aclose()
    assert done == 0
    assert sorted(positions) == list(range(n))


async def test_the_next_claim_is_made_while_the_first_half_is_sent_and_given_back_on_close(
    redis_server: RedisProcess,
) -> None:
    """A full claim: the next one is made once half of its messages were handed out, so that
    the sends never wait for it together (a convoy). Its messages are noted as claimed as its
    answer comes; a worker that stops gives them back with the rest: another worker claims
    all 30 at once."""
    url = redis_server.url
    await enqueue_campaign(messages(30), "spring", redis=url)
    store = CampaignStore(url, "spring")
    await store.open(create=False)
    try:
        claims = Claims()
        source = ClaimedMessages(store, "a", claims, batch=10, idle_timeout=3600, poll=0.01)
        journal = RedisJournal(store, "a", claims)
        await journal.open(None)
        items = aiter(source)
        taken = [await anext(items) for _ in range(6)]
        async with asyncio.timeout(10):
            while len(claims) < 20:  # noqa: ASYNC110 (a state of this process, no event for it)
                await asyncio.sleep(0.001)
        assert source.claims_made == 2
        taken += [await anext(items) for _ in range(6)]
        assert [item.index for item in taken] == list(range(12))
        await items.aclose()  # type: ignore[attr-defined]
        await journal.close()
        other = ClaimedMessages(store, "b", Claims(), batch=30, idle_timeout=3600, poll=0.01)
        done, again, _ = await other._claim("0")
    finally:
        await store.aclose()
    assert done == 0
    assert sorted(item.index for item in again) == list(range(30))
