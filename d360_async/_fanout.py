"""Lazy, bounded, concurrent ``map`` over a sync or async iterable: the engine of the bulk sender
and of the events pipeline.

``bounded_map(source, fn, concurrency)`` runs ``fn`` on the items of ``source`` with at most
``concurrency`` calls in flight and yields their results as they complete. The source is read
only as fast as workers free up, and finished results wait in a queue of bounded size, so
memory does not grow with the number of items: a generator of a million items is fine.

Workers pull items from the shared iterator (O(1) per item, unlike ``asyncio.wait`` over a
growing set). ``fn`` should turn expected failures into result values; an exception escaping
``fn`` (or raised by the source) stops everything and is re-raised to the consumer. Leaving the
``async for`` early, or cancelling the consumer, cancels the workers and waits for them.

A ``Crew`` stops the workers from synchronous code, at once: ``crew.stop()`` cancels every
worker before any of them runs another step (so none starts new work), and the consumer's
loop ends quietly instead of waiting for results that will not come.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
)
from typing import Any, Final, Protocol, TypeVar, cast

__all__ = ["Crew", "Gate", "SharedSource", "bounded_each", "bounded_map"]

T = TypeVar("T")
R = TypeVar("R")


class Gate(Protocol):
    """Concurrency that changes while the work runs (``_concurrency.AdaptiveConcurrency``):
    ``workers`` workers each take a permit before they take an item, and give it back after."""

    @property
    def workers(self) -> int: ...

    async def acquire(self) -> float: ...

    def release(self, started: float) -> None: ...


class SharedSource(AsyncIterator[T]):
    """An async iterator whose ``__anext__`` may run in several workers at once (it keeps its
    own state consistent): the workers advance it without the lock that any other async
    iterable is given (an async generator must not be advanced by two of them at once, and
    a lock handed from waiter to waiter costs a turn of the event loop each).

    Example:
        >>> class Countdown(SharedSource[int]):
        ...     def __init__(self, n: int) -> None:
        ...         self.left = iter(range(n, 0, -1))  # next() never yields to the loop
        ...     async def __anext__(self) -> int:
        ...         for item in self.left:
        ...             return item
        ...         raise StopAsyncIteration
        >>> async def total() -> int:
        ...     async def same(x: int) -> int:
        ...         return x
        ...     return sum([r async for r in bounded_map(Countdown(3), same, 2)])
        >>> import asyncio
        >>> loop = asyncio.new_event_loop()
        >>> loop.run_until_complete(total())
        6
        >>> loop.close()
    """

    __slots__ = ()


_DONE = object()
#: A results queue holds at most twice this many results (with a smaller concurrency, twice it).
_QUEUE_CAP: Final = 1024
_FAILED = object()  # a worker failed: its error is in the consumer's ``failures``
_STOP = object()


class Crew:
    """The workers of one ``bounded_map``/``bounded_each``, to stop them from synchronous code.

    Example:
        >>> crew = Crew()
        >>> crew.stop()  # before the workers exist: none will start
        >>> crew.stopped
        True
    """

    __slots__ = ("_tasks", "_wake", "stopped")

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[Any]] = []
        self._wake: Callable[[], object] | None = None
        self.stopped = False

    def stop(self) -> None:
        """Cancel every worker now; the consumer's loop ends without an error."""
        if self.stopped:
            return
        self.stopped = True
        for task in self._tasks:
            task.cancel()
        if self._wake is not None:
            self._wake()

    def _enlist(self, task: asyncio.Task[Any]) -> None:
        self._tasks.append(task)
        if self.stopped:
            task.cancel()


async def bounded_map(
    source: Iterable[T] | AsyncIterable[T],
    fn: Callable[[T], Awaitable[R]],
    concurrency: int | Gate,
    *,
    crew: Crew | None = None,
    leftover: Callable[[R], object] | None = None,
) -> AsyncGenerator[R, None]:
    """Yield ``await fn(item)`` for every item of ``source``, ``concurrency`` at a time.

    Args:
        source: A sync or async iterable, consumed lazily.
        fn: The work on one item.
        concurrency: Calls of ``fn`` in flight at most (>= 1), or a ``Gate`` deciding it.
        crew: Lets synchronous code stop the workers (see ``Crew``).
        leftover: Called, when the iteration ends early, with each result that was finished
            but not yielded (nothing is lost silently).

    Yields:
        Results in completion order.

    Example:
        >>> async def double_all() -> list[int]:
        ...     async def double(x: int) -> int:
        ...         return 2 * x
        ...     return sorted([r async for r in bounded_map(range(5), double, 2)])
    """
    size, gate = _size(concurrency)
    results: asyncio.Queue[object] = asyncio.Queue(maxsize=2 * min(size, _QUEUE_CAP))

    async def handle(item: T) -> None:
        result = await fn(item)
        try:
            results.put_nowait(result)  # the common case, without another coroutine
        except asyncio.QueueFull:
            try:
                await results.put(result)
            except asyncio.CancelledError:
                if leftover is not None:
                    leftover(result)
                raise

    workers: list[asyncio.Task[None]] = []
    running = 0

    def start() -> None:
        nonlocal running
        task = asyncio.create_task(worker())
        workers.append(task)
        running += 1
        if crew is not None:
            crew._enlist(task)

    grow = _Growth(size, start) if gate is None else None
    consume = _consumer(source, handle, gate, grow)
    failures: list[BaseException] = []  # read by the consumer: a full queue cannot lose one

    async def worker() -> None:
        try:
            await consume()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed to the consumer, re-raised there
            # Never block on the queue after an error: its consumer may be gone (closed
            # from its own loop body) and the worker would then never end.
            failures.append(exc)
            with contextlib.suppress(asyncio.QueueFull):  # full: the consumer sees failures
                results.put_nowait(_FAILED)
            return
        await results.put(_DONE)

    def wake() -> None:
        with contextlib.suppress(asyncio.QueueFull):  # full: the consumer sees ``stopped``
            results.put_nowait(_STOP)

    if crew is not None:
        crew._wake = wake
    for _ in range(1 if grow is not None else size):
        start()
    try:
        while running:
            if crew is not None and crew.stopped:
                return
            if failures:
                raise failures[0]
            result = await results.get()
            while True:  # drain what is ready: one wake-up of the consumer per batch
                if result is _DONE:
                    running -= 1
                elif result is _STOP:
                    return
                elif result is _FAILED:
                    raise failures[0]
                else:
                    yield cast(R, result)
                if results.empty() or failures:
                    break
                result = results.get_nowait()
    finally:
        if grow is not None:
            grow.left = 0  # no worker starts another now
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        while leftover is not None and not results.empty():
            result = results.get_nowait()
            if result is not _DONE and result is not _STOP and result is not _FAILED:
                leftover(cast(R, result))


