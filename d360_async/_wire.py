"""The moment a request goes on the wire, seen from inside aiohttp's connection pool.

aiohttp has no public hook between "a connection was obtained" and "the request starts to be
written". Its request tracing signals come close (``TraceConfig.on_connection_create_end`` and
``on_connection_reuseconn``) but cannot be used to *stop* a request: in aiohttp 3.14 an exception
raised by either signal leaks the connection (``BaseConnector.connect`` releases the slot but
never closes a new connection; ``_get`` drops a pooled one without closing or returning it).

So the seam is a connector: :class:`WireConnector` (the client's own sessions use it) returns
from ``connect()`` with the connection, and only then runs the request's ``on_wire`` callback.
From there ``ClientSession._request`` goes straight to ``ClientRequest.send``, whose first await
writes the request line and headers: no other await sits between ``on_wire`` returning and the
first byte reaching the socket. If ``on_wire`` raises, the connection is returned to the pool
untouched (nothing was written on it) and the exception propagates.

The request being sent is found through a context variable set by the transport around
``session.request()``: aiohttp runs ``connect()`` in the caller's task, so concurrent requests
never see each other's state.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import aiohttp

from ._deadlines import Deadlines

if TYPE_CHECKING:
    from aiohttp.client_reqrep import ClientRequest
    from aiohttp.connector import Connection
    from aiohttp.tracing import Trace

__all__ = ["CURRENT", "OnWire", "Phase", "WireConnector", "WireState"]

OnWire = Callable[[], Awaitable[None]]


class Phase(enum.Enum):
    """How far the current attempt of a request got."""

    #: Not yet in the connection pool (or the session is not one whose pool reports).
    BEFORE = "before"
    #: Waiting for a pooled connection or opening a new one: nothing written yet.
    CONNECTING = "connecting"
    #: A connection was obtained and ``on_wire`` returned: the request may have been written.
    WIRE = "wire"


class WireState:
    """Where one request stands; shared by its attempts.

    Attributes:
        phase: The current attempt's phase.
        on_wire: The callback still to run (None once it ran, or when there is none).
        hook: The request's ``on_wire`` itself, to arm it again after a refused attempt.
        hook_error: What ``on_wire`` raised, to re-raise unchanged whatever aiohttp made of it.
        deadline: When the current attempt's time is up (see ``_deadlines``), 0.0 when it
            has none (yet).
    """

    __slots__ = (
        "_cancelling",
        "_deadlines",
        "_expired",
        "_task",
        "deadline",
        "hook",
        "hook_error",
        "on_wire",
        "phase",
    )

    def __init__(self, on_wire: OnWire | None, deadlines: Deadlines | None) -> None:
        """``deadlines``: what times the request once it is on the wire (see ``wired``)."""
        self.phase = Phase.BEFORE
        self.on_wire = on_wire
        self.hook = on_wire
        self.hook_error: BaseException | None = None
        self.deadline = 0.0
        self._deadlines = deadlines
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0
        self._expired = False

    def wired(self) -> None:
        """The request may now be written: its own timeout starts."""
        self.phase = Phase.WIRE
        if self._deadlines is not None and self._task is not None:
            self._deadlines.start(self)

    def start_clock(self, task: asyncio.Task[object]) -> None:
        """An attempt starts in ``task``: from now on, its deadline may expire it."""
        self._task = task
        self._cancelling = task.cancelling()
        self._expired = False
        self.deadline = 0.0

    def expire(self) -> None:
        """The attempt's time is up: its task is cancelled (``stop_clock`` tells)."""
        if self._task is not None and not self._expired:
            self._expired = True
            self._task.cancel()

    def stop_clock(self) -> bool:
        """The attempt ended (safe to call twice). True when its deadline expired it and no
        other cancellation of its task is pending (its ``CancelledError`` is a timeout); the
        cancellation of an expiry is taken back either way, as ``asyncio.timeout`` does."""
        task, expired = self._task, self._expired
        self._task, self._expired, self.deadline = None, False, 0.0
        return expired and task is not None and task.uncancel() <= self._cancelling

    def ran(self) -> bool:
        """Whether ``on_wire`` ran and is not armed again."""
        return self.hook is not None and self.on_wire is None

    def rearm(self) -> None:
        """The last attempt was certainly refused: the next one that reaches the wire runs
        ``on_wire`` again."""
        self.on_wire = self.hook

    async def run_on_wire(self) -> None:
        """Run ``on_wire`` (once per request; again only after ``rearm``)."""
        hook = self.on_wire
        if hook is not None:
            self.on_wire = None
            try:
                await hook()
            except Exception as exc:
                self.hook_error = exc
                raise


#: The request the current task is sending (set by the transport around ``session.request``).
CURRENT: contextvars.ContextVar[WireState | None] = contextvars.ContextVar(
    "d360_async_wire", default=None
)


class WireConnector(aiohttp.TCPConnector):
    """A ``TCPConnector`` that reports the moment a request gets its connection.

    Behaves exactly like ``aiohttp.TCPConnector`` for requests not sent by a d360 transport.
    """

    async def connect(
        self,
        req: ClientRequest,
        traces: list[Trace],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 (aiohttp's signature)
    ) -> Connection:
        """Obtain a connection as aiohttp does, then run the request's ``on_wire``."""
        state = CURRENT.get()
        if state is None:
            return await super().connect(req, traces, timeout)
        if state.phase is Phase.BEFORE:  # an aiohttp-internal reconnect keeps WIRE
            state.phase = Phase.CONNECTING
        conn = await super().connect(req, traces, timeout)
        if state.on_wire is not None:
            try:
                await state.run_on_wire()
            except BaseException:
                conn.release()  # nothing was written on it: back to the pool
                raise
        state.wired()
        return conn
