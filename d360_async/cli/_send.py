"""``d360 send``: a campaign from a CSV or JSON Lines file.

1. The file is read once to check every row (recipient number, parameter values), every
   problem of every row found in one pass (``_checks``): any bad row stops everything before a
   single message goes out (exit code 2), unless ``--skip-invalid`` writes them to a file.
2. Preflight: the template must exist in that language, be APPROVED, and have as many body
   placeholders as ``--param-columns`` gives, or, for a template with named parameters
   (``{{first_name}}``), the names ``--param-columns`` maps columns to (``first_name=given_name``;
   a bare column fills the parameter of its own name). The first rows' messages are checked
   against the template; a problem of many rows is one line naming them (exit code 1).
   ``--dry-run`` stops here.
3. The file is read again and sent through ``client.send_bulk`` (de-duplicated, concurrent,
   rate-limited, journaled with ``--journal``), with a progress bar; every row's outcome goes
   to ``--results``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
from collections import Counter
from collections.abc import AsyncIterator, Generator, Sequence
from contextlib import closing
from itertools import islice
from typing import IO, Any, Final

import attrs

from d360_async._builder import MessageBuilder, document, image, video
from d360_async._bulk import BulkReport, SendResult, SendStatus
from d360_async._client import D360Client
from d360_async._errors import APIStatusError, LimiterUnavailableError
from d360_async._limits import RateLimiter
from d360_async._models_messages import MarketingMessageRequest
from d360_async._models_templates import MessageTemplate
from d360_async._payloads import MessageInput, prepare_message
from d360_async._preflight import (
    PreflightError,
    PreflightProblem,
    PreflightProblemKind,
    number_ranges,
)
from d360_async._template_fit import TemplateFit, misfit

from ._checks import Problem, RowChecker, check_file, default_rejected_path
from ._common import (
    EXIT_FAILURE,
    EXIT_OK,
    CLIError,
    Context,
    UsageError,
    as_rows,
    distinct_files,
    plural,
)
from ._progress import Tracker
from ._rows import InputFile, Record
from ._worker import redis_url, send_with_workers

__all__ = ["RESULT_COLUMNS", "preflight_message", "rate_limit", "run_send", "summary_line"]

#: Columns of the ``--results`` file.
RESULT_COLUMNS: Final = ("row", "to", "status", "message_id", "error_code", "error")
#: Recipient columns tried, in order, when ``--to-column`` is not given.
TO_COLUMNS: Final = ("to", "phone", "phone_number", "wa_id", "msisdn", "mobile")
_MEDIA_HEADERS: Final = {"IMAGE": image, "VIDEO": video, "DOCUMENT": document}
#: Failed rows listed on stderr when there is no ``--results`` file.
_LISTED_FAILURES: Final = 10
#: Messages checked against the template before sending (and ``send_bulk``'s preflight window).
_PREFLIGHT_ROWS: Final = 1000
#: What an invalid row skipped by ``--skip-invalid`` becomes: refused by the SDK, never sent.
_NOT_SENT: Final = {"to": "", "template": {}}


class _Campaign:
    """The parsed flags of one ``d360 send``, and the rows they describe."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.source = InputFile(args.csv)
        self.template: str = args.template
        self.language: str = args.language
        given = [item.strip() for group in args.param_columns or () for item in group.split(",")]
        pairs = [_param_column(item) for item in given if item]
        #: The parameter columns, and the parameter each fills (a bare column: its own name).
        self.params: list[str] = [column for _, column in pairs]
        self.names: list[str] = [name or column for name, column in pairs]
        self.mapped = any(name is not None for name, _ in pairs)
        self.header_url: str | None = args.header_url
        self.to_column = self._to_column(args.to_column)
        self.checker = RowChecker(
            to_column=self.to_column,
            params=self.params,
            default_country_code=args.default_country_code,
        )
        self.skip_invalid: bool = args.skip_invalid
        self.rejected_path: str = args.rejected or default_rejected_path(args.csv)
        #: Rows skipped as invalid (by message index), with their problems.
        self.invalid: dict[int, str] = {}
        #: (row, line) of the messages made so far (the first ``_PREFLIGHT_ROWS``).
        self.positions: list[tuple[int, int]] = []

    def _to_column(self, given: str | None) -> str:
        columns = self.source.columns()
        if columns is None:  # JSON Lines: the first of TO_COLUMNS its first records have
            return given or self._jsonl_to_key()
        listed = ", ".join(columns)
        absent = [name for name in (*self.params, given) if name and name not in columns]
        if absent:
            names = ", ".join(repr(name) for name in dict.fromkeys(absent))
            raise UsageError(
                f"{'column' if len(absent) == 1 else 'columns'} {names} not found in "
                f"{self.source.name} (columns: {listed})"
            )
        if given is not None:
            return given
        for name in TO_COLUMNS:
            if name in columns:
                return name
        raise UsageError(
            f"no recipient column in {self.source.name}: pass --to-column (columns: {listed})"
        )

    def _jsonl_to_key(self) -> str:
        """The recipient key of a JSON Lines file: the first of :data:`TO_COLUMNS` in its
        first record that has one (records are then checked for that key, as a CSV's rows
        for its column)."""
        for record in self.source.records(lenient=True):
            for name in TO_COLUMNS:
                if name in record.values:
                    return name
        raise UsageError(
            f"no recipient key in {self.source.name} (tried {', '.join(TO_COLUMNS)}): pass "
            "--to-column"
        )

    def check(self, record: Record) -> tuple[str, list[str]] | list[Problem]:
        """(to, body values) of a record, or every problem it has."""
        return self.checker.check(record, csv_file=self.source.kind == "csv")

    def validate(self, ctx: Context) -> int:
        """Check every row in one pass; returns how many there are.

        Raises:
            UsageError: Invalid rows (without ``--skip-invalid``), or no row to send.
        """
        validation = check_file(
            ctx,
            self.source,
            self.check,
            skip_invalid=self.skip_invalid,
            rejected_path=self.rejected_path,
        )
        return validation.rows

    def messages(
        self, builder: MessageBuilder, fit: TemplateFit
    ) -> Generator[MessageInput, None, None]:
        """One message per row, in file order (the file is read again, lazily).

        An invalid row skipped by ``--skip-invalid`` still takes its place, as a message the
        SDK refuses before sending (its result is ``failed``, it is never sent nor journaled):
        row ``n`` stays message ``n - 1``, so a re-run with the same journal after fixing it
        sends it, and only it.
        """
        self.positions = []
        for index, record in enumerate(self.source.records(lenient=True)):
            if len(self.positions) < _PREFLIGHT_ROWS:
                self.positions.append((record.row, record.line))
            checked = self.check(record)
            if isinstance(checked, list):
                if not self.skip_invalid:  # the file changed since it was checked
                    first = checked[0]
                    column = f", column {first.column!r}" if first.column else ""
                    raise UsageError(f"{self.source.where(record)}{column}: {first.reason}")
                self.invalid[index] = "invalid row: " + "; ".join(p.kind for p in checked)
                yield _NOT_SENT
                continue
            to, values = checked
            if fit.named:
                by_name = dict(zip(self.names, values, strict=True))
                header = {name: by_name[name] for name in fit.header or () if name in by_name}
                body = {name: value for name, value in by_name.items() if name in fit.body}
                message: MarketingMessageRequest = builder.build(
                    to, header=header or None, body=body
                )
            else:
                message = builder.build(to, body=values)
            yield message


