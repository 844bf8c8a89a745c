"""The request deadlines of a transport: one timer handle for all requests on the wire, each
request still expired exactly ``Timeout.request`` after it went on the wire (event-loop time;
``looptime`` where the test waits)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from d360_async import APITimeoutError, RetryPolicy, Timeout
from d360_async._deadlines import Deadlines

from .loopback import loopback


class Request:
    def __init__(self) -> None:
        self.timer: asyncio.Timeout | None = None
        self.deadline = 0.0


async def on_the_wire(deadlines: Deadlines, wait: float, *, restart_after: float = 0.0) -> float:
    """Start a request after ``wait``, hold it on the wire; the loop time when it timed out."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(wait)
    request = Request()
    try:
        async with asyncio.timeout(None) as request.timer:
            deadlines.start(request)
            if restart_after:  # aiohttp reconnected it: its time on the wire starts again
                await asyncio.sleep(restart_after)
                deadlines.start(request)
            await asyncio.sleep(3600)
    except TimeoutError:
        return loop.time()
    finally:
        request.timer = None
    raise AssertionError("never timed out")


@pytest.mark.looptime
async def test_each_request_expires_at_its_own_deadline() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadlines = Deadlines(loop, 5.0)
    ended = await asyncio.gather(*(on_the_wire(deadlines, wait) for wait in (0, 1, 2.5)))
    assert [round(t - start, 6) for t in ended] == [5.0, 6.0, 7.5]


@pytest.mark.looptime
async def test_a_finished_request_is_not_expired_and_the_next_one_is() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadlines = Deadlines(loop, 5.0)
    quick = Request()
    async with asyncio.timeout(None) as quick.timer:
        deadlines.start(quick)
        await asyncio.sleep(1)  # answered after 1 s
    quick.timer = None
    later = await on_the_wire(deadlines, 2)
    assert round(later - start, 6) == 8.0
    await asyncio.sleep(10)  # the quick one's deadline passed long ago: nothing fires on it


@pytest.mark.looptime
async def test_a_restarted_request_gets_its_full_time_again() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadlines = Deadlines(loop, 5.0)
    ended = await asyncio.gather(
        on_the_wire(deadlines, 0, restart_after=3), on_the_wire(deadlines, 1)
    )
    assert [round(t - start, 6) for t in ended] == [8.0, 6.0]


async def test_requests_on_the_wire_share_one_timer() -> None:
    """50 requests held on the wire at once arm one timer for their request timeouts, not
    one each (a timer per request costs several microseconds of the event loop's heap).
    aiohttp's own timers (the 5 s connect phase) are not counted."""
    loop = asyncio.get_running_loop()
    armed: list[Any] = []
    call_at = loop.call_at

    def counting(when: float, callback: Any, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        if 25 < when - loop.time() <= 30:  # a request timeout, not aiohttp's (connect: 5 s)
            armed.append(callback)
        return call_at(when, callback, *args, **kwargs)

    loop.call_at = counting  # type: ignore[method-assign]
    try:
        async with loopback() as server:
            server.hold = True
            timeout = Timeout(pool=None, connect=5.0, request=30.0)
            async with server.client(retry=RetryPolicy.never(), timeout=timeout) as client:
                sends = [
                    asyncio.create_task(
                        client.send_marketing_message(
                            {
                                "to": f"4915100{i:06d}",
                                "template": {"name": "promo", "language": {"code": "en"}},
                            }
                        )
                    )
                    for i in range(50)
                ]
                await server.arrivals(50)
                server.release.set()
                await asyncio.gather(*sends)
    finally:
        del loop.call_at
    assert len(armed) == 1


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
