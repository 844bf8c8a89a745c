"""``d360 events``: conversion events from a JSON Lines or CSV file.

JSON Lines: one event object per line, as the Conversions API takes it (``event_time`` may
also be an ISO 8601 string). CSV: one event per row; columns are event fields
(``event_name``, ``event_time``, ``event_id``, ``action_source``, ...), ``user_data`` keys
(``em``, ``ph``, ``ctwa_clid``, ... or ``user_data.em``) and ``custom_data`` keys
(``currency``, ``value``, ... or ``custom_data.KEY``, any key); empty cells are left out.

The file is read once to check that it parses (a file that does not stops everything, exit
code 2); then ``client.send_conversion_events`` hashes, validates, batches and posts the
events. Events that are invalid (locally or for the API) or whose request failed for good are
written to the rejected-events file; the exit code is then 1. A ``user_data`` value that breaks
its key's rule is left out of its event (which is still sent): it gets a ``value dropped`` row
in the same file, and the summary counts the dropped values per key.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Final

import attrs

from d360_async._errors import D360Error
from d360_async._events import EventsRun
from d360_async._limits import LocalLimiter
from d360_async._models_events import BatchResult, EventsReport, event_payload
from d360_async.hashing import HASHED_KEYS, UNHASHED_KEYS

from ._checks import LISTED, default_rejected_path
from ._common import EXIT_FAILURE, EXIT_OK, Context, UsageError, distinct_files, plural
from ._output import CsvFile
from ._progress import Tracker
from ._rows import InputFile, Record

__all__ = [
    "DROPPED",
    "INTERRUPTED",
    "REJECTED_COLUMNS",
    "dropped_line",
    "events_limiter",
    "run_events",
    "summary_line",
]

#: Columns of the rejected-events file.
REJECTED_COLUMNS: Final = ("row", "status", "event_name", "event_id", "field", "reason")
#: Status of a row for a ``user_data`` value left out of an event that was still sent.
DROPPED: Final = "value dropped"
#: Status of a row for an event without an outcome when the run was interrupted.
INTERRUPTED: Final = "interrupted"

_TOP_LEVEL: Final = frozenset(
    {
        "event_name",
        "event_time",
        "event_id",
        "action_source",
        "messaging_channel",
        "event_source_url",
        "referrer_url",
        "opt_out",
    }
)
_USER_DATA: Final = HASHED_KEYS | UNHASHED_KEYS
_CUSTOM_DATA: Final = frozenset(
    {
        "value",
        "currency",
        "content_name",
        "content_category",
        "content_ids",
        "content_type",
        "num_items",
        "order_id",
        "search_string",
        "status",
    }
)


def event_time(value: Any) -> Any:
    """Unix seconds from Unix seconds or an ISO 8601 date-time (UTC when it has no offset);
    anything else is returned as is, for the SDK's validation to reject.

    Example:
        >>> event_time("1767312000"), event_time("2026-01-02T00:00:00Z"), event_time("soon")
        (1767312000, 1767312000, 'soon')
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _number(value: str, kind: type[int] | type[float]) -> Any:
    try:
        return kind(value)
    except ValueError:
        return value  # the SDK rejects it, naming the field


def _place(column: str) -> tuple[str | None, str]:
    """Where a CSV column goes: (None, key) top-level, or ("user_data"/"custom_data", key).

    ``custom_data.KEY`` takes any key (custom properties are the advertiser's own); a bare
    column, or ``user_data.KEY``, only a key the API knows.

    Example:
        >>> _place("value"), _place("custom_data.campaign"), _place("user_data.em")
        (('custom_data', 'value'), ('custom_data', 'campaign'), ('user_data', 'em'))
    """
    if "." in column:
        group, key = column.split(".", 1)
        if (group == "user_data" and key in _USER_DATA) or (group == "custom_data" and key):
            return group, key
        raise KeyError(column)
    if column in _TOP_LEVEL:
        return None, column
    if column in _USER_DATA:
        return "user_data", column
    if column in _CUSTOM_DATA:
        return "custom_data", column
    raise KeyError(column)


def _csv_event(places: dict[str, tuple[str | None, str]], record: Record) -> dict[str, Any]:
    event: dict[str, Any] = {}
    for column, text in record.values.items():
        if text is None or not text.strip():
            continue
        group, key = places[column]
        value: Any = text.strip()
        if key == "value":
            value = _number(value, float)
        elif key == "num_items":
            value = _number(value, int)
        elif key == "opt_out":
            value = value.lower() in ("1", "true", "yes")
        elif key == "content_ids":
            value = [item.strip() for item in value.split(",") if item.strip()]
        target = event if group is None else event.setdefault(group, {})
        target[key] = value
    return event


