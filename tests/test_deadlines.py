"""The request deadlines of a transport: one timer handle for all requests on the wire, each
request still expired exactly ``Timeout.request`` after it went on the wire (event-loop time;
``looptime`` where the test waits)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from d360_async import APITimeoutError, D360Client, RetryPolicy, Timeout
from d360_async._deadlines import Deadlines
from d360_async._wire import WireState

from .loopback import loopback


async def on_the_wire(deadlines: Deadlines, wait: float, *, restart_after: float = 0.0) -> float:
    """An attempt that goes on the wire after ``wait`` and is never answered: the loop time
    when its deadline expired it."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(wait)
    wire = WireState(None, deadlines)
    task = asyncio.current_task()
    assert task is not None
    wire.start_clock(task)
    try:
        wire.wired()
        if restart_after:  # aiohttp reconnected it: its time on the wire starts again
            await asyncio.sleep(restart_after)
            wire.wired()
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        if wire.stop_clock():
            return loop.time()
        raise
    finally:
        wire.stop_clock()
    raise AssertionError("never timed out")


@pytest.mark.looptime
async def test_each_request_expires_at_its_own_deadline() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadlines = Deadlines(loop, 5.0)
    ended = await asyncio.gather(*(on_the_wire(deadlines, wait) for wait in (0, 1, 2.5)))
    assert [round(t - start, 6) for t in ended] == [5.0, 6.0, 7.5]


@pytest.mark.looptime
async def test_an_ended_attempt_is_not_expired_nor_a_later_one_by_its_deadline() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadlines = Deadlines(loop, 5.0)
    task = asyncio.current_task()
    assert task is not None
    wire = WireState(None, deadlines)
    wire.start_clock(task)
    wire.wired()
    await asyncio.sleep(1)  # answered after 1 s
    assert wire.stop_clock() is False
    wire.start_clock(task)  # its retry waits 10 s for a connection: not yet on the wire
    await asyncio.sleep(10)
    wire.wired()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.sleep(3600)
    assert wire.stop_clock() is True  # a timeout: 5 s after the retry went on the wire
    assert round(loop.time() - start, 6) == 16.0
    assert task.cancelling() == 0  # the expiry's cancellation was taken back


@pytest.mark.looptime
async def test_another_cancellation_is_not_a_timeout() -> None:
    deadlines = Deadlines(asyncio.get_running_loop(), 5.0)
    outcome: list[bool] = []

    async def attempt() -> None:
        wire = WireState(None, deadlines)
        task = asyncio.current_task()
        assert task is not None
        wire.start_clock(task)
        wire.wired()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            outcome.append(wire.stop_clock())
            raise

    early = asyncio.create_task(attempt())
    await asyncio.sleep(1)
    early.cancel()  # cancelled by its caller before its deadline
    both = asyncio.create_task(attempt())
    await asyncio.sleep(5)  # its deadline (6 s) passes in the same turn as its caller's cancel
    both.cancel()
    for task in (early, both):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert outcome == [False, False]


@pytest.mark.looptime
async def test_a_restarted_request_gets_its_full_time_again() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadlines = Deadlines(loop, 5.0)
    ended = await asyncio.gather(
        on_the_wire(deadlines, 0, restart_after=3), on_the_wire(deadlines, 1)
    )
    assert [round(t - start, 6) for t in ended] == [8.0, 6.0]


def send(client: D360Client, i: int) -> asyncio.Task[Any]:
    message = {"to": f"4915100{i:06d}", "template": {"name": "promo", "language": {"code": "en"}}}
    return asyncio.create_task(client.send_marketing_message(message))


async def test_requests_over_pooled_connections_arm_no_timer() -> None:
    """50 requests held on the wire at once, with the default timeouts, over connections of
    the pool: the request deadlines' one timer is armed already, and none is armed per
    request (a timer costs several microseconds of the event loop's heap), aiohttp's
    included (it times the pool wait only when it has to wait). The server's keep-alive
    timers (75 s) are not counted."""
    loop = asyncio.get_running_loop()
    armed: list[Any] = []
    call_at = loop.call_at

    def counting(when: float, callback: Any, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        if 0 < when - loop.time() <= 41:  # aiohttp rounds its deadlines up to a second
            armed.append(getattr(callback, "__qualname__", callback))
        return call_at(when, callback, *args, **kwargs)

    async with loopback() as server:
        server.hold = True
        async with server.client(retry=RetryPolicy.never()) as client:
            for round_ in range(2):  # the first opens the connections
                if round_:
                    loop.call_at = counting  # type: ignore[method-assign]
                try:
                    server.release.clear()
                    sends = [send(client, 50 * round_ + i) for i in range(50)]
                    await server.arrivals(50 * (round_ + 1))
                    server.release.set()
                    await asyncio.gather(*sends)
                finally:
                    vars(loop).pop("call_at", None)
    assert armed == []


async def test_a_foreign_session_is_timed_from_the_start_of_each_attempt() -> None:
    """A session whose pool does not report the wire moment: one deadline for the three
    phases (their sum), kept by the same queue."""
    async with loopback() as server:
        server.hold = True
        timeout = Timeout(pool=0.5, connect=0.5, request=0.5)
        async with aiohttp.ClientSession() as session:
            client = server.client(retry=RetryPolicy.never(), timeout=timeout, session=session)
            async with client:
                with pytest.raises(APITimeoutError):
                    await client.send_marketing_message(
                        {
                            "to": "4915100000002",
                            "template": {"name": "promo", "language": {"code": "en"}},
                        }
                    )
        assert server.received("4915100000002")


async def test_the_shared_timer_still_times_a_request_out() -> None:
    async with loopback() as server:
        server.hold = True
        timeout = Timeout(pool=None, connect=5.0, request=0.2)
        async with server.client(retry=RetryPolicy.never(), timeout=timeout) as client:
            with pytest.raises(APITimeoutError) as info:
                await client.send_marketing_message(
                    {
                        "to": "4915100000001",
                        "template": {"name": "promo", "language": {"code": "en"}},
                    }
                )
    assert info.value.maybe_sent is True
