"""The conversion events pipeline behind ``D360Client.send_conversion_events``.

Events are read lazily, prepared one by one (defaults, ``event_id``, PII normalised and hashed,
checks), serialised once, cut into batches (``batch_size`` events, ``max_body_bytes``) and
posted ``concurrency`` at a time through the client (rate limit, safe retries: every event has
an ``event_id``). Nothing is silently lost: invalid events are reported and not sent; a batch
the server rejects with a 400 about an event is split (the event the error names is dropped,
or the batch is bisected) so that the valid events are still delivered; a batch that fails for
good is reported as failed with its error. See ``docs/events.md``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
import weakref
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Iterable,
    Mapping,
)
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Final

import attrs
import orjson

from ._concurrency import Concurrency, check_concurrency
from ._converter import unstructure
from ._errors import APIError, BadRequestError, D360Error, ValidationError
from ._fanout import bounded_map
from ._limits import Scope
from ._models_events import (
    BatchResult,
    ConversionEvent,
    EventsReport,
    FailedEvent,
    RejectedEvent,
    check_event,
    event_payload,
)
from ._params import path_id
from ._payloads import MAX_EVENTS_PER_REQUEST, EventInput
from .hashing import _calling_code, hash_user_data

if TYPE_CHECKING:
    from ._client import D360Client

__all__ = [
    "MAX_BODY_BYTES",
    "BatchResult",
    "EventsReport",
    "EventsRun",
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
#: Events prepared between two turns of the event loop.
_YIELD_EVERY: Final = 100
#: Words in a 400 that make it about the request, not about one of its events.
_REQUEST_LEVEL = ("test_event_code", "partner_agent", "access token", "access_token", "api key")


# --- preparing one event ----------------------------------------------------------------------


class _Prepared:
    """An event ready to send, serialised once: the request body embeds ``fragment`` as is."""

    __slots__ = ("event_id", "event_name", "fragment", "index", "size")

    def __init__(self, index: int, data: dict[str, Any], encoded: bytes) -> None:
        self.index = index
        self.event_id: str = data["event_id"]
        self.event_name: str = data["event_name"]
        self.fragment = orjson.Fragment(encoded)
        self.size = len(encoded)


@attrs.frozen
class _Preparer:
    """Turns one input event into a ``_Prepared`` one, or raises ``ValidationError``."""

    hash_pii: bool
    country_code: str | None
    hash_external_id: bool

    def __call__(self, index: int, event: EventInput, now: float) -> _Prepared:
        data = event_payload(event)
        user_data = data.get("user_data")
        if user_data is not None:
            if self.hash_pii:
                data["user_data"] = hash_user_data(
                    user_data,
                    default_country_code=self.country_code,
                    hash_external_id=self.hash_external_id,
                )
            elif type(user_data) is not dict and not isinstance(user_data, Mapping):
                if not attrs.has(type(user_data)):
                    raise ValidationError("user_data", "must be a mapping or a UserData")
                data["user_data"] = unstructure(user_data)
        check_event(data, now)
        try:
            encoded = orjson.dumps(data)
        except TypeError:  # orjson.JSONEncodeError too; its text may quote a value
            raise ValidationError(
                "event", "contains a value that is not JSON-serialisable"
            ) from None
        return _Prepared(index, data, encoded)


def _rejection(index: int, event: object, error: ValidationError) -> RejectedEvent:
    event_id = event_name = None
    if isinstance(event, ConversionEvent):
        event_id, event_name = event.event_id, event.event_name
    elif isinstance(event, Mapping):
        event_id, event_name = event.get("event_id"), event.get("event_name")
    return RejectedEvent(
        index=index,
        event_id=event_id if isinstance(event_id, str) else None,
        event_name=event_name if isinstance(event_name, str) else None,
        field=error.field,
        reason=error.reason,
        from_server=False,
    )


# --- batching ---------------------------------------------------------------------------------


@attrs.define
class _Batch:
    batch_index: int
    events: list[_Prepared]


_Work = _Batch | BatchResult  # a batch to post, or local rejections (already a result)


class _Chunker:
    """Cuts prepared events into batches by count and body size; gathers local rejections."""

    def __init__(self, prepare: _Preparer, batch_size: int, max_body: int, base: int) -> None:
        self._prepare = prepare
        self._batch_size = batch_size
        self._max_body = max_body
        self._base = base  # bytes of the body without events
        self._events: list[_Prepared] = []
        self._size = base
        self._rejected: list[RejectedEvent] = []
        self._indexes = itertools.count()  # batch_index of the next result
        self.total = 0

    def add(self, event: EventInput) -> list[_Work]:
        index = self.total
        self.total += 1
        out: list[_Work] = []
        try:
            prepared = self._prepare(index, event, time.time())
            if self._base + prepared.size > self._max_body:
                raise ValidationError(
                    "event", f"is larger than a request may be ({self._max_body} bytes)"
                )
        except (TypeError, ValueError) as exc:
            # ValidationError is a ValueError; any other error's text might quote a value.
            error = (
                exc
                if isinstance(exc, ValidationError)
                else ValidationError("event", f"could not be prepared ({type(exc).__name__})")
            )
            self._rejected.append(_rejection(index, event, error))
            if len(self._rejected) >= self._batch_size:
                out.append(self._take_rejected())
            return out
        if self._events and self._size + 1 + prepared.size > self._max_body:
            out.extend(self.flush())
        self._events.append(prepared)
        self._size += prepared.size + (1 if len(self._events) > 1 else 0)
        if len(self._events) >= self._batch_size:
            out.extend(self.flush())
        return out

    def flush(self) -> list[_Work]:
        out: list[_Work] = []
        if self._rejected:
            out.append(self._take_rejected())
        if self._events:
            out.append(_Batch(next(self._indexes), self._events))
            self._events = []
            self._size = self._base
        return out

    def _take_rejected(self) -> BatchResult:
        rejected, self._rejected = tuple(self._rejected), []
        first = rejected[0]
        logger.info(
            "events: %d rejected before sending (first: event %d, %s)",
            len(rejected),
            first.index,
            first.field,
        )
        return BatchResult(
            batch_index=next(self._indexes),
            events_sent=0,
            events_received=0,
            fbtrace_id=None,
            rejected=rejected,
        )


# --- posting and splitting --------------------------------------------------------------------


@attrs.define
class _Segment:
    """Events posted in one request. ``suspect`` is set on the second half of a bisected
    segment: if its sibling (the first half) goes through, this half holds the bad event(s)
    and fails with ``suspect`` without being posted again."""

    events: list[_Prepared]
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


class _BatchPoster:
    """Posts one batch, isolating the events the server rejects."""

    def __init__(self, run: EventsRun, batch: _Batch) -> None:
        self.run = run
        self.batch = batch
        self.received = 0
        self.requests = 0
        self.fbtrace_id: str | None = None
        self.rejected: list[RejectedEvent] = []
        self.failed: list[FailedEvent] = []
        self.error: D360Error | None = None

    def _reject(self, event: _Prepared, error: BadRequestError) -> None:
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

    def _fail(self, events: list[_Prepared], error: D360Error) -> None:
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

    async def post(self) -> BatchResult:
        run = self.run
        budget = 1 + run._max_split_requests
        pending: deque[_Segment] = deque([_Segment(self.batch.events)])
        last_400: BadRequestError | None = None
        while pending:
            segment = pending.popleft()
            if segment.suspect is not None and segment.sibling is not None and segment.sibling.ok:
                self._split(pending, segment, segment.suspect)  # known to hold the bad event
                continue
            if self.requests >= budget:
                assert last_400 is not None  # only splits spend the budget
                self._fail(segment.events, last_400)
                continue
            self.requests += 1
            # Serialised once per event: the transport's orjson copies the fragments as they are.
            body = {"data": [e.fragment for e in segment.events], **run._extras}
            try:
                response = await run._client._post_events_payload(run._node, body)
            except BadRequestError as exc:
                position = _event_position(exc, len(segment.events))
                if position == _REQUEST_ERROR:
                    self._fail(segment.events, exc)
                    continue
                last_400 = exc
                if position is None:
                    self._split(pending, segment, exc)
                else:
                    events = segment.events
                    self._reject(events[position], exc)
                    rest = events[:position] + events[position + 1 :]
                    if rest:
                        pending.appendleft(_Segment(rest))
                continue
            except APIError as exc:
                self._fail(segment.events, exc)
                continue
            segment.ok = True
            received = response.events_received
            self.received += len(segment.events) if received is None else received
            self.fbtrace_id = self.fbtrace_id or response.fbtrace_id
        if self.failed:
            logger.warning(
                "events batch %d: %d event(s) failed: %s",
                self.batch.batch_index,
                len(self.failed),
                type(self.error).__name__,
            )
        return BatchResult(
            batch_index=self.batch.batch_index,
            events_sent=len(self.batch.events),
            events_received=self.received,
            fbtrace_id=self.fbtrace_id,
            rejected=tuple(sorted(self.rejected, key=lambda r: r.index)),
            failed=tuple(sorted(self.failed, key=lambda f: f.index)),
            error=self.error,
            requests=self.requests,
        )


# --- the run ----------------------------------------------------------------------------------


@attrs.define
class _Counts:
    sent: int = 0
    received: int = 0
    rejected: int = 0
    failed: int = 0
    batches: int = 0
    requests: int = 0

    def add(self, result: BatchResult) -> None:
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
        client: The client that posts.
        meta_node_id: The dataset or business node the events belong to.
        events: Any iterable or async iterable of ``ConversionEvent`` or mappings; read lazily.
        batch_size: Events per request, 1 to 1,000.
        concurrency: Requests in flight at once, or ``"auto"`` (see ``send_conversion_events``).
        test_event_code: Route the events to Events Manager's test tab.
        partner_agent: Partner attribution string.
        hash_pii: Normalise and hash ``user_data`` (see ``d360_async.hashing``); False sends
            ``user_data`` as given.
        default_country_code: Calling code for phone numbers written without one.
        hash_external_id: False sends ``external_id`` unhashed.
        max_body_bytes: Largest JSON body of one request.
        max_split_requests: Extra requests one batch may make to isolate rejected events;
            events still unresolved then are reported as failed.

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
        client: D360Client,
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
        country_code = None if default_country_code is None else _calling_code(default_country_code)
        self._client = client
        self._node = meta_node_id
        self._events = events
        self._concurrency = concurrency
        self._extras = extras
        self._max_split_requests = max_split_requests
        preparer = _Preparer(hash_pii, country_code, hash_external_id)
        self._chunker = _Chunker(preparer, batch_size, max_body_bytes, base)
        self._counts = _Counts()
        self._started: float | None = None
        self._report: EventsReport | None = None
        # Weak: an ``async for`` left early drops the last reference, and Python's clean-up of
        # the abandoned generator cancels the posts in flight.
        self._results: weakref.ref[AsyncGenerator[BatchResult, None]] | None = None
        self._ended: asyncio.Event | None = None  # set once a started iteration cleaned up

    def __repr__(self) -> str:
        state = "finished" if self._report else "new" if self._started is None else "running"
        return f"<EventsRun node={self._node!r} {state}>"

    @property
    def report(self) -> EventsReport:
        """The final totals; raises ``RuntimeError`` until the iteration has finished."""
        if self._report is None:
            raise RuntimeError("the run has not finished: iterate it to the end, or await run()")
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
        async with aclosing(self._start()) as results:
            async for _ in results:
                pass
        return self.report

    async def aclose(self) -> None:
        """Stop: cancel the requests in flight and wait for them. Safe to call twice."""
        results = self._results() if self._results is not None else None
        if results is not None:
            await results.aclose()
        elif self._ended is not None:  # abandoned: Python is closing it; wait for the end
            await self._ended.wait()

    async def __aenter__(self) -> EventsRun:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _start(self) -> AsyncGenerator[BatchResult, None]:
        if self._started is not None:
            raise RuntimeError("an EventsRun can be iterated only once")
        self._started = time.perf_counter()
        results = self._iterate()
        self._results = weakref.ref(results)
        return results

    async def _work(self) -> AsyncGenerator[_Work, None]:
        """Batches (and chunks of local rejections) as the input is read. Preparing a batch
        takes milliseconds of CPU: the event loop gets a turn every ``_YIELD_EVERY`` events
        so that requests in flight keep streaming their bodies and answers are read."""
        chunker = self._chunker
        events = self._events
        if isinstance(events, AsyncIterable):
            async for event in events:
                for work in chunker.add(event):
                    yield work
                if chunker.total % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
        else:
            for event in events:
                for work in chunker.add(event):
                    yield work
                if chunker.total % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
        for work in chunker.flush():
            yield work

    async def _process(self, work: _Work) -> BatchResult:
        if isinstance(work, BatchResult):  # events rejected before sending
            return work
        return await _BatchPoster(self, work).post()

    async def _iterate(self) -> AsyncGenerator[BatchResult, None]:
        self._ended = ended = asyncio.Event()
        work = self._work()
        try:
            concurrency = self._client._concurrency(self._concurrency, Scope.EVENTS)
            async with aclosing(bounded_map(work, self._process, concurrency)) as results:
                async for result in results:
                    self._counts.add(result)
                    logger.debug(
                        "events batch %d: %d sent, %d received, %d rejected, %d failed",
                        result.batch_index,
                        result.events_sent,
                        result.events_received,
                        len(result.rejected),
                        len(result.failed),
                    )
                    yield result
        finally:
            try:
                await work.aclose()
            finally:
                ended.set()
        self._report = self.snapshot()
