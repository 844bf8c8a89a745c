"""Results of ``send_conversion_events``: per batch (``BatchResult``: rejected and failed events,
values left out) and for the whole run (``EventsReport``)."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from ._errors import D360Error
from ._userdata import InvalidValue

__all__ = [
    "BatchResult",
    "DroppedValue",
    "EventsReport",
    "EventsRunError",
    "FailedEvent",
    "RejectedEvent",
]


class EventsRunError(D360Error, RuntimeError):
    """An ``EventsRun`` used out of order (iterated twice, its report asked for before it
    finished), or stopped by ``aclose()`` before its end.

    Example:
        >>> isinstance(EventsRunError("x"), D360Error)
        True
    """


@attrs.frozen(kw_only=True)
class DroppedValue(InvalidValue):
    """A ``user_data`` value left out of an event because it breaks its key's rule (an
    ``InvalidValue``: key, reason, position), with the event it was left out of. The event
    itself is sent (unless nothing else is left: then it is a ``RejectedEvent`` too).

    Attributes:
        index: The event's position in the input (0-based).
        event_id: The event's ``event_id`` (the one it was sent with).
        event_name: Its ``event_name``, if any.

    Example:
        >>> dropped = DroppedValue(index=4, event_id="e-4", event_name="Purchase", key="db",
        ...     reason="is not a date of birth")
        >>> dropped.key, dropped.index, dropped.position
        ('db', 4, None)
    """

    index: int
    event_id: str | None
    event_name: str | None


@attrs.frozen(kw_only=True)
class RejectedEvent:
    """An event that was not accepted because it is invalid (it will never be).

    Attributes:
        index: Its position in the input (0-based).
        event_id: Its ``event_id`` (None when it had none and was rejected before sending).
        event_name: Its ``event_name``, if any.
        field: The offending field (``event_time``, ``user_data.ph``; ``event`` when unknown).
        reason: Why; the server's message when ``from_server``. Never contains a PII value.
        from_server: True when the API rejected it, False when caught before sending.

    Example:
        >>> event = RejectedEvent(index=17, event_id="e-17", event_name="Purchase",
        ...     field="event_time", reason="is older than 7 days", from_server=False)
        >>> event.index, event.field
        (17, 'event_time')
    """

    index: int
    event_id: str | None
    event_name: str | None
    field: str
    reason: str
    from_server: bool


@attrs.frozen(kw_only=True)
class FailedEvent:
    """An event whose delivery failed for good (see ``BatchResult.error``); it may be re-sent
    with the same ``event_id`` (Meta keeps one copy).

    Example:
        >>> FailedEvent(index=3, event_id="e-3", event_name="Purchase").event_id
        'e-3'
    """

    index: int
    event_id: str
    event_name: str


@attrs.frozen(kw_only=True)
class BatchResult:
    """The outcome of one batch (or of one chunk of events rejected before sending).

    Attributes:
        batch_index: Order in which the batch was formed (0-based); results arrive in
            completion order.
        events_sent: Events of the batch that were posted (0 for a chunk of local rejections).
        events_received: Sum of the API's ``events_received`` over the batch's requests.
        fbtrace_id: Meta's trace id of the batch's first successful request.
        rejected: Invalid events (locally or by the server), not delivered.
        failed: Events whose request failed for good; see ``error``.
        error: The error that made ``failed`` events fail (None when none failed).
        requests: HTTP requests made for the batch (more than 1 when it was split).
        dropped: ``user_data`` values left out of the batch's events (of its rejected events
            too, for a chunk of local rejections).
        indexes: The input positions of the batch's events, in order: every one is decided
            (received, rejected or failed) once the result is out.

    Example:
        >>> result = BatchResult(batch_index=0, events_sent=2, events_received=2,
        ...                      fbtrace_id="AbC", requests=1)
        >>> result.ok
        True
    """

    batch_index: int
    events_sent: int
    events_received: int
    fbtrace_id: str | None
    rejected: tuple[RejectedEvent, ...] = ()
    failed: tuple[FailedEvent, ...] = ()
    error: D360Error | None = None
    requests: int = 0
    dropped: tuple[DroppedValue, ...] = ()
    indexes: tuple[int, ...] = attrs.field(default=(), repr=False)

    @property
    def ok(self) -> bool:
        """True when every event of the batch was delivered (values may have been left out:
        see ``dropped``)."""
        return not self.rejected and not self.failed


@attrs.frozen(kw_only=True)
class EventsReport:
    """Totals of a run (``EventsRun.report`` at the end, ``EventsRun.snapshot()`` so far).

    ``total == sent + rejected locally``; ``sent == received + rejected by the server +
    failed`` when the API counts every event it accepts.

    Attributes:
        total: Events read from the input.
        sent: Events posted at least once.
        received: Events the API acknowledged (sum of ``events_received``).
        rejected: Invalid events (locally or by the server), not delivered.
        failed: Events whose request failed for good.
        batches: Results produced (batches and chunks of local rejections).
        requests: HTTP requests made (the client's own retries not counted).
        elapsed: Seconds since the iteration started.
        dropped_values: ``user_data`` values left out because they break their key's rule.
        dropped_by_key: The same, per ``user_data`` key (``{"ph": 3, "db": 1}``).

    Example:
        >>> report = EventsReport(total=3, sent=3, received=3, rejected=0, failed=0,
        ...                       batches=1, requests=1, elapsed=0.5)
        >>> report.rate
        6.0
    """

    total: int
    sent: int
    received: int
    rejected: int
    failed: int
    batches: int
    requests: int
    elapsed: float
    dropped_values: int = 0
    dropped_by_key: Mapping[str, int] = attrs.field(factory=dict, hash=False)

    @property
    def rate(self) -> float:
        """Events received per second."""
        return self.received / self.elapsed if self.elapsed > 0 else 0.0