class _EventsFile:
    def __init__(self, path: str) -> None:
        self.source = InputFile(path)
        self.places: dict[str, tuple[str | None, str]] = {}
        columns = self.source.columns()
        if columns is not None:
            unknown: list[str] = []
            for column in columns:
                try:
                    self.places[column] = _place(column)
                except KeyError:
                    unknown.append(column)
            if unknown:
                raise UsageError(
                    f"{self.source.name}: {', '.join(repr(c) for c in unknown)} "
                    f"{'is not an event field' if len(unknown) == 1 else 'are not event fields'}"
                    " (use event fields, user_data keys such as em or ph, custom_data keys "
                    "such as currency or value, or user_data.KEY / custom_data.KEY)"
                )
            if "event_name" not in columns:
                raise UsageError(f"{self.source.name} has no 'event_name' column")

    def events(self) -> Iterator[dict[str, Any]]:
        for record in self.source.records():
            if self.source.kind == "csv":
                event = _csv_event(self.places, record)
            else:
                event = dict(record.values)
            if "event_time" in event:
                event["event_time"] = event_time(event["event_time"])
            yield event

    def count(self, ctx: Context) -> int:
        """How many events there are; every record that cannot be read is found in this one
        pass (the first 20 listed, every one with ``--verbose``).

        Raises:
            UsageError: Unreadable records, or none at all.
        """
        total = bad = 0
        listed: list[str] = []  # the first ones, printed once it is known there are several
        for record in self.source.records(lenient=True):
            total += 1
            if record.problem is None:
                continue
            bad += 1
            if bad <= LISTED:
                listed.append(self.source.unreadable(record))
            elif ctx.verbose:
                for line in listed:
                    ctx.note(line)
                listed = []
                ctx.note(self.source.unreadable(record))
        if bad == 1:
            raise UsageError(listed[0])
        if bad:
            for line in listed:
                ctx.note(line)
            more = f"; {bad - LISTED:,} more not listed" if bad > LISTED and not ctx.verbose else ""
            raise UsageError(
                f"{self.source.name}: {bad:,} of {plural(total, 'record')} cannot be read "
                f"(listed above{more}); nothing was sent"
            )
        if total == 0:
            raise UsageError(f"{self.source.name} has no events")
        return total


def _rejected_rows(result: BatchResult, ctx: Context) -> Iterator[tuple[Any, ...]]:
    """The rows of one result, by input row: its dropped values first, then the event."""
    rows: list[tuple[int, int, tuple[Any, ...]]] = []
    for dropped in result.dropped:
        row = (
            dropped.index + 1,
            DROPPED,
            dropped.event_name or "",
            dropped.event_id or "",
            f"user_data.{dropped.key}",
            dropped.reason,
        )
        rows.append((dropped.index, 0, row))
    for rejected in result.rejected:
        source = "rejected by the API" if rejected.from_server else "rejected"
        row = (
            rejected.index + 1,
            source,
            rejected.event_name or "",
            rejected.event_id or "",
            rejected.field,
            ctx.redact(rejected.reason),
        )
        rows.append((rejected.index, 1, row))
    for failed in result.failed:
        reason = ctx.redact(str(result.error)) if result.error is not None else ""
        row = (failed.index + 1, "failed", failed.event_name, failed.event_id, "", reason)
        rows.append((failed.index, 1, row))
    rows.sort(key=lambda item: item[:2])
    for _, _, row in rows:
        yield row


def dropped_line(report: EventsReport) -> str | None:
    """``dropped values: db=2 ph=1``: values left out of events, per key (None when none).

    Example:
        >>> dropped_line(EventsReport(total=4, sent=4, received=4, rejected=0, failed=0,
        ...     batches=1, requests=1, elapsed=2.0, dropped_values=3,
        ...     dropped_by_key={"ph": 1, "db": 2}))
        'dropped values: db=2 ph=1'
    """
    if not report.dropped_values:
        return None
    counts = " ".join(f"{key}={count}" for key, count in sorted(report.dropped_by_key.items()))
    return f"dropped values: {counts}"


def summary_line(report: EventsReport) -> str:
    """``summary: received=5000 rejected=0 failed=0 of 5000 events in 5 batches, ...``.

    Example:
        >>> summary_line(EventsReport(total=4, sent=4, received=4, rejected=0, failed=0,
        ...                           batches=1, requests=1, elapsed=2.0))
        'summary: received=4 rejected=0 failed=0 of 4 events, 1 batch in 2.0s (2 events/s)'
    """
    return (
        f"summary: received={report.received} rejected={report.rejected} "
        f"failed={report.failed} of {plural(report.total, 'event')}, "
        f"{plural(report.batches, 'batch', 'batches')} in "
        f"{report.elapsed:.1f}s ({report.rate:,.0f} events/s)"
    )