def _size(concurrency: int | Gate) -> tuple[int, Gate | None]:
    """How many workers to run, and the gate they share (None for a fixed concurrency)."""
    if not isinstance(concurrency, int):
        return concurrency.workers, concurrency
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    return concurrency, None


class _Growth:
    """Workers started as items come, not all up front: a worker that takes its first item
    starts two more, until ``size`` run. A short input never costs ``size`` tasks (a
    concurrency of 300,000 for one message starts three), a long one reaches ``size`` within
    a few loop cycles (the count doubles each cycle)."""

    __slots__ = ("left", "start")

    def __init__(self, size: int, start: Callable[[], None]) -> None:
        self.left = size - 1  # the first worker is started by the caller
        self.start = start

    def __call__(self) -> None:
        for _ in range(min(2, self.left)):
            self.left -= 1
            self.start()


def _consumer(
    source: Iterable[T] | AsyncIterable[T],
    handle: Callable[[T], Awaitable[object]],
    gate: Gate | None = None,
    grow: Callable[[], None] | None = None,
) -> Callable[[], Coroutine[Any, Any, None]]:
    """A worker loop: take items of ``source`` one at a time and ``await handle(item)``; run
    several at once, they share the source. With a ``gate``, a worker takes a permit before
    it takes an item and gives it back after (the gate's workers all start at once: its
    permits change while the work runs). Without one, ``grow`` is called when a worker takes
    its first item (see ``_Growth``)."""
    if gate is None and not isinstance(source, AsyncIterable):
        sync_items = iter(source)

        async def consume_sync() -> None:
            # next() never yields to the loop: sharing needs no lock
            for item in sync_items:  # the first item: start more workers, then go on
                if grow is not None:
                    grow()
                await handle(item)
                break
            for item in sync_items:
                await handle(item)

        return consume_sync
    take = _taker(source)
    if gate is None:

        async def consume() -> None:
            item = await take()
            if item is _DONE:
                return
            if grow is not None:
                grow()
            await handle(cast(T, item))
            while (item := await take()) is not _DONE:
                await handle(cast(T, item))

        return consume

    async def consume_gated() -> None:
        while True:
            started = await gate.acquire()
            try:
                item = await take()
                if item is _DONE:
                    return
                await handle(cast(T, item))
            finally:
                gate.release(started)

    return consume_gated


def _taker(source: Iterable[T] | AsyncIterable[T]) -> Callable[[], Awaitable[object]]:
    """The next item of ``source`` (``_DONE`` after the last), for workers sharing it."""
    if isinstance(source, SharedSource):
        shared: SharedSource[T] = source

        def take_shared() -> Awaitable[object]:
            return anext(shared, _DONE)

        return take_shared
    if isinstance(source, AsyncIterable):
        async_items = aiter(source)
        lock = asyncio.Lock()  # an async iterator must not be advanced by two workers at once

        async def take_async() -> object:
            async with lock:
                return await anext(async_items, _DONE)

        return take_async
    sync_items = iter(source)

    async def take_sync() -> object:
        return next(sync_items, _DONE)

    return take_sync


async def bounded_each(
    source: Iterable[T] | AsyncIterable[T],
    fn: Callable[[T], Awaitable[object]],
    concurrency: int | Gate,
    *,
    crew: Crew | None = None,
) -> None:
    """Like ``bounded_map`` when nobody wants the results: no queue, no consumer hand-off.

    The first exception (from ``fn`` or the source) cancels the other workers and is raised.
    Stopped by its ``crew``, it returns once the workers have ended.

    Example:
        >>> async def print_all() -> None:
        ...     async def show(x: int) -> None:
        ...         print(x)
        ...     await bounded_each(range(3), show, 2)
    """
    size, gate = _size(concurrency)
    group = asyncio.TaskGroup()

    def start() -> None:
        try:
            task = group.create_task(worker())
        except RuntimeError:  # the group is shutting down (a worker failed): none needed
            return
        if crew is not None:
            crew._enlist(task)

    grow = _Growth(size, start) if gate is None else None
    worker = _consumer(source, fn, gate, grow)
    try:
        async with group:
            for _ in range(1 if grow is not None else size):
                start()
    except BaseExceptionGroup as failed:  # the workers' first error, not a group of one
        raise failed.exceptions[0] from None
