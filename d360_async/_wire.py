"""The moment a request goes on the wire, and its last byte held back until ``on_wire`` returned.

A journaled send commits its ``pending`` row in the request's ``on_wire`` callback. A process
killed after that commit but before the request left would leave a row that says "may have
been sent" for a request that never was: never sent again by a plain re-run, never messaged.
So the request is *written* before the commit, all of it but its body's last byte:
:class:`HeldBody` (the body aiohttp is given for such a request) writes ``body[:-1]``, awaits
``on_wire``, then writes the last byte, directly after the await. Until that byte is written
the server holds a request cut short (its Content-Length not reached; for a JSON object, not
even JSON: the closing ``}`` is missing): no server nor buffering proxy can act on it, and a
connection that ends there is discarded. Hence:

- a kill before the commit lands leaves a truncated request and no ``pending`` row: a plain
  re-run sends the message;
- ``pending`` means "the request's last byte may have been written"; the window left, a kill
  between the commit and the last byte, is a few microseconds: the event loop commits the row
  itself (``_journal``) and the last byte goes in the same step of the task that writes the
  body, with no turn of the loop in between (``benchmarks/bench_crash.py gap``). A kill there
  leaves the row ``pending`` and the server a request it never acted upon.

The phases (:class:`Phase`) say what a failure means: anything before the last byte
(connecting, or the body written short while ``on_wire`` runs) is certainly not acted upon
(``maybe_sent=False``); from the moment ``on_wire`` returned, the request may be. If
``on_wire`` raises inside the body, aiohttp closes the connection (a partial request was
written on it; never reused) and the transport re-raises the hook's own exception
(``WireState.hook_error``), whatever aiohttp made of it. If the body's write is cancelled
while ``on_wire`` runs (aiohttp ends it when the response fails, e.g. the server closed the
connection), ``on_wire`` counts as not run: the next attempt runs it again.

The hold costs one more write per request, so only a request that asks for it has one
(``held``: a body, and an ``on_wire`` whose effect must be durable before the request can be
acted upon). Any other ``on_wire`` runs in the pool, as before: aiohttp has no public hook
between "a connection was obtained" and "the request starts to be written". Its request
tracing signals come close (``TraceConfig.on_connection_create_end`` and
``on_connection_reuseconn``) but cannot be used to *stop* a request: in aiohttp 3.14 an
exception raised by either signal leaks the connection (``BaseConnector.connect`` releases
the slot but never closes a new connection; ``_get`` drops a pooled one without closing or
returning it). So the seam is a connector: :class:`WireConnector` (the client's own sessions
use it) notes the phase and, for a request not held, returns from ``connect()`` with the
connection and only then runs ``on_wire`` (if it raises, the connection goes back to the pool
untouched: nothing was written on it). The request being sent is found through a context
variable set by the transport around ``session.request()``: aiohttp runs ``connect()`` in the
caller's task, so concurrent requests never see each other's state.
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
    from aiohttp.abc import AbstractStreamWriter
    from aiohttp.client_reqrep import ClientRequest
    from aiohttp.connector import Connection
    from aiohttp.tracing import Trace

__all__ = ["CURRENT", "HeldBody", "OnWire", "Phase", "WireConnector", "WireState"]

OnWire = Callable[[], Awaitable[None]]


class Phase(enum.Enum):
    """How far the current attempt of a request got."""

    #: Not yet in the connection pool (or the session is not one whose pool reports).
    BEFORE = "before"
    #: Waiting for a pooled connection or opening a new one: nothing written yet.
    CONNECTING = "connecting"
    #: A held request (``HeldBody``): being written, its body's last byte held back until
    #: ``on_wire`` returned: nothing can have been acted upon.
    HELD = "held"
    #: A connection was obtained and ``on_wire`` returned (for a held request: its last byte
    #: goes now): the request may have been written.
    WIRE = "wire"


class WireState:
    """Where one request stands; shared by its attempts.

    Attributes:
        phase: The current attempt's phase.
        on_wire: The callback still to run (None once it ran, or when there is none).
        hook: The request's ``on_wire`` itself, to arm it again after a refused attempt.
        hook_error: What ``on_wire`` raised, to re-raise unchanged whatever aiohttp made of it.
        held: Whether the current attempt's body is a ``HeldBody`` (``on_wire`` runs there,
            not in the pool).
        deadline: When the current attempt's time is up (see ``_deadlines``), 0.0 when it
            has none (yet).
    """

    __slots__ = (
        "_cancelling",
        "_deadlines",
        "_expired",
        "_task",
        "deadline",
        "held",
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
        self.held = False
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
        """Run ``on_wire`` (once per request; again only after ``rearm``, or when it was
        cancelled before it returned)."""
        hook = self.on_wire
        if hook is not None:
            self.on_wire = None
            try:
                await hook()
            except Exception as exc:
                self.hook_error = exc
                raise
            except BaseException:  # cancelled: it did not run; the next attempt runs it
                self.on_wire = hook
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
        """Obtain a connection as aiohttp does, then run the request's ``on_wire`` (a held
        request's runs in its body)."""
        state = CURRENT.get()
        if state is None:
            return await super().connect(req, traces, timeout)
        if state.phase is Phase.BEFORE:  # an aiohttp-internal reconnect keeps WIRE
            state.phase = Phase.CONNECTING
        conn = await super().connect(req, traces, timeout)
        if state.held:
            state.phase = Phase.HELD
            return conn
        if state.on_wire is not None:
            try:
                await state.run_on_wire()
            except BaseException:
                conn.release()  # nothing was written on it: back to the pool
                raise
        state.wired()
        return conn


class HeldBody(aiohttp.BytesPayload):
    """A request body written up to its last byte, then ``on_wire``, then the last byte.

    aiohttp sets the Content-Length from ``size`` (the whole body) and writes the body from
    its own task (``ClientRequest.write_bytes`` -> ``write_with_length``). If ``on_wire``
    raises there, aiohttp closes the connection and fails the response; the transport
    re-raises the hook's error. The body must not be empty (nothing to hold back).
    """

    def __init__(self, body: bytes, state: WireState) -> None:
        super().__init__(body, content_type="application/json")
        self._state = state

    async def write(self, writer: AbstractStreamWriter) -> None:
        """Write the body (see the class)."""
        await self.write_with_length(writer, None)

    async def write_with_length(
        self,
        writer: AbstractStreamWriter,
        content_length: int | None,  # always the whole body: our own size
    ) -> None:
        """Write the body (see the class)."""
        body: bytes = self._value
        state = self._state
        if state.on_wire is None:  # it ran already (aiohttp re-sending the body): no hold
            state.wired()  # written in full: may be acted upon, and timed as such
            await writer.write(body)
            return
        state.phase = Phase.HELD
        await writer.write(body[:-1])
        await state.run_on_wire()
        state.wired()  # the request timeout starts: the last byte goes now
        await writer.write(body[-1:])
