"""``d360 send``: a campaign from a CSV or JSON Lines file.

1. The file is read once to check every row (recipient number, parameter values): any bad
   row stops everything before a single message goes out (exit code 2).
2. Preflight: the template must exist in that language, be APPROVED, and have as many body
   placeholders as ``--param-columns`` gives (exit code 1 otherwise). ``--dry-run`` stops here.
3. The file is read again and sent through ``client.send_bulk`` (de-duplicated, concurrent,
   rate-limited, journaled with ``--journal``), with a progress bar; every row's outcome goes
   to ``--results``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
from collections.abc import AsyncIterator, Iterator
from typing import IO, Any, Final

from d360_async._builder import MessageBuilder, document, image, video
from d360_async._bulk import BulkReport, SendResult, SendStatus
from d360_async._client import D360Client
from d360_async._errors import APIStatusError, LimiterUnavailableError
from d360_async._limits import RateLimiter
from d360_async._models_messages import MarketingMessageRequest, MessageTemplate
from d360_async._payloads import MessageInput

from ._common import (
    EXIT_FAILURE,
    EXIT_OK,
    CLIError,
    Context,
    UsageError,
    as_rows,
    check_phone,
    plural,
)
from ._progress import Tracker
from ._rows import InputFile, Record

__all__ = ["RESULT_COLUMNS", "run_send"]

#: Columns of the ``--results`` file.
RESULT_COLUMNS: Final = ("row", "to", "status", "message_id", "error_code", "error")
#: Recipient columns tried, in order, when ``--to-column`` is not given.
TO_COLUMNS: Final = ("to", "phone", "phone_number", "wa_id", "msisdn", "mobile")
_MEDIA_HEADERS: Final = {"IMAGE": image, "VIDEO": video, "DOCUMENT": document}
#: Failed rows listed on stderr when there is no ``--results`` file.
_LISTED_FAILURES: Final = 10


class _Campaign:
    """The parsed flags of one ``d360 send``, and the rows they describe."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.source = InputFile(args.csv)
        self.template: str = args.template
        self.language: str = args.language
        self.params: list[str] = [
            name.strip() for group in args.param_columns or () for name in group.split(",")
        ]
        self.params = [name for name in self.params if name]
        self.header_url: str | None = args.header_url
        self.to_column = self._to_column(args.to_column)

    def _to_column(self, given: str | None) -> str:
        columns = self.source.columns()
        if columns is None:  # JSON Lines: checked per record
            return given or "to"
        listed = ", ".join(columns)
        for name in self.params:
            if name not in columns:
                raise UsageError(
                    f"column {name!r} not found in {self.source.name} (columns: {listed})"
                )
        if given is not None:
            if given not in columns:
                raise UsageError(
                    f"column {given!r} not found in {self.source.name} (columns: {listed})"
                )
            return given
        for name in TO_COLUMNS:
            if name in columns:
                return name
        raise UsageError(
            f"no recipient column in {self.source.name}: pass --to-column (columns: {listed})"
        )

    def check(self, record: Record) -> tuple[str, list[str]] | str:
        """(to, body values) of a record, or what is wrong with it."""
        values = record.values
        if self.to_column not in values:
            return f"no {self.to_column!r} field"
        to = values[self.to_column]
        if not isinstance(to, (str, int)) or isinstance(to, bool):
            return f"{self.to_column!r} is not a phone number"
        to = str(to).strip()
        problem = check_phone(to)
        if problem is not None:
            return f"invalid phone number {to!r} in {self.to_column!r}: {problem}"
        body: list[str] = []
        for name in self.params:
            value = values.get(name)
            if name not in values:
                return f"no {name!r} field"
            if value is None or isinstance(value, (dict, list)):
                return f"{name!r} must be text or a number"
            text = str(value).strip()
            if not text:
                return f"{name!r} is empty (a body parameter cannot be blank)"
            body.append(text)
        return to, body

    def validate(self) -> int:
        """Check every row; returns how many there are.

        Raises:
            UsageError: The first bad row (and how many more there are).
        """
        rows = 0
        first: str | None = None
        more: list[str] = []
        for record in self.source.records():
            rows += 1
            checked = self.check(record)
            if isinstance(checked, str):
                problem = f"{self.source.where(record)}: {checked}"
                if first is None:
                    first = problem
                else:
                    more.append(problem)
        if first is not None:
            if more:
                first += f" (and {plural(len(more), 'more invalid row')})"
            raise UsageError(first, details=tuple(more[:50]))
        if rows == 0:
            raise UsageError(f"{self.source.name} has no rows to send")
        return rows

    def messages(self, builder: MessageBuilder) -> Iterator[MessageInput]:
        """One message per row, in file order (the file is read again, lazily)."""
        for record in self.source.records():
            checked = self.check(record)
            if isinstance(checked, str):  # the file changed since it was checked
                raise UsageError(f"{self.source.where(record)}: {checked}")
            to, body = checked
            message: MarketingMessageRequest = builder.build(to, body=body)
            yield message