def _param_column(item: str) -> tuple[str | None, str]:
    """``NAME=COLUMN`` or ``COLUMN`` of ``--param-columns``."""
    name, sep, column = item.partition("=")
    if not sep:
        return None, item
    if not name.strip() or not column.strip():
        raise UsageError(f"--param-columns: {item!r} is not NAME=COLUMN")
    return name.strip(), column.strip()


def _check_names(campaign: _Campaign, fit: TemplateFit, label: str) -> str:
    """Whether ``--param-columns`` fits the template's parameters; describes them."""
    if fit.named:
        expected = list(dict.fromkeys((*(fit.header or ()), *fit.body)))
        given = campaign.names
        missing = [n for n in expected if n not in given]
        unknown = [n for n in dict.fromkeys(given) if n not in expected]
        if missing or unknown or len(given) != len(set(given)):
            details = [f"missing: {', '.join(missing)}"] if missing else []
            details += [f"not in the template: {', '.join(unknown)}"] if unknown else []
            twice = [n for n in dict.fromkeys(given) if given.count(n) > 1]
            details += [f"given twice: {', '.join(twice)}"] if twice else []
            raise CLIError(
                f"preflight failed: {label} has named parameters {', '.join(expected)} but "
                f"--param-columns gives {', '.join(given) or 'none'} ({'; '.join(details)})"
            )
        return plural(len(expected), "named parameter")
    if campaign.mapped:
        braces = ", ".join(f"{{{{{p}}}}}" for p in fit.body)
        raise CLIError(
            f"preflight failed: {label} has positional parameters ({braces}): give "
            "--param-columns as columns in order, without NAME="
        )
    count = len(fit.body)
    if count != len(campaign.params):
        columns = ", ".join(campaign.params) or "none"
        raise CLIError(
            f"preflight failed: {label} has {plural(count, 'body placeholder')} but "
            f"--param-columns gives {len(campaign.params)} ({columns})"
        )
    return plural(count, "body parameter")


