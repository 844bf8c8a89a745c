"""bounded_map: lazy, bounded, concurrent, complete, and clean on errors and early exits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import aclosing

import pytest

from d360_async._fanout import SharedSource, bounded_each, bounded_map

pytestmark = pytest.mark.looptime


async def drain(results: AsyncGenerator[int, None]) -> None:
    async with aclosing(results):
        async for _ in results:
            pass


async def _async_range(n: int, pulled: list[int]) -> AsyncIterator[int]:
    for i in range(n):
        pulled.append(i)
        yield i


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_every_item_once_with_bounded_concurrency(kind: str) -> None:
    in_flight = peak = 0
    pulled: list[int] = []

    async def work(x: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01 * (x % 7))
        in_flight -= 1
        return x * 10

    source = _async_range(500, pulled) if kind == "async" else iter(range(500))
    results = [r async for r in bounded_map(source, work, 8)]
    assert sorted(results) == [x * 10 for x in range(500)]
    assert peak == 8


async def test_source_is_read_lazily() -> None:
    pulled: list[int] = []
    release = asyncio.Event()

    async def work(x: int) -> int:
        await release.wait()
        return x

    def source() -> Iterator[int]:
        for i in range(10**9):  # effectively endless
            pulled.append(i)
            yield i

    async with aclosing(bounded_map(source(), work, 4)) as results:
        task = asyncio.ensure_future(anext(results))
        await asyncio.sleep(1)
        assert len(pulled) == 4  # one item per worker, nothing read ahead
        release.set()
        await task
        await asyncio.sleep(1)
        # Read-ahead is bounded by the result queue (2 x concurrency) plus the workers.
        assert len(pulled) <= 4 + 2 * 4 + 4


async def test_error_in_fn_propagates_and_cancels_the_rest() -> None:
    cancelled = 0

    async def work(x: int) -> int:
        nonlocal cancelled
        if x == 3:
            raise RuntimeError("boom")
        try:
            await asyncio.sleep(100)
        except asyncio.CancelledError:
            cancelled += 1
            raise
        return x

    with pytest.raises(RuntimeError, match="boom"):
        await drain(bounded_map(range(10), work, 4))
    assert cancelled == 3  # the other three in flight


async def test_error_in_source_propagates() -> None:
    def source() -> Iterator[int]:
        yield 1
        raise ValueError("bad input")

    async def work(x: int) -> int:
        return x

    with pytest.raises(ValueError, match="bad input"):
        await drain(bounded_map(source(), work, 2))


async def test_early_exit_cancels_workers() -> None:
    started = 0

    async def work(x: int) -> int:
        nonlocal started
        started += 1
        await asyncio.sleep(x)
        return x

    async with aclosing(bounded_map(range(1, 100), work, 3)) as results:
        first = await anext(results)
    assert first == 1
    assert started <= 6


async def test_concurrency_must_be_positive() -> None:
    async def work(x: int) -> int:
        return x

    with pytest.raises(ValueError, match="concurrency"):
        await anext(bounded_map([1], work, 0))


def tasks_now() -> int:
    return len(asyncio.all_tasks())


@pytest.mark.parametrize("kind", ["map", "each"])
@pytest.mark.parametrize("source", ["sync", "async"])
async def test_a_huge_concurrency_starts_workers_only_as_items_come(kind: str, source: str) -> None:
    """concurrency=300,000 for 3 items: a handful of worker tasks, not 300,000."""
    peak = 0

    async def work(x: int) -> int:
        nonlocal peak
        peak = max(peak, tasks_now())
        await asyncio.sleep(1)
        return x

    items = range(3) if source == "sync" else _async_range(3, [])
    if kind == "map":
        assert sorted([r async for r in bounded_map(items, work, 300_000)]) == [0, 1, 2]
    else:
        await bounded_each(items, work, 300_000)
    assert peak <= 10


@pytest.mark.parametrize("source", ["sync", "async"])
async def test_workers_grow_up_to_the_concurrency(source: str) -> None:
    in_flight = peak = 0

    async def work(x: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(1)
        in_flight -= 1
        return x

    items = range(1000) if source == "sync" else _async_range(1000, [])
    assert len([r async for r in bounded_map(items, work, 100)]) == 1000
    assert peak == 100


class _Counted(SharedSource[int]):
    """Hands out 0..n-1, each take a turn of the loop long; notes how many overlap."""

    def __init__(self, n: int) -> None:
        self.left = iter(range(n))
        self.inside = self.peak = 0

    async def __anext__(self) -> int:
        self.inside += 1
        self.peak = max(self.peak, self.inside)
        try:
            await asyncio.sleep(0)
            return next(self.left)
        except StopIteration:
            raise StopAsyncIteration from None
        finally:
            self.inside -= 1


@pytest.mark.parametrize("kind", ["map", "each"])
async def test_a_shared_source_is_taken_by_several_workers_at_once(kind: str) -> None:
    # Any other async iterable is read under a lock: one take at a time, handed from waiter
    # to waiter a turn of the loop each. A SharedSource guards itself: no lock.
    source = _Counted(50)
    seen: list[int] = []

    async def keep(x: int) -> int:
        seen.append(x)
        return x

    if kind == "map":
        await drain(bounded_map(source, keep, 4))
    else:
        await bounded_each(source, keep, 4)
    assert source.peak == 4
    assert sorted(seen) == list(range(50))
