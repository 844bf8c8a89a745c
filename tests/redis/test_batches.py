"""Several journal batches in flight at once (``RedisJournal(lanes=)``): a pending mark does
not wait for a batch already in flight, and each message's changes still reach Redis in the
order they were made (a restore is never overtaken by the next pending mark of its message)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest

from d360_async import ValidationError
from d360_async._admission import Item
from d360_async._recipients import recipient_key
from d360_async.redis import campaign_report, enqueue_campaign, run_worker
from d360_async.redis._journal import Claims, RedisJournal
from d360_async.redis._queue import ClaimedMessages
from d360_async.redis._store import CampaignStore
from d360_async.testing import Emulator

from .campaigns import client_of, messages, raw, states
from .conftest import RedisProcess


class GatedStore(CampaignStore):
    """A store whose next ``apply`` batches can be held: before they reach Redis
    (``"before"``) or after Redis applied them, their answer not yet back (``"after"``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plan: list[tuple[str, asyncio.Event]] = []
        #: Positions of each batch sent so far, in the order they were sent.
        self.batches: list[list[int]] = []

    def hold(self, when: str) -> asyncio.Event:
        gate = asyncio.Event()
        self.plan.append((when, gate))
        return gate

    async def call_patiently(self, script: str, args: list[Any], patience: float) -> Any:
        if script != "apply":
            return await super().call_patiently(script, args, patience)
        ops = orjson.loads(args[1])
        self.batches.append([int(position) for position in ops[1::5]])
        when, gate = self.plan.pop(0) if self.plan else ("", None)
        if gate is not None and when == "before":
            await gate.wait()
        result = await super().call_patiently(script, args, patience)
        if gate is not None and when == "after":
            await gate.wait()
        return result


class Hand:
    """One worker's claims and journal (two lanes), driven by hand."""

    def __init__(
        self, store: GatedStore, claims: Claims, source: ClaimedMessages, journal: RedisJournal
    ) -> None:
        self.store = store
        self.claims = claims
        self.journal = journal
        self._items = aiter(source)

    async def claim(self, n: int) -> list[Item]:
        return [await anext(self._items) for _ in range(n)]

    def digests(self, item: Item) -> tuple[str, str]:
        return self.journal.digest(recipient_key(item.to).encode()), self.journal.digest(item.body)

    def pending(self, item: Item) -> asyncio.Task[None]:
        return asyncio.create_task(self.journal.mark_pending(item.index, *self.digests(item)))


@asynccontextmanager
async def hand(url: str, *, dies: bool = False) -> AsyncIterator[Hand]:
    store = GatedStore(url, "spring")
    await store.open(create=False)
    claims = Claims()
    source = ClaimedMessages(store, "hand", claims, batch=10, idle_timeout=0.3, poll=0.01)
    journal = RedisJournal(store, "hand", claims, lanes=2)
    await journal.open(None)
    worker = Hand(store, claims, source, journal)
    try:
        yield worker
    finally:
        await worker._items.aclose()  # type: ignore[attr-defined]
        if dies:  # killed: what is in flight goes no further, nothing is given back
            lanes = journal._tasks
            for lane in lanes:
                lane.cancel()
            await asyncio.gather(*lanes, return_exceptions=True)
        else:
            await journal.close()
        await store.aclose()


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 (a state of this process, no event for it)
            await asyncio.sleep(0.001)


async def raw_state(url: str, index: int) -> str:
    from d360_async.redis._layout import campaign_keys

    async with raw(url) as client:
        value = await client.hget(campaign_keys("spring").state, str(index))
    return bytes(value).decode()


async def test_a_pending_mark_does_not_wait_for_the_batch_in_flight(
    redis_server: RedisProcess,
) -> None:
    """Message a's batch is in flight (applied, its answer not back): message b's pending mark
    leaves in the other lane and returns; a's returns once its answer is back."""
    url = redis_server.url
    await enqueue_campaign(messages(4), "spring", redis=url)
    async with hand(url) as worker:
        a, b = await worker.claim(2)
        answer = worker.store.hold("after")
        first = worker.pending(a)
        await until(lambda: len(worker.store.batches) == 1)
        await asyncio.wait_for(worker.pending(b), 10)  # one lane could not: a's is in flight
        assert not first.done()
        answer.set()
        await asyncio.wait_for(first, 10)
        assert worker.store.batches == [[a.index], [b.index]]
    found = await states(url, "spring")
    assert (found[a.index], found[b.index]) == ("pending", "pending")


async def test_a_restore_and_the_next_pending_mark_keep_their_order(
    redis_server: RedisProcess,
) -> None:
    """A refused attempt: message a's pending mark is taken back (restore) in a batch held
    before it reaches Redis, and the retry marks it pending again. The new mark waits for the
    restore's batch (the other lane stays free for other messages) and is applied after it:
    the message ends ``pending``, as it is on the wire. Sent first, the mark would have found
    a's state already pending (applied, it says) and the restore would then have put a back
    in the queue while its request was written."""
    url = redis_server.url
    await enqueue_campaign(messages(4), "spring", redis=url)
    async with hand(url) as worker:
        a, b = await worker.claim(2)
        await worker.pending(a)
        marked = await raw_state(url, a.index)
        release = worker.store.hold("before")
        worker.journal.restore(a.index, None)
        worker.claims.nudge()  # now, not after the linger
        await until(lambda: len(worker.store.batches) == 2)
        again = worker.pending(a)
        await asyncio.wait_for(worker.pending(b), 10)  # the free lane serves other messages
        assert not again.done()
        assert worker.store.batches == [[a.index], [a.index], [b.index]]
        release.set()
        await asyncio.wait_for(again, 10)
        assert worker.store.batches[3] == [a.index]
        assert await raw_state(url, a.index) == marked
    found = await states(url, "spring")
    assert (found[a.index], found[b.index]) == ("pending", "pending")


async def test_a_worker_killed_with_two_batches_in_flight(redis_server: RedisProcess) -> None:
    """A worker dies with two batches in flight: one applied in Redis (its answer lost), one
    that never reached it. The worker that takes over records the first message ``unknown``
    (its request may have been written; never sent again) and sends the second, once."""
    url = redis_server.url
    n = 6
    await enqueue_campaign(messages(n), "spring", redis=url)
    async with hand(url, dies=True) as worker:
        a, b = await worker.claim(2)
        worker.store.hold("after")
        worker.store.hold("before")
        first = worker.pending(a)
        await until(lambda: len(worker.store.batches) == 1)
        second = worker.pending(b)
        await until(lambda: len(worker.store.batches) == 2)
        first.cancel()
        second.cancel()
    async with Emulator(rate=None) as emu, client_of(emu) as client:
        report = await run_worker(client, url, "spring", idle_timeout=0.3, poll=0.01)
        accepted = emu.accepted_counts()
    assert (report.sent, report.unknown) == (n - 1, 1)
    found = await states(url, "spring")
    assert found[a.index] == "unknown"
    assert found[b.index] == "sent"
    assert a.to not in accepted
    assert set(accepted.values()) == {1} and len(accepted) == n - 1
    assert (await campaign_report(url, "spring")).done


async def test_a_worker_ends_once_its_last_outcome_is_written_not_a_poll_later(
    redis_server: RedisProcess,
) -> None:
    """The claim after the last message finds nothing (the last outcomes are not written
    yet): the worker waits for them to be decided and written, then finds the campaign done,
    instead of sleeping ``poll`` seconds first (an hour here)."""
    url = redis_server.url
    await enqueue_campaign(messages(20), "spring", redis=url)
    async with Emulator(rate=None, latency_ms=5) as emu, client_of(emu) as client:
        report = await asyncio.wait_for(run_worker(client, url, "spring", poll=3600), 60)
    assert report.sent == 20
    assert (await campaign_report(url, "spring")).done


async def test_a_worker_with_three_lanes_sends_every_message_once(
    redis_server: RedisProcess,
) -> None:
    url = redis_server.url
    n = 300
    await enqueue_campaign(messages(n), "spring", redis=url)
    async with Emulator(rate=None, latency_ms=2) as emu, client_of(emu) as client:
        for lanes in (0, 5, True):
            with pytest.raises(ValidationError) as caught:
                await run_worker(client, url, "spring", lanes=lanes)
            assert caught.value.field == "lanes"
        report = await run_worker(client, url, "spring", lanes=3, concurrency=30, poll=0.01)
        accepted = emu.accepted_counts()
    assert report.sent == n
    assert len(accepted) == n and set(accepted.values()) == {1}
    final = await campaign_report(url, "spring")
    assert final.done and (final.sent, final.pending, final.queued) == (n, 0, 0)
