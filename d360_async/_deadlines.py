"""The request deadlines of one transport, kept by one timer.

Each request on the wire may take ``seconds`` (``Timeout.request``) until its response has
been read. An ``asyncio.timeout`` armed per request costs a timer handle each: ``call_at``,
a push onto the event loop's heap (compared in Python), a cancel, and the heap's clean-up of
the cancelled handles, several microseconds a request on a busy loop. The deadlines of one
transport are all ``seconds`` after the moment their request went on the wire, so they come in
order: a queue holds them, and one timer handle, armed for the oldest live one, expires
the requests whose time is up (``asyncio.Timeout.reschedule``: the request's own
``asyncio.timeout`` ends it with a ``TimeoutError``, as if it had been armed for it).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol

__all__ = ["Deadlines", "Timed"]


class Timed(Protocol):
    """A request's state as the deadlines see it (``_wire.WireState``)."""

    #: The current attempt's ``asyncio.timeout`` (None between attempts).
    timer: asyncio.Timeout | None
    #: When the current attempt's time on the wire is up.
    deadline: float


class Deadlines:
    """Expires requests ``seconds`` after they went on the wire, with one timer handle.

    Example:
        >>> import asyncio
        >>> class Request:
        ...     timer = None
        ...     deadline = 0.0
        >>> async def main():
        ...     deadlines = Deadlines(asyncio.get_running_loop(), 0.01)
        ...     request = Request()
        ...     try:
        ...         async with asyncio.timeout(None) as request.timer:
        ...             deadlines.start(request)
        ...             await asyncio.sleep(1)
        ...     except TimeoutError:
        ...         return "timed out"
        >>> loop = asyncio.new_event_loop()
        >>> loop.run_until_complete(main())
        'timed out'
        >>> loop.close()
    """

    __slots__ = ("_armed", "_handle", "_loop", "_queue", "seconds")

    def __init__(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        self._loop = loop
        self.seconds = seconds
        self._queue: deque[tuple[float, Timed, asyncio.Timeout]] = deque()
        self._handle: asyncio.TimerHandle | None = None
        self._armed = 0.0

    def start(self, request: Timed) -> None:
        """The request went on the wire now: its attempt's timer expires in ``seconds``
        (from now again if it had started before: aiohttp reconnected it)."""
        timer = request.timer
        if timer is None:
            return
        deadline = request.deadline = self._loop.time() + self.seconds
        queue = self._queue
        while queue and _over(queue[0]):  # the oldest entries whose attempt ended
            queue.popleft()
        queue.append((deadline, request, timer))
        if self._handle is None:
            self._arm(deadline)

    def _arm(self, deadline: float) -> None:
        self._armed = deadline
        self._handle = self._loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._handle = None
        # The loop runs a handle up to its clock resolution early: what it was armed for is due.
        due = max(self._loop.time(), self._armed)
        queue = self._queue
        while queue:
            entry = queue[0]
            if _over(entry):
                queue.popleft()
            elif entry[0] <= due:
                queue.popleft()
                entry[2].reschedule(self._loop.time())  # ends the attempt: TimeoutError
            else:
                self._arm(entry[0])
                return


def _over(entry: tuple[float, Timed, asyncio.Timeout]) -> bool:
    """Whether an entry no longer counts: its attempt ended, or a later start of the same
    attempt replaced its deadline."""
    deadline, request, timer = entry
    return request.timer is not timer or request.deadline != deadline