def events_limiter(rate: float | None) -> LocalLimiter | None:
    """``--rate`` of ``d360 events``: Conversions API posts per second (a number given to a
    client limits sends only).

    Example:
        >>> events_limiter(2.0), events_limiter(None)
        (LocalLimiter(events=2/s), None)
    """
    return None if rate is None else LocalLimiter(messages=None, events=rate)


async def run_events(args: argparse.Namespace, ctx: Context) -> int:
    """``d360 events``; returns the exit code (0: every event received).

    Interrupted (Ctrl-C, SIGTERM), it still prints its summary and writes a row for every
    event not delivered yet (status ``interrupted``) to the rejected file, then lets the
    exception go on.
    """
    ctx.require_key()
    source = _EventsFile(args.file)
    total = source.count(ctx)
    ctx.note(f"{source.source.name}: {plural(total, 'event')}")
    rejected_path = args.rejected or default_rejected_path(args.file)
    distinct_files(("--file", args.file), ("--rejected", rejected_path))
    rejected = CsvFile(rejected_path, REJECTED_COLUMNS, always=args.rejected is not None)
    decided = bytearray(total)  # 1 per event received, rejected or failed
    not_delivered = 0  # rows of events not delivered (the others: values dropped)
    run: EventsRun | None = None
    try:
        async with ctx.client(rate_limit=events_limiter(args.rate)) as client:
            run = client.send_conversion_events(
                args.dataset,
                source.events(),
                batch_size=args.batch_size,
                concurrency=args.concurrency,
                test_event_code=args.test_event_code,
                hash_pii=not args.no_hash,
                default_country_code=args.default_country_code,
            )
            with Tracker(ctx, description="events", total=total, unit="events") as tracker:
                async with run:
                    async for result in run:
                        tracker.events_batch(result)
                        for index in result.indexes:
                            if index < total:  # else the file grew since it was counted
                                decided[index] = 1
                        for row in _rejected_rows(result, ctx):
                            rejected.write(row)
                            not_delivered += row[1] != DROPPED
            report = run.report
    except asyncio.CancelledError:
        if run is not None:
            left = _write_interrupted(source, args.dataset, decided, rejected)
            report = attrs.evolve(run.snapshot(), total=total)
            ctx.say(summary_line(report))
            _notes_after(ctx, report, rejected, not_delivered + left, rejected_path)
            ctx.note(
                f"interrupted: {plural(left, 'event')} without an answer (sent or not) are "
                f"marked '{INTERRUPTED}' in {rejected_path}; to finish, run the same command "
                "again: Meta counts an event_id once (within 48 hours), so the events it "
                "already received are not counted twice"
            )
        raise
    finally:
        if not rejected.close() and args.rejected is None:
            ctx.note(f"removed {rejected_path} (from an earlier run: nothing was rejected now)")
    ctx.say(summary_line(report))
    _notes_after(ctx, report, rejected, not_delivered, rejected_path)
    return EXIT_OK if report.rejected == 0 and report.failed == 0 else EXIT_FAILURE


def _notes_after(
    ctx: Context, report: EventsReport, rejected: CsvFile, not_delivered: int, path: str
) -> None:
    dropped = dropped_line(report)
    if dropped is not None:
        ctx.say(dropped)
    if rejected.rows:
        parts = [f"{plural(not_delivered, 'event')} not delivered"] if not_delivered else []
        if report.dropped_values:
            parts.append(f"{plural(report.dropped_values, 'value')} dropped")
        ctx.note(f"{', '.join(parts)}: see {path}")


def _write_interrupted(
    source: _EventsFile, dataset_id: str, decided: bytearray, rejected: CsvFile
) -> int:
    """A row for every event with no outcome yet, with the ``event_id`` it is sent with (read
    from the file again: no event is kept in memory); returns how many."""
    left = 0
    for index, event in enumerate(source.events()):
        if index >= len(decided) or decided[index]:
            continue
        left += 1
        name = event.get("event_name")
        try:
            event_id = event_payload(event, dataset_id=dataset_id)["event_id"]
        except D360Error:
            event_id = ""
        rejected.write(
            (
                index + 1,
                INTERRUPTED,
                name if isinstance(name, str) else "",
                event_id if isinstance(event_id, str) else "",
                "",
                "no answer when the run was interrupted: it may or may not have been received",
            )
        )
    return left