def preflight_message(error: PreflightError, positions: Sequence[tuple[int, int]]) -> str:
    """A preflight error in rows: ``preflight failed: template 'promo' (en): 301 rows: ...
    (rows 1-301, lines 2-302)``; ``positions`` holds each message's (row, line)."""

    def where(messages: Sequence[int]) -> str:
        known = [positions[i] for i in messages if i < len(positions)]
        rows = [row for row, _ in known]
        lines = [line for _, line in known]
        return (
            f"{'row' if len(rows) == 1 else 'rows'} {number_ranges(rows)}, "
            f"{'line' if len(set(lines)) == 1 else 'lines'} {number_ranges(lines)}"
        )

    return "preflight failed: " + "; ".join(p.describe("row", where) for p in error.grouped)


def _check_rows(campaign: _Campaign, builder: MessageBuilder, fit: TemplateFit) -> None:
    """The first rows' messages checked against the template, as ``send_bulk`` will.

    Raises:
        CLIError: Some do not fit; one line per problem, naming its rows.
    """
    problems = []
    messages = campaign.messages(builder, fit)
    with closing(messages):
        for index, message in enumerate(islice(messages, _PREFLIGHT_ROWS)):
            if message is _NOT_SENT:  # an invalid row, skipped
                continue
            reason = misfit(fit, prepare_message(message))
            if reason is not None:
                problems.append(
                    PreflightProblem(
                        kind=PreflightProblemKind.PARAMETERS,
                        template=campaign.template,
                        language=campaign.language,
                        reason=reason,
                        messages=(index,),
                    )
                )
    if problems:
        raise CLIError(preflight_message(PreflightError(problems), campaign.positions))


