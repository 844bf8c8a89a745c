"""The feed of a run: workers take prepared batches from it at once, with no lock for a plain
iterable; every event is in exactly one batch or rejection, handed out in order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from d360_async._events import EventsRun
from d360_async._events_batch import YIELD_EVERY, Batch, Chunker, Feed, Preparer, Work
from d360_async._models_events import BatchResult, ConversionEventsResponse

BASE = len(orjson.dumps({"data": []}))


def event(index: int, valid: bool) -> dict[str, Any]:
    return {
        "event_name": "LeadSubmitted" if valid else "",
        "event_time": int(time.time()) - 60,
        "event_id": f"e-{index}",
    }


async def take_all(feed: Feed, workers: int, pauses: list[int]) -> list[tuple[int, Work]]:
    """``workers`` tasks take from ``feed`` until it ends, each pausing ``pauses[i % len]``
    turns of the loop after its i-th take; returns (order taken, work)."""
    taken: list[tuple[int, Work]] = []

    async def worker() -> None:
        async for work in feed:  # Feed is its own iterator: every worker shares it
            taken.append((len(taken), work))
            for _ in range(pauses[len(taken) % len(pauses)]):
                await asyncio.sleep(0)

    await asyncio.gather(*(worker() for _ in range(workers)))
    return taken


def events_of(taken: list[tuple[int, Work]]) -> tuple[list[int], list[int], list[int]]:
    """(indexes sent, indexes rejected, batch_index in the order taken)."""
    sent = [e.index for _, w in taken if isinstance(w, Batch) for e in w.events]
    rejected = [r.index for _, w in taken if isinstance(w, BatchResult) for r in w.rejected]
    return sent, rejected, [w.batch_index for _, w in taken]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.booleans(), max_size=3 * YIELD_EVERY),  # valid or not; crosses the yields
    st.integers(1, 7),
    st.integers(1, 12),
    st.lists(st.integers(0, 3), min_size=1, max_size=5),
    st.booleans(),
)
def test_workers_taking_at_once_get_every_event_once_in_order(
    valid: list[bool], batch_size: int, workers: int, pauses: list[int], async_input: bool
) -> None:
    raw = [event(i, ok) for i, ok in enumerate(valid)]

    async def source() -> AsyncIterator[dict[str, Any]]:
        for item in raw:
            await asyncio.sleep(0)
            yield item

    async def main() -> list[tuple[int, Work]]:
        chunker = Chunker(Preparer(None), batch_size, 2_000_000, BASE)
        feed = Feed(source() if async_input else iter(raw), chunker)
        return await take_all(feed, workers, pauses)

    loop = asyncio.new_event_loop()  # a loop per example, the test's own left alone
    try:
        taken = loop.run_until_complete(main())
    finally:
        loop.close()
    sent, rejected, order = events_of(taken)
    assert sorted(sent + rejected) == list(range(len(raw)))  # each once: none lost, no repeat
    assert rejected == [i for i, ok in enumerate(valid) if not ok]
    assert sent == [i for i, ok in enumerate(valid) if ok]  # in input order
    assert order == sorted(order) == list(range(len(order)))  # handed out in order
    for _, work in taken:
        if isinstance(work, Batch):
            assert 1 <= len(work.events) <= batch_size


async def test_a_closed_feed_reads_no_more_events() -> None:
    pulled: list[int] = []

    def source() -> Any:
        for i in range(1000):
            pulled.append(i)
            yield event(i, True)

    feed = Feed(source(), Chunker(Preparer(None), 2, 2_000_000, BASE))
    work = [await anext(feed)]
    feed.close()
    work.extend([w async for w in feed])
    assert pulled == [0, 1]
    assert [len(w.events) for w in work if isinstance(w, Batch)] == [2]


@pytest.mark.parametrize("mode", ["run", "iterate"])
async def test_the_workers_are_all_busy_within_a_few_turns_of_the_loop(mode: str) -> None:
    # Taking work used to go through a lock handed from waiter to waiter, one turn of the
    # event loop each: 500 workers needed ~500 turns to have their first requests out, and
    # a loaded loop spent its turns (and a system call each) on that. Now a few turns do.
    in_flight = 0
    answer = asyncio.Event()

    async def post(body: Mapping[str, Any]) -> ConversionEventsResponse:
        nonlocal in_flight
        in_flight += 1
        await answer.wait()
        return ConversionEventsResponse(events_received=len(body["data"]))

    raw = [event(i, True) for i in range(1000)]
    run = EventsRun(post, "1122334455667788", raw, batch_size=2, concurrency=500)
    task = asyncio.create_task(run.run() if mode == "run" else _drain(run))
    turns = 0
    while in_flight < 500 and turns < 1000:
        await asyncio.sleep(0)
        turns += 1
    assert in_flight == 500
    assert turns <= 20, turns
    answer.set()
    await task
    assert run.report.received == 1000


async def _drain(run: EventsRun) -> None:
    async for _ in run:
        pass
