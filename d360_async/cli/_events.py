"""``d360 events``: conversion events from a JSON Lines or CSV file.

JSON Lines: one event object per line, as the Conversions API takes it (``event_time`` may
also be an ISO 8601 string). CSV: one event per row; columns are event fields
(``event_name``, ``event_time``, ``event_id``, ``action_source``, ...), ``user_data`` keys
(``em``, ``ph``, ``ctwa_clid``, ... or ``user_data.em``) and ``custom_data`` keys
(``currency``, ``value``, ... or ``custom_data.value``); empty cells are left out.

The file is read once to check that it parses (a file that does not stops everything, exit
code 2); then ``client.send_conversion_events`` hashes, validates, batches and posts the
events. Events that are invalid (locally or for the API) or whose request failed for good are
written to the rejected-events file; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final

from d360_async._limits import LocalLimiter
from d360_async._models_events import BatchResult, EventsReport
from d360_async.hashing import HASHED_KEYS, UNHASHED_KEYS

from ._common import EXIT_FAILURE, EXIT_OK, Context, UsageError, plural
from ._progress import Tracker
from ._rows import InputFile, Record

__all__ = ["REJECTED_COLUMNS", "events_limiter", "run_events"]

#: Columns of the rejected-events file.
REJECTED_COLUMNS: Final = ("row", "status", "event_name", "event_id", "field", "reason")

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
    """Where a CSV column goes: (None, key) top-level, or ("user_data"/"custom_data", key)."""
    if "." in column:
        group, key = column.split(".", 1)
        if (group == "user_data" and key in _USER_DATA) or (
            group == "custom_data" and key in _CUSTOM_DATA
        ):
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

    def count(self) -> int:
        total = sum(1 for _ in self.source.records())
        if total == 0:
            raise UsageError(f"{self.source.name} has no events")
        return total


def _rejected_rows(result: BatchResult, ctx: Context) -> Iterator[tuple[Any, ...]]:
    for rejected in result.rejected:
        source = "rejected by the API" if rejected.from_server else "rejected"
        yield (
            rejected.index + 1,
            source,
            rejected.event_name or "",
            rejected.event_id or "",
            rejected.field,
            ctx.redact(rejected.reason),
        )
    for failed in result.failed:
        reason = ctx.redact(str(result.error)) if result.error is not None else ""
        yield (failed.index + 1, "failed", failed.event_name, failed.event_id, "", reason)


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


class _RejectedFile:
    """Written on the first rejected event, or always when the user named it."""

    def __init__(self, path: str, *, always: bool) -> None:
        self.path = path
        self.stream: IO[str] | None = None
        self.writer: Any = None
        self.rows = 0
        if always:
            self._open()

    def _open(self) -> None:
        try:
            self.stream = open(self.path, "w", encoding="utf-8", newline="")  # noqa: SIM115
        except OSError as exc:
            raise UsageError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        self.writer = csv.writer(self.stream, lineterminator="\n")
        self.writer.writerow(REJECTED_COLUMNS)

    def write(self, row: tuple[Any, ...]) -> None:
        if self.stream is None:
            self._open()
        self.writer.writerow(row)
        self.rows += 1

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()


def events_limiter(rate: float | None) -> LocalLimiter | None:
    """``--rate`` of ``d360 events``: Conversions API posts per second (a number given to a
    client limits sends only).

    Example:
        >>> events_limiter(2.0), events_limiter(None)
        (LocalLimiter(events=2/s), None)
    """
    return None if rate is None else LocalLimiter(messages=None, events=rate)


async def run_events(args: argparse.Namespace, ctx: Context) -> int:
    """``d360 events``; returns the exit code (0: every event received)."""
    ctx.require_key()
    source = _EventsFile(args.file)
    total = source.count()
    ctx.note(f"{source.source.name}: {plural(total, 'event')}")
    path = Path(args.file)
    rejected_path = args.rejected or str(path.with_name(path.stem + ".rejected.csv"))
    rejected = _RejectedFile(rejected_path, always=args.rejected is not None)
    try:
        async with ctx.client(rate_limit=events_limiter(args.rate)) as client:
            run = client.send_conversion_events(
                args.dataset,
                source.events(),
                batch_size=args.batch_size,
                concurrency=args.concurrency,
                test_event_code=args.test_event_code,
                hash_pii=not args.no_hash,
            )
            with Tracker(ctx, description="events", total=total, unit="events") as tracker:
                async with run:
                    async for result in run:
                        tracker.events_batch(result)
                        for row in _rejected_rows(result, ctx):
                            rejected.write(row)
            report = run.report
    finally:
        rejected.close()
    ctx.say(summary_line(report))
    if rejected.rows:
        ctx.note(f"{plural(rejected.rows, 'event')} not delivered: see {rejected_path}")
    return EXIT_OK if report.rejected == 0 and report.failed == 0 else EXIT_FAILURE