async def _preflight(
    client: D360Client, campaign: _Campaign
) -> tuple[str | None, str, TemplateFit]:
    """The template's media header format (or None), a description of the template, and
    what its messages must carry.

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
    fit = TemplateFit.of(found)
    parameters = _check_names(campaign, fit, label)
    header = next((c.format for c in found.components if c.type == "HEADER"), None)
    media = str(header) if header is not None and str(header) in _MEDIA_HEADERS else None
    if media and not campaign.header_url:
        raise CLIError(
            f"preflight failed: {label} has an {media} header: pass --header-url URL (or a "
            "media id)"
        )
    if campaign.header_url and not media:
        raise CLIError(f"preflight failed: {label} has no media header; drop --header-url")
    return media, f"{label} is APPROVED, {parameters}", fit


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
async def rate_limit(
    ctx: Context, args: argparse.Namespace
) -> AsyncIterator[float | RateLimiter | None]:
    """``--rate``, shared through Redis with ``--redis-url`` (or ``D360_REDIS_URL``): every run
    and service with the same key and server then shares one limit and its pauses."""
    url = redis_url(args)
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
    if args.resend_unknown_after is not None and not (args.journal or args.workers):
        raise UsageError("--resend-unknown-after needs --journal (the campaign's journal)")
    if args.resend_unknown_after is not None and args.resend_unknown:
        raise UsageError("--resend-unknown and --resend-unknown-after exclude each other")
    _check_workers(args)
    campaign = _Campaign(args)
    distinct_files(
        ("--csv", args.csv),
        ("--rejected", campaign.rejected_path if campaign.skip_invalid else None),
        ("--results", None if args.dry_run else args.results),
        ("--journal", args.journal),
    )
    rows = campaign.validate(ctx)
    if not campaign.skip_invalid:
        ctx.note(f"{campaign.source.name}: {plural(rows, 'row')} OK")
    results = None if args.dry_run else _open_results(args.results)
    try:
        async with (
            rate_limit(ctx, args) as limit,
            ctx.client(rate_limit=limit) as client,
        ):
            media, described, fit = await _preflight(client, campaign)
            header: Any = None
            if media is not None and campaign.header_url:
                header = _MEDIA_HEADERS[media](campaign.header_url)
            builder = MessageBuilder(
                name=campaign.template, language=campaign.language, header=header
            )
            _check_rows(campaign, builder, fit)
            if args.dry_run:
                ctx.say(f"dry run: {plural(rows, 'row')} valid, {described}; nothing was sent")
                return EXIT_OK
            ctx.note(f"preflight: {described}")
            if args.workers:
                return await send_with_workers(ctx, args, campaign.messages(builder, fit), limit)
            try:
                report = await _send(ctx, client, campaign, builder, fit, rows, args, results)
            except PreflightError as exc:  # the template changed since it was checked
                raise CLIError(preflight_message(exc, campaign.positions)) from exc
    finally:
        if results is not None:
            results.close()
    ctx.say(summary_line(report))
    _notes_after(ctx, report, args)
    ok = report.failed == 0 and report.unknown == 0 and report.stopped is None
    return EXIT_OK if ok else EXIT_FAILURE


def _check_workers(args: argparse.Namespace) -> None:
    """``--workers`` sends through Redis: it needs ``--redis-url`` and replaces the journal."""
    if not args.workers:
        return
    if redis_url(args) is None:
        raise UsageError("--workers keeps the campaign in Redis: give --redis-url")
    given = [
        flag
        for flag, value in (
            ("--journal", args.journal),
            ("--results", args.results),
            ("--resend-unknown", args.resend_unknown),
        )
        if value
    ]
    if given:
        raise UsageError(
            f"--workers keeps the campaign's state in Redis: {', '.join(given)} does not apply "
            "(`d360 worker` and campaign_report say where it stands)"
        )


def _notes_after(ctx: Context, report: BulkReport, args: argparse.Namespace) -> None:
    if report.stopped:
        ctx.note(f"stopped: {ctx.redact(as_rows(report.stopped))}")
    if args.results:
        ctx.note(f"results: {args.results}")


async def _send(
    ctx: Context,
    client: D360Client,
    campaign: _Campaign,
    builder: MessageBuilder,
    fit: TemplateFit,
    rows: int,
    args: argparse.Namespace,
    results: IO[str] | None,
) -> BulkReport:
    """Send every row; on an interruption (Ctrl-C, SIGTERM) or a failure mid-campaign, still
    write every decided row to ``--results``, the summary line and how to resume, then let
    the exception go on."""
    output = _Output(ctx, results, campaign.invalid)
    with Tracker(ctx, description="sending", total=rows, unit="msg") as tracker:
        run = client.send_bulk(
            campaign.messages(builder, fit),
            concurrency=args.concurrency,
            journal=args.journal,
            on_progress=lambda report: tracker.bulk_progress(output.outcome(report)),
            resend_unknown=args.resend_unknown,
            resend_unknown_after=args.resend_unknown_after,
            preflight_window=_PREFLIGHT_ROWS,  # the rows whose positions are kept
        )
        try:
            async with run:
                async for result in run:
                    output.row(result)
        except BaseException as exc:
            for result in run.leftover_results():
                output.row(result)
            report = output.outcome(run.report)
            tracker.bulk_progress(report)  # the bar's last counts are the summary's
            if isinstance(exc, asyncio.CancelledError) or report.total:
                output.close()
                ctx.say(summary_line(report))
                _notes_after(ctx, report, args)
                _how_to_resume(ctx, report, rows, args)
            raise
        for result in run.leftover_results():  # an aclose() from elsewhere: none today
            output.row(result)
    output.close()
    return output.outcome(run.report)


class _Output:
    """Each row's outcome: a line of ``--results``, or (without it) the first failures on
    stderr."""

    def __init__(self, ctx: Context, results: IO[str] | None, invalid: dict[int, str]) -> None:
        self._ctx = ctx
        self._invalid = invalid  # rows skipped by --skip-invalid: their problems
        self._results = results
        self._writer = csv.writer(results, lineterminator="\n") if results is not None else None
        if self._writer is not None:
            self._writer.writerow(RESULT_COLUMNS)
        self._listed = 0
        #: Rows by status as reported (an invalid row skipped by --skip-invalid: skipped).
        self._counts: Counter[SendStatus] = Counter()

    def outcome(self, report: BulkReport) -> BulkReport:
        """``report`` (for its times) with the counts of the rows as this output reported
        them: the one count of the progress lines, the summary (finished or interrupted)
        and ``--results``. The SDK counts an invalid row skipped by ``--skip-invalid`` as
        failed (it refused it); here it is skipped."""
        counts = self._counts
        return attrs.evolve(
            report,
            total=counts.total(),
            sent=counts[SendStatus.SENT],
            failed=counts[SendStatus.FAILED],
            skipped=counts[SendStatus.SKIPPED],
            unknown=counts[SendStatus.UNKNOWN],
        )

    def row(self, result: SendResult) -> None:
        invalid = self._invalid.get(result.index)
        self._counts[SendStatus.SKIPPED if invalid is not None else result.status] += 1
        if invalid is not None:  # skipped by --skip-invalid (the SDK refused it unsent)
            if self._writer is not None:
                self._writer.writerow((result.index + 1, "", "skipped", "", "", invalid))
        elif self._writer is not None:
            self._writer.writerow(
                (
                    result.index + 1,
                    result.to,
                    result.status.value,
                    result.message_id or "",
                    _error_code(result),
                    _error_text(self._ctx, result),
                )
            )
        elif result.status in (SendStatus.FAILED, SendStatus.UNKNOWN):
            self._listed += 1
            if self._listed <= _LISTED_FAILURES:
                self._ctx.note(
                    f"row {result.index + 1}: {result.status.value}: "
                    f"{_error_text(self._ctx, result)}"
                )

    def close(self) -> None:
        """Flush ``--results``; say how many failures were not listed."""
        if self._results is not None:
            self._results.flush()
        if self._listed > _LISTED_FAILURES:
            more = self._listed - _LISTED_FAILURES
            self._ctx.note(f"... and {more:,} more; pass --results FILE for every row")
            self._listed = _LISTED_FAILURES


def _how_to_resume(ctx: Context, report: BulkReport, rows: int, args: argparse.Namespace) -> None:
    """After an interruption: where the campaign stands and how to go on."""
    left = rows - report.total
    ctx.note(
        f"interrupted after {plural(report.total, 'row')} of {rows:,}: "
        f"{plural(left, 'row')} not sent yet"
    )
    if not args.journal:
        ctx.note(
            "without --journal this campaign cannot be resumed: the same command would send "
            "every row again (the --results file says what happened to each row)"
        )
        return
    failed = " and the failed ones" if report.failed else ""
    ctx.note(
        "to resume, run the same command again: rows already sent are skipped, the rows not "
        f"sent{failed} are sent"
    )
    if report.unknown:
        ctx.note(
            f"{plural(report.unknown, 'row')} unknown: their request was written and no answer "
            "came back, so they may have been accepted; a plain re-run does not send them "
            "again, --resend-unknown would (and any that did arrive would arrive twice); with "
            "their status webhooks tracked, --resend-unknown-after SECONDS re-sends only those "
            "no status settled"
        )
    else:
        ctx.note("no row is unknown: --resend-unknown would change nothing")