async def _preflight(client: D360Client, campaign: _Campaign) -> tuple[str | None, str]:
    """The template's media header format (or None) and a description of the template.

    Raises:
        CLIError: The template cannot be used for this campaign (exit code 1).
    """
    name, language = campaign.template, campaign.language
    found: MessageTemplate | None = None
    languages: list[str] = []
    async for template in client.iter_message_templates(name=name):
        if template.name != name:
            continue
        languages.append(str(template.language))
        if template.language == language:
            found = template
    if found is None:
        hint = f" (it exists in: {', '.join(sorted(languages))})" if languages else ""
        raise CLIError(f"preflight failed: template {name!r} not found in {language!r}{hint}")
    label = f"template {name!r} ({language})"
    if found.status != "APPROVED":
        raise CLIError(f"preflight failed: {label} is {found.status}, not APPROVED")
    expected = found.body_placeholder_count
    if expected != len(campaign.params):
        given = ", ".join(campaign.params) or "none"
        raise CLIError(
            f"preflight failed: {label} has {plural(expected, 'body placeholder')} but "
            f"--param-columns gives {len(campaign.params)} ({given})"
        )
    header = next((c.format for c in found.components if c.type == "HEADER"), None)
    media = str(header) if header is not None and str(header) in _MEDIA_HEADERS else None
    if media and not campaign.header_url:
        raise CLIError(
            f"preflight failed: {label} has an {media} header: pass --header-url URL (or a "
            "media id)"
        )
    if campaign.header_url and not media:
        raise CLIError(f"preflight failed: {label} has no media header; drop --header-url")
    return media, f"{label} is APPROVED, {plural(expected, 'body parameter')}"


def _error_code(result: SendResult) -> str:
    error = result.error
    if isinstance(error, APIStatusError):
        return str(error.code if error.code is not None else error.status)
    return ""


def _error_text(ctx: Context, result: SendResult) -> str:
    text = str(result.error) if result.error is not None else as_rows(result.reason or "")
    return ctx.redact(text)


def _open_results(path: str | None) -> IO[str] | None:
    if path is None:
        return None
    try:
        return open(path, "w", encoding="utf-8", newline="")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc


def summary_line(report: BulkReport) -> str:
    """``summary: sent=10000 failed=0 skipped=0 unknown=0 in 4.2s (2,380 messages/s)``.

    Example:
        >>> summary_line(BulkReport(total=4, sent=4, failed=0, skipped=0, unknown=0, elapsed=2.0))
        'summary: sent=4 failed=0 skipped=0 unknown=0 in 2.0s (2 messages/s)'
    """
    return (
        f"summary: sent={report.sent} failed={report.failed} skipped={report.skipped} "
        f"unknown={report.unknown} in {report.elapsed:.1f}s ({report.rate:,.0f} messages/s)"
    )


