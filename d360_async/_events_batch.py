"""Preparing conversion events and cutting them into batches (the first half of the events
pipeline; ``_events`` posts the batches).

Each event is prepared once: defaults and an ``event_id`` filled in, its ``user_data``
normalised and hashed (a value that breaks its key's rule is left out and reported as a
``DroppedValue``), checked as the Conversions API will check it, and serialised. An event is
rejected (``RejectedEvent``) only when it cannot be sent: a check fails, or no customer
information is left once the invalid values are out.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from typing import Any, Final, cast

import attrs
import orjson

from ._converter import unstructure
from ._errors import ValidationError
from ._fanout import SharedSource
from ._models_events import (
    BatchResult,
    ConversionEvent,
    DroppedValue,
    RejectedEvent,
    check_event,
    event_payload,
)
from ._payloads import EventInput
from ._userdata import UserDataHasher

__all__ = ["Batch", "Chunker", "Feed", "Prepared", "Preparer", "Work"]

logger = logging.getLogger("d360_async.events")

#: Events prepared between two turns of the event loop.
YIELD_EVERY: Final = 100


class Prepared:
    """An event ready to send, serialised once: the request body embeds ``fragment`` as is."""

    __slots__ = ("dropped", "event_id", "event_name", "fragment", "index", "size")

    def __init__(
        self, index: int, data: dict[str, Any], encoded: bytes, dropped: tuple[DroppedValue, ...]
    ) -> None:
        self.index = index
        self.event_id: str = data["event_id"]
        self.event_name: str = data["event_name"]
        self.fragment = orjson.Fragment(encoded)
        self.size = len(encoded)
        self.dropped = dropped


class _Refused(Exception):
    """An event that cannot be sent, with the values left out of it before that was known,
    and the ``event_id`` it was given (None: refused before it had one)."""

    def __init__(
        self,
        error: ValidationError,
        dropped: tuple[DroppedValue, ...],
        event_id: str | None = None,
    ) -> None:
        super().__init__(error.field)
        self.error = error
        self.dropped = dropped
        self.event_id = event_id


class Preparer:
    """Turns one input event into a ``Prepared`` one, or raises ``_Refused``.

    Args:
        hasher: Normalises and hashes ``user_data``; None sends it as given.
        dataset_id: The node the events go to: an event without ``event_id`` gets one
            derived from it and the event (``derived_event_id``); None: a random one.
    """

    __slots__ = ("dataset_id", "hasher")

    def __init__(self, hasher: UserDataHasher | None, dataset_id: str | None = None) -> None:
        self.hasher = hasher
        self.dataset_id = dataset_id

    def _user_data(self, index: int, data: dict[str, Any]) -> tuple[DroppedValue, ...]:
        """Prepares ``data["user_data"]`` in place; returns the values left out."""
        user_data = data["user_data"]
        if type(user_data) is not dict and not isinstance(user_data, Mapping):
            if not attrs.has(type(user_data)):
                raise ValidationError("user_data", "must be a mapping or a UserData")
            user_data = unstructure(user_data)
            data["user_data"] = user_data
        if self.hasher is None:
            return ()
        prepared = self.hasher.prepare(user_data)
        data["user_data"] = prepared.user_data
        if not prepared.dropped:
            return ()
        event_id, event_name = data["event_id"], data.get("event_name")
        dropped = tuple(
            DroppedValue(
                index=index,
                event_id=event_id,
                event_name=event_name if isinstance(event_name, str) else None,
                key=d.key,
                reason=d.reason,
                position=d.position,
            )
            for d in prepared.dropped
        )
        if not prepared.user_data:
            keys = ", ".join(dict.fromkeys(d.key for d in dropped))
            reason = f"has no customer information left: every value was invalid ({keys})"
            raise _Refused(ValidationError("user_data", reason), dropped)
        return dropped

    def __call__(self, index: int, event: EventInput, now: float) -> Prepared:
        data = event_payload(event, dataset_id=self.dataset_id)
        event_id = data["event_id"] if isinstance(data["event_id"], str) else None
        dropped: tuple[DroppedValue, ...] = ()
        try:
            if data.get("user_data") is not None:
                dropped = self._user_data(index, data)
            check_event(data, now)
        except _Refused as exc:
            exc.event_id = event_id
            raise
        except ValidationError as exc:
            raise _Refused(exc, dropped, event_id) from None
        try:
            encoded = orjson.dumps(data)
        except TypeError:  # orjson.JSONEncodeError too; its text may quote a value
            error = ValidationError("event", "contains a value that is not JSON-serialisable")
            raise _Refused(error, dropped, event_id) from None
        return Prepared(index, data, encoded, dropped)


def _rejection(
    index: int, event: object, error: ValidationError, given_id: str | None
) -> RejectedEvent:
    """``event`` refused; ``given_id`` is the ``event_id`` it was given, if it got that far
    (the one its dropped values name)."""
    event_id = event_name = None
    if isinstance(event, ConversionEvent):
        event_id, event_name = event.event_id, event.event_name
    elif isinstance(event, Mapping):
        event_id, event_name = event.get("event_id"), event.get("event_name")
    event_id = given_id or event_id
    return RejectedEvent(
        index=index,
        event_id=event_id if isinstance(event_id, str) else None,
        event_name=event_name if isinstance(event_name, str) else None,
        field=error.field,
        reason=error.reason,
        from_server=False,
    )


@attrs.define
class Batch:
    """Events to post in one request (or fewer, when the server rejects some)."""

    batch_index: int
    events: list[Prepared]

    @property
    def dropped(self) -> tuple[DroppedValue, ...]:
        """The values left out of the batch's events."""
        return tuple(d for e in self.events for d in e.dropped)


