"""The deadlines of the requests of one transport, kept by one timer.

Each attempt of a request may take a fixed time (``Timeout.request`` from the moment it went on
the wire; or, with a session whose pool does not report that moment, the three phases' sum
from its start). An ``asyncio.timeout`` per attempt costs a ``Timeout`` object, the current
task looked up, and a timer handle: ``call_at``, a push onto the event loop's heap (compared in
Python), a cancel and the heap's clean-up of the cancelled handle, several microseconds a
request on a busy loop. The deadlines of one transport are all the same time after their
start, so they come in order: a queue holds them, and one timer handle, armed for the oldest
live one, expires the attempts whose time is up by cancelling their task, as
``asyncio.timeout`` does; the attempt (``_wire.WireState``) turns that cancellation into a
``TimeoutError``, and leaves any other cancellation alone.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol

__all__ = ["Deadlines", "Timed"]


class Timed(Protocol):
    """An attempt as the deadlines see it (``_wire.WireState``)."""

    #: When the attempt's time is up; set by ``Deadlines.start``, set to 0.0 when the attempt
    #: ends (an entry whose deadline is no longer the attempt's does not count).
    deadline: float

    def expire(self) -> None:
        """End the attempt: its time is up."""
        ...


class Deadlines:
    """Expires attempts ``seconds`` after they started, with one timer handle.

    Example:
        >>> import asyncio
        >>> class Attempt:
        ...     deadline = 0.0
        ...     expired = False
        ...     def expire(self):
        ...         self.expired = True
        >>> async def main():
        ...     deadlines = Deadlines(asyncio.get_running_loop(), 0.01)
        ...     attempt = Attempt()
        ...     deadlines.start(attempt)
        ...     await asyncio.sleep(0.1)
        ...     return attempt.expired
        >>> loop = asyncio.new_event_loop()
        >>> loop.run_until_complete(main())
        True
        >>> loop.close()
    """

    __slots__ = ("_armed", "_handle", "_loop", "_queue", "seconds")

    def __init__(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        self._loop = loop
        self.seconds = seconds
        self._queue: deque[tuple[float, Timed]] = deque()
        self._handle: asyncio.TimerHandle | None = None
        self._armed = 0.0

    def start(self, attempt: Timed) -> None:
        """The attempt's time starts now (again, if it had started: aiohttp reconnected it)."""
        deadline = attempt.deadline = self._loop.time() + self.seconds
        queue = self._queue
        while queue:  # drop the oldest entries, of attempts that ended (or started again)
            head, earlier = queue[0]
            if earlier.deadline == head:
                break
            queue.popleft()
        queue.append((deadline, attempt))
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
            deadline, attempt = queue[0]
            if attempt.deadline != deadline:  # ended, or started again
                queue.popleft()
            elif deadline <= due:
                queue.popleft()
                attempt.expire()
            else:
                self._arm(deadline)
                return