@contextlib.asynccontextmanager
async def _rate_limit(
    ctx: Context, args: argparse.Namespace
) -> AsyncIterator[float | RateLimiter | None]:
    """``--rate``, shared through Redis with ``--redis-url`` (or ``D360_REDIS_URL``): every run
    and service with the same key and server then shares one limit and its pauses."""
    url = args.redis_url or os.environ.get("D360_REDIS_URL") or None
    if url is None:
        yield args.rate
        return
    if args.rate is None:
        raise UsageError("--redis-url shares a rate limit: give one with --rate")
    try:
        from d360_async.redis import RedisRateLimiter
    except ImportError:
        raise UsageError('--redis-url needs redis-py: pip install "d360-async[redis]"') from None
    # the limit belongs to the key's phone number: the key names it (only a digest is stored)
    try:
        limiter = RedisRateLimiter(url, account=ctx.require_key(), rate=args.rate)
    except ValueError as exc:  # a malformed URL (its text is not repeated: it may hold a password)
        raise UsageError(f"--redis-url: {exc}") from None
    try:
        async with limiter:
            yield limiter
    except LimiterUnavailableError as exc:
        raise CLIError(f"{exc}: nothing was sent without the limit") from exc


async def run_send(args: argparse.Namespace, ctx: Context) -> int:
    """``d360 send``; returns the exit code (0: every row sent or skipped on purpose)."""
    ctx.require_key()
    campaign = _Campaign(args)
    rows = campaign.validate()
    ctx.note(f"{campaign.source.name}: {plural(rows, 'row')} OK")
    results = None if args.dry_run else _open_results(args.results)
    try:
        async with (
            _rate_limit(ctx, args) as rate_limit,
            ctx.client(rate_limit=rate_limit) as client,
        ):
            media, described = await _preflight(client, campaign)
            if args.dry_run:
                ctx.say(f"dry run: {plural(rows, 'row')} valid, {described}; nothing was sent")
                return EXIT_OK
            ctx.note(f"preflight: {described}")
            header: Any = None
            if media is not None and campaign.header_url:
                header = _MEDIA_HEADERS[media](campaign.header_url)
            builder = MessageBuilder(
                name=campaign.template, language=campaign.language, header=header
            )
            report = await _send(ctx, client, campaign, builder, rows, args, results)
    finally:
        if results is not None:
            results.close()
    ctx.say(summary_line(report))
    if report.stopped:
        ctx.note(f"stopped: {ctx.redact(as_rows(report.stopped))}")
    if args.results:
        ctx.note(f"results: {args.results}")
    ok = report.failed == 0 and report.unknown == 0 and report.stopped is None
    return EXIT_OK if ok else EXIT_FAILURE


async def _send(
    ctx: Context,
    client: D360Client,
    campaign: _Campaign,
    builder: MessageBuilder,
    rows: int,
    args: argparse.Namespace,
    results: IO[str] | None,
) -> BulkReport:
    writer = csv.writer(results, lineterminator="\n") if results is not None else None
    if writer is not None:
        writer.writerow(RESULT_COLUMNS)
    listed = 0
    with Tracker(ctx, description="sending", total=rows, unit="msg") as tracker:
        run = client.send_bulk(
            campaign.messages(builder),
            concurrency=args.concurrency,
            journal=args.journal,
            on_progress=tracker.bulk_progress,
            resend_unknown=args.resend_unknown,
        )
        async with run:
            async for result in run:
                if writer is not None:
                    writer.writerow(
                        (
                            result.index + 1,
                            result.to,
                            result.status.value,
                            result.message_id or "",
                            _error_code(result),
                            _error_text(ctx, result),
                        )
                    )
                elif result.status in (SendStatus.FAILED, SendStatus.UNKNOWN):
                    listed += 1
                    if listed <= _LISTED_FAILURES:
                        ctx.note(
                            f"row {result.index + 1}: {result.status.value}: "
                            f"{_error_text(ctx, result)}"
                        )
    if listed > _LISTED_FAILURES:
        ctx.note(f"... and {listed - _LISTED_FAILURES:,} more; pass --results FILE for every row")
    return run.report