Work = Batch | BatchResult  # a batch to post, or local rejections (already a result)


class Chunker:
    """Cuts prepared events into batches by count and body size; gathers local rejections."""

    def __init__(self, prepare: Preparer, batch_size: int, max_body: int, base: int) -> None:
        self.prepare = prepare
        self._batch_size = batch_size
        self._max_body = max_body
        self._base = base  # bytes of the body without events
        self._events: list[Prepared] = []
        self._size = base
        self._rejected: list[RejectedEvent] = []
        self._dropped: list[DroppedValue] = []  # of the rejected events
        self._indexes = itertools.count()  # batch_index of the next result
        self.total = 0

    def add(self, event: EventInput) -> list[Work]:
        index = self.total
        self.total += 1
        out: list[Work] = []
        try:
            prepared = self.prepare(index, event, time.time())
            if self._base + prepared.size > self._max_body:
                error = ValidationError(
                    "event", f"is larger than a request may be ({self._max_body} bytes)"
                )
                raise _Refused(error, prepared.dropped, prepared.event_id)
        except (_Refused, TypeError, ValueError) as exc:
            # ValidationError is a ValueError; any other error's text might quote a value.
            given_id = None
            if isinstance(exc, _Refused):
                error, dropped, given_id = exc.error, exc.dropped, exc.event_id
            elif isinstance(exc, ValidationError):
                error, dropped = exc, ()
            else:
                name = type(exc).__name__
                error, dropped = ValidationError("event", f"could not be prepared ({name})"), ()
            self._rejected.append(_rejection(index, event, error, given_id))
            self._dropped.extend(dropped)
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

    def flush(self) -> list[Work]:
        out: list[Work] = []
        if self._rejected:
            out.append(self._take_rejected())
        if self._events:
            out.append(Batch(next(self._indexes), self._events))
            self._events = []
            self._size = self._base
        return out

    def _take_rejected(self) -> BatchResult:
        rejected, self._rejected = tuple(self._rejected), []
        dropped, self._dropped = tuple(self._dropped), []
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
            dropped=dropped,
            indexes=tuple(r.index for r in rejected),
        )


_END: Final = object()


class Feed(SharedSource[Work]):
    """The work of a run, as its workers take it: events read from the input, prepared and
    cut into batches (``Chunker``) by whichever worker asks, with no lock for a plain
    iterable (``next()`` never yields to the event loop); an async input is read under a
    lock. Preparing a batch takes milliseconds of CPU: the event loop gets a turn every
    ``YIELD_EVERY`` events so that requests in flight keep streaming their bodies and
    answers are read. Work made beyond what a worker takes waits for the next one, in order.
    """

    __slots__ = ("_chunker", "_events", "_lock", "_pending", "_source")

    def __init__(
        self, events: Iterable[EventInput] | AsyncIterable[EventInput], chunker: Chunker
    ) -> None:
        self._chunker = chunker
        self._pending: deque[Work] = deque()
        self._events: Iterator[EventInput] | None = None
        self._source: AsyncIterator[EventInput] | None = None
        self._lock: asyncio.Lock | None = None
        if isinstance(events, AsyncIterable):
            self._source, self._lock = aiter(events), asyncio.Lock()
        else:
            self._events = iter(events)

    async def __anext__(self) -> Work:
        pending = self._pending
        chunker = self._chunker
        while not pending:
            event: object
            if self._events is not None:
                event = next(self._events, _END)
            elif self._lock is not None and self._source is not None:
                async with self._lock:  # another worker may have ended the input meanwhile
                    event = _END if self._source is None else await anext(self._source, _END)
            else:  # the input is exhausted (or the feed closed)
                raise StopAsyncIteration
            if event is _END:
                self.close()
                pending.extend(chunker.flush())
                continue
            pending.extend(chunker.add(cast(EventInput, event)))
            if chunker.total % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        return pending.popleft()

    def close(self) -> None:
        """Let go of the input: no worker reads another event."""
        self._events = self._source = None
