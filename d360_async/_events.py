"""The conversion events pipeline behind ``D360Client.send_conversion_events``.

Events are read lazily, prepared one by one (defaults, ``event_id``, PII normalised and hashed,
checks), serialised once, cut into batches (``batch_size`` events, ``max_body_bytes``; see
``_events_batch``) and posted ``concurrency`` at a time through the ``EventsPoster`` the run is
given (the client's: rate limit, safe retries, since every event has an ``event_id``). Nothing
is silently lost: a value that breaks its key's rule is left out and reported
(``DroppedValue``); invalid events are reported and not sent; a batch
the server rejects with a 400 about an event is split (the event the error names is dropped,
or the batch is bisected) so that the valid events are still delivered; a batch that fails for
good is reported as failed with its error. See ``docs/events.md``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import weakref
from collections import Counter, deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
)
from contextlib import aclosing
from typing import Any, Final, Protocol

import attrs
import orjson

from ._concurrency import Concurrency, auto_concurrency, check_concurrency
from ._errors import APIError, BadRequestError, D360Error, ValidationError
from ._events_batch import Batch, Chunker, Feed, Prepared, Preparer, Work
from ._fanout import Crew, Gate, bounded_each, bounded_map
from ._limits import Scope
from ._models_event_results import EventsRunError
from ._models_events import (
    BatchResult,
    ConversionEvent,
    ConversionEventsResponse,
    DroppedValue,
    EventsReport,
    FailedEvent,
    RejectedEvent,
)
from ._normalise_numbers import calling_code
from ._params import path_id
from ._payloads import MAX_EVENTS_PER_REQUEST, EventInput
from ._userdata import UserDataHasher

__all__ = [
    "MAX_BODY_BYTES",
    "BatchResult",
    "DroppedValue",
    "EventsPoster",
    "EventsReport",
    "EventsRun",
    "EventsRunError",
    "FailedEvent",
    "RejectedEvent",
]

logger = logging.getLogger("d360_async.events")

#: Largest JSON body of one events request (Meta documents no limit; this stays well clear).
MAX_BODY_BYTES: Final = 2_000_000
#: Extra requests one batch may spend isolating events the server rejects.
DEFAULT_MAX_SPLIT_REQUESTS: Final = 64

_INDEX = re.compile(r"\bdata\[(\d+)\]")
_INDEXED_FIELD = re.compile(r"\bdata\[\d+\]\.(\w+)")
#: Words in a 400 that make it about the request, not about one of its events.
_REQUEST_LEVEL = ("test_event_code", "partner_agent", "access token", "access_token", "api key")


class EventsPoster(Protocol):
    """What the pipeline needs to send: post one events request body (``{"data": [...],
    "test_event_code": ...}``) to the node's events endpoint and return the API's answer,
    raising ``APIError`` subclasses. ``D360Client.send_conversion_events`` gives one bound to
    the client; any async function of that shape will do (tests, other transports).

    Example:
        >>> async def post(body) -> ConversionEventsResponse:
        ...     return ConversionEventsResponse(events_received=len(body["data"]))
    """

    def __call__(self, body: Mapping[str, Any], /) -> Awaitable[ConversionEventsResponse]: ...


# --- posting and splitting --------------------------------------------------------------------


@attrs.define
class _Segment:
    """Events posted in one request. ``suspect`` is set on the second half of a bisected
    segment: if its sibling (the first half) goes through, this half holds the bad event(s)
    and fails with ``suspect`` without being posted again."""

    events: list[Prepared]
    sibling: _Segment | None = None
    suspect: BadRequestError | None = None
    ok: bool = False


_REQUEST_ERROR: Final = -1  # from _event_position: the 400 is about the request itself


def _event_position(error: BadRequestError, size: int) -> int | None:
    """Where the 400 points in a request of ``size`` events: an index, None (one of them,
    unknown which), or ``_REQUEST_ERROR`` (the request itself is wrong)."""
    text = f"{error.message} {error.details or ''}".lower()
    if error.code not in (None, 100) or any(word in text for word in _REQUEST_LEVEL):
        return _REQUEST_ERROR
    match = _INDEX.search(error.details or "") or _INDEX.search(error.message)
    if match is not None and int(match.group(1)) < size:
        return int(match.group(1))
    return None


def _server_reason(error: BadRequestError) -> tuple[str, str]:
    """(field, reason) of an event the server rejected, from its error."""
    match = _INDEXED_FIELD.search(error.details or "")
    field = match.group(1) if match else "event"
    reason = error.message
    body = error.body
    if isinstance(body, Mapping) and isinstance(body.get("detail"), Mapping):
        body = body["detail"]
    inner = body.get("error") if isinstance(body, Mapping) else None
    user_msg = inner.get("error_user_msg") if isinstance(inner, Mapping) else None
    if isinstance(user_msg, str) and user_msg and not _INDEX.search(reason):
        reason = f"{reason}: {user_msg}"
    return field, reason


_NONE: Final[list[Any]] = []  # never appended to: _isolate makes a poster's own lists


class _BatchPoster:
    """Posts one batch, isolating the events the server rejects."""

    __slots__ = (
        "batch",
        "error",
        "extras",
        "failed",
        "fbtrace_id",
        "max_split",
        "post_body",
        "received",
        "rejected",
        "requests",
    )

    def __init__(
        self, post: EventsPoster, extras: Mapping[str, str], max_split: int, batch: Batch
    ) -> None:
        self.post_body = post
        self.extras = extras
        self.max_split = max_split
        self.batch = batch
        self.received = 0
        self.requests = 0
        self.fbtrace_id: str | None = None
        # made by _isolate: the common case rejects and fails nothing
        self.rejected: list[RejectedEvent] = _NONE
        self.failed: list[FailedEvent] = _NONE
        self.error: D360Error | None = None

    def _reject(self, event: Prepared, error: BadRequestError) -> None:
        field, reason = _server_reason(error)
        logger.info(
            "events batch %d: event %d rejected by the server (%s)",
            self.batch.batch_index,
            event.index,
            field,
        )
        self.rejected.append(
            RejectedEvent(
                index=event.index,
                event_id=event.event_id,
                event_name=event.event_name,
                field=field,
                reason=reason,
                from_server=True,
            )
        )

    def _fail(self, events: list[Prepared], error: D360Error) -> None:
        self.error = self.error or error
        self.failed.extend(
            FailedEvent(index=e.index, event_id=e.event_id, event_name=e.event_name) for e in events
        )

    def _split(self, pending: deque[_Segment], segment: _Segment, error: BadRequestError) -> None:
        """``segment`` failed because of an event the error does not name: bisect it."""
        events = segment.events
        if len(events) == 1:
            self._reject(events[0], error)
            return
        half = len(events) // 2
        first = _Segment(events[:half])
        pending.appendleft(_Segment(events[half:], sibling=first, suspect=error))
        pending.appendleft(first)

    def _request(self, events: list[Prepared]) -> Awaitable[ConversionEventsResponse]:
        """One request with ``events`` (awaited by the caller: no coroutine of its own)."""
        self.requests += 1
        # Serialised once per event: the transport's orjson copies the fragments as they are.
        return self.post_body({"data": [e.fragment for e in events], **self.extras})

    def _answered(self, events: list[Prepared], response: ConversionEventsResponse) -> None:
        received = response.events_received
        self.received += len(events) if received is None else received
        self.fbtrace_id = self.fbtrace_id or response.fbtrace_id

    async def post(self) -> BatchResult:
        events = self.batch.events
        try:  # the common case: the whole batch in one request
            self._answered(events, await self._request(events))
        except APIError as exc:
            await self._isolate(exc)
        return self._result()

    async def _isolate(self, first: APIError) -> None:
        """The batch's first request failed with ``first``: reject the events a 400 names (or
        bisects to) and post the rest again, within ``max_split`` extra requests."""
        budget = 1 + self.max_split
        self.rejected, self.failed = [], []
        pending: deque[_Segment] = deque()
        segment = _Segment(self.batch.events)
        error: APIError | None = first
        last_400: BadRequestError | None = None
        while True:
            if error is None:
                segment.ok = True
            elif isinstance(error, BadRequestError):
                position = _event_position(error, len(segment.events))
                if position == _REQUEST_ERROR:
                    self._fail(segment.events, error)
                else:
                    last_400 = error
                    if position is None:
                        self._split(pending, segment, error)
                    else:
                        events = segment.events
                        self._reject(events[position], error)
                        rest = events[:position] + events[position + 1 :]
                        if rest:
                            pending.appendleft(_Segment(rest))
            else:
                self._fail(segment.events, error)
            while pending:  # the next segment to post
                segment = pending.popleft()
                sibling, suspect = segment.sibling, segment.suspect
                if suspect is not None and sibling is not None and sibling.ok:
                    self._split(pending, segment, suspect)  # known to hold the bad event
                    continue
                if self.requests >= budget:
                    assert last_400 is not None  # only splits spend the budget
                    self._fail(segment.events, last_400)
                    continue
                break
            else:
                return
            try:
                self._answered(segment.events, await self._request(segment.events))
            except APIError as exc:
                error = exc
            else:
                error = None

    def _result(self) -> BatchResult:
        if self.failed:
            logger.warning(
                "events batch %d: %d event(s) failed: %s",
                self.batch.batch_index,
                len(self.failed),
                type(self.error).__name__,
            )
        batch = self.batch
        return BatchResult(
            batch_index=batch.batch_index,
            events_sent=len(batch.events),
            events_received=self.received,
            fbtrace_id=self.fbtrace_id,
            rejected=tuple(sorted(self.rejected, key=_by_index)) if self.rejected else (),
            failed=tuple(sorted(self.failed, key=_by_index)) if self.failed else (),
            error=self.error,
            requests=self.requests,
            dropped=batch.dropped,
            indexes=tuple([e.index for e in batch.events]),
        )


async def _given(result: BatchResult) -> BatchResult:
    return result


def _by_index(event: RejectedEvent | FailedEvent) -> int:
    return event.index


# --- the run ----------------------------------------------------------------------------------


@attrs.define
class _Counts:
    sent: int = 0
    received: int = 0
    rejected: int = 0
    failed: int = 0
    batches: int = 0
    requests: int = 0
    dropped: Counter[str] = attrs.Factory(Counter)

    def add(self, result: BatchResult) -> None:
        self.dropped.update(d.key for d in result.dropped)
        self.sent += result.events_sent
        self.received += result.events_received
        self.rejected += len(result.rejected)
        self.failed += len(result.failed)
        self.batches += 1
        self.requests += result.requests


class EventsRun:
    """One send of any number of conversion events; made by ``send_conversion_events``.

    Iterate it (once) for a ``BatchResult`` per batch, in completion order; ``report`` holds
    the totals when the iteration has finished. ``await run.run()`` does both and keeps no
    results. Cancelling the iteration cancels the requests in flight; so does leaving the
    ``async for`` early (as soon as the event loop runs again); ``async with run:`` also waits
    for them to end before the block is left.

    Args:
        poster: Posts one request body to the node's events endpoint (``EventsPoster``);
            ``send_conversion_events`` passes the client's.
        meta_node_id: The dataset or business node the events belong to.
        events: Any iterable or async iterable of ``ConversionEvent`` or mappings; read lazily.
        batch_size: Events per request, 1 to 1,000.
        concurrency: Requests in flight at once, or ``"auto"`` (see ``send_conversion_events``).
        test_event_code: Route the events to Events Manager's test tab.
        partner_agent: Partner attribution string.
        hash_pii: Normalise and hash ``user_data`` (see ``d360_async.hashing``); a value that
            breaks its key's rule is left out and reported (``BatchResult.dropped``). False
            sends ``user_data`` as given.
        default_country_code: Calling code for phone numbers written without one.
        hash_external_id: False sends ``external_id`` unhashed.
        max_body_bytes: Largest JSON body of one request.
        max_split_requests: Extra requests one batch may make to isolate rejected events;
            events still unresolved then are reported as failed.
        pace: Turns ``concurrency`` into what the run uses, when the run starts (a fresh
            ``"auto"`` controller for the client's rate limit of events);
            ``send_conversion_events`` passes the client's. None: ``"auto"`` is
            ``UNLIMITED_CONCURRENCY`` for events (4).

    Raises:
        ValidationError: An argument is out of range.

    Example:
        >>> async def send(client, events) -> None:
        ...     async with client.send_conversion_events("1122334455667788", events) as run:
        ...         async for batch in run:
        ...             for event in batch.rejected:
        ...                 print(event.index, event.field, event.reason)
        ...     print(run.report.received, "received")
    """

    def __init__(
        self,
        poster: EventsPoster,
        meta_node_id: str,
        events: Iterable[EventInput] | AsyncIterable[EventInput],
        *,
        batch_size: int = MAX_EVENTS_PER_REQUEST,
        concurrency: Concurrency = "auto",
        test_event_code: str | None = None,
        partner_agent: str | None = None,
        hash_pii: bool = True,
        default_country_code: str | int | None = None,
        hash_external_id: bool = True,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_split_requests: int = DEFAULT_MAX_SPLIT_REQUESTS,
        pace: Callable[[Concurrency], int | Gate] | None = None,
    ) -> None:
        path_id("meta_node_id", meta_node_id)
        if isinstance(events, (str, bytes, Mapping, ConversionEvent)) or not isinstance(
            events, (Iterable, AsyncIterable)
        ):
            raise ValidationError("events", "must be an iterable or async iterable of events")
        if isinstance(batch_size, bool) or not 1 <= batch_size <= MAX_EVENTS_PER_REQUEST:
            raise ValidationError("batch_size", f"must be 1 to {MAX_EVENTS_PER_REQUEST}")
        check_concurrency(concurrency)
        if max_split_requests < 0:
            raise ValidationError("max_split_requests", "must not be negative")
        extras: dict[str, str] = {}
        for name, value in (("test_event_code", test_event_code), ("partner_agent", partner_agent)):
            if value is not None:
                if not isinstance(value, str) or not value.strip():
                    raise ValidationError(name, "must be a non-empty string")
                extras[name] = value
        base = len(orjson.dumps({"data": [], **extras}))
        if max_body_bytes < base + 2:
            raise ValidationError("max_body_bytes", "is too small for any event")
        hasher = None
        if hash_pii:
            code = None if default_country_code is None else calling_code(default_country_code)
            hasher = UserDataHasher(
                default_country_code=code, hash_external_id=hash_external_id, remember=True
            )
        self._post = poster
        self._node = meta_node_id
        self._events: Iterable[EventInput] | AsyncIterable[EventInput] = events
        self._concurrency = concurrency
        self._pace = pace
        self._extras = extras
        self._max_split_requests = max_split_requests
        self._chunker = Chunker(Preparer(hasher, meta_node_id), batch_size, max_body_bytes, base)
        self._counts = _Counts()
        self._started: float | None = None
        self._report: EventsReport | None = None
        # Weak: an ``async for`` left early drops the last reference, and Python's clean-up of
        # the abandoned generator cancels the posts in flight.
        self._results: weakref.ref[AsyncGenerator[BatchResult, None]] | None = None
        self._ended: asyncio.Event | None = None  # set once a started iteration cleaned up
        self._crew: Crew | None = None  # the workers of run(), for aclose() to stop

    def __repr__(self) -> str:
        state = "finished" if self._report else "new" if self._started is None else "running"
        return f"<EventsRun node={self._node!r} {state}>"

    @property
    def report(self) -> EventsReport:
        """The final totals; raises ``EventsRunError`` until the iteration has finished."""
        if self._report is None:
            raise EventsRunError("the run has not finished: iterate it to the end, or await run()")
        return self._report

    def snapshot(self) -> EventsReport:
        """The totals so far."""
        c = self._counts
        started = self._started
        return EventsReport(
            total=self._chunker.total,
            sent=c.sent,
            received=c.received,
            rejected=c.rejected,
            failed=c.failed,
            batches=c.batches,
            requests=c.requests,
            elapsed=0.0 if started is None else time.perf_counter() - started,
            dropped_values=c.dropped.total(),
            dropped_by_key=dict(c.dropped),
        )

    def __aiter__(self) -> AsyncIterator[BatchResult]:
        return self._start()

    async def run(self) -> EventsReport:
        """Send everything; returns the report (per-batch results are not kept).

        Example:
            >>> async def send(client, events) -> int:
            ...     report = await client.send_conversion_events("1122334455667788", events).run()
            ...     return report.received
        """
        self._begin()
        self._ended = ended = asyncio.Event()
        self._crew = crew = Crew()
        feed = Feed(self._events, self._chunker)
        try:  # no result queue: each worker counts its own result
            await bounded_each(feed, self._post_and_count, self._gate(), crew=crew)
        finally:
            self._end(feed, ended)
        if crew.stopped:
            c = self._counts
            raise EventsRunError(
                f"the run was stopped by aclose() before its end: {c.received} events "
                f"received by the API, {c.rejected} rejected, {c.failed} failed so far "
                "(see snapshot()); the posts in flight were cancelled"
            )
        self._report = self.snapshot()
        return self._report

    async def aclose(self) -> None:
        """Stop: cancel the requests in flight and wait for them. Safe to call twice."""
        results = self._results() if self._results is not None else None
        if results is not None:
            await results.aclose()
            return
        if self._crew is not None:  # run() in another task: stop it
            self._crew.stop()
        if self._ended is not None:  # (or abandoned: Python is closing it) wait for the end
            await self._ended.wait()

    async def __aenter__(self) -> EventsRun:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _begin(self) -> None:
        if self._started is not None:
            raise EventsRunError("an EventsRun can be iterated only once")
        self._started = time.perf_counter()

    def _start(self) -> AsyncGenerator[BatchResult, None]:
        self._begin()
        results = self._iterate()
        self._results = weakref.ref(results)
        return results

    def _gate(self) -> int | Gate:
        """What ``concurrency`` means for this run (see ``pace``)."""
        if self._pace is not None:
            return self._pace(self._concurrency)
        return auto_concurrency(
            self._concurrency, limiter=None, scope=Scope.EVENTS, pool=0, throttled=int
        )

    def _process(self, work: Work) -> Awaitable[BatchResult]:
        """The result of ``work`` (its poster's coroutine: no frame of its own in flight)."""
        if isinstance(work, BatchResult):  # events rejected before sending
            return _given(work)
        return _BatchPoster(self._post, self._extras, self._max_split_requests, work).post()

    def _count(self, result: BatchResult) -> None:
        self._counts.add(result)
        logger.debug(
            "events batch %d: %d sent, %d received, %d rejected, %d failed",
            result.batch_index,
            result.events_sent,
            result.events_received,
            len(result.rejected),
            len(result.failed),
        )

    async def _post_and_count(self, work: Work) -> None:
        self._count(await self._process(work))

    async def _iterate(self) -> AsyncGenerator[BatchResult, None]:
        self._ended = ended = asyncio.Event()
        feed = Feed(self._events, self._chunker)
        try:
            async with aclosing(bounded_map(feed, self._process, self._gate())) as results:
                async for result in results:
                    self._count(result)
                    yield result
        finally:
            self._end(feed, ended)
        self._report = self.snapshot()

    def _end(self, feed: Feed, ended: asyncio.Event) -> None:
        """The iteration ended (however): no event is read any more, the input is let go."""
        feed.close()
        self._release()
        ended.set()

    def _release(self) -> None:
        """Forget the input and the digests remembered for it: no plaintext outlives the run."""
        self._events = ()
        hasher = self._chunker.prepare.hasher
        if hasher is not None:
            hasher.clear()
