"""``Crew.stop()``: workers stopped from synchronous code run no further step; the consumer's
loop ends quietly; results finished but not handed over go to ``leftover``."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import pytest

from d360_async._fanout import Crew, bounded_each, bounded_map

pytestmark = pytest.mark.looptime


async def test_stop_from_the_consumer_starts_nothing_more() -> None:
    started: list[int] = []

    async def work(x: int) -> int:
        started.append(x)
        await asyncio.sleep(1 + x % 3)
        return x

    crew = Crew()
    seen: list[int] = []
    async with aclosing(bounded_map(range(1000), work, 5, crew=crew)) as results:
        async for result in results:
            seen.append(result)
            if len(seen) == 10:
                crew.stop()  # synchronous: no worker runs another step
                at_stop = len(started)
    assert len(started) == at_stop
    assert len(seen) >= 10


async def test_stop_from_another_task_ends_the_consumer_loop() -> None:
    async def work(x: int) -> int:
        await asyncio.sleep(10)
        return x

    crew = Crew()
    seen: list[int] = []

    async def consume() -> None:
        async for result in bounded_map(range(100), work, 4, crew=crew):
            seen.append(result)  # pragma: no cover - stopped before any result

    task = asyncio.create_task(consume())
    await asyncio.sleep(1)
    crew.stop()
    await asyncio.wait_for(task, 1)  # ends, without an error
    assert seen == []


async def test_results_not_handed_over_go_to_leftover() -> None:
    async def work(x: int) -> int:
        await asyncio.sleep(0.1 * (x % 4))
        return x

    left: list[int] = []
    seen: list[int] = []
    async with aclosing(bounded_map(range(200), work, 8, leftover=left.append)) as results:
        async for result in results:
            seen.append(result)
            if len(seen) == 20:
                await asyncio.sleep(5)  # every worker finishes and fills the queue
                break
    assert left, "the queue held finished results"
    assert not set(left) & set(seen)
    assert len(set(left)) == len(left)


async def test_a_crew_stopped_before_the_start_runs_nothing() -> None:
    calls = 0

    async def work(x: int) -> None:
        nonlocal calls
        calls += 1

    crew = Crew()
    crew.stop()
    await bounded_each(range(10), work, 3, crew=crew)
    assert [r async for r in bounded_map(range(10), work, 3, crew=crew)] == []
    assert calls == 0


async def test_bounded_each_returns_once_its_crew_stopped() -> None:
    done: list[int] = []

    async def work(x: int) -> None:
        await asyncio.sleep(1)
        done.append(x)

    crew = Crew()
    task = asyncio.create_task(bounded_each(range(1000), work, 4, crew=crew))
    await asyncio.sleep(3.5)
    crew.stop()
    await asyncio.wait_for(task, 1)
    assert len(done) == 12


async def test_a_worker_failing_while_the_queue_is_full_does_not_block_the_close() -> None:
    """A worker whose work fails as it is cancelled (the queue full, the consumer leaving
    from its loop body) must not wait for room in the queue: closing returns."""

    async def work(x: int) -> int:
        if x < 7:  # 0 is handed over, 1-6 fill the queue (2 x 3), 7-9 wait here
            return x
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("cleanup failed") from None
        return x

    seen: list[int] = []
    async with aclosing(bounded_map(range(100), work, 3)) as results:
        async for result in results:
            seen.append(result)
            await asyncio.sleep(1)  # the queue fills; the others wait in work()
            break
    assert seen
