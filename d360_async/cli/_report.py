"""``d360 report``: a campaign's delivery report, from its journal.

One row per journal (``--journal`` repeats): what the API accepted, split by the most advanced
status webhook each message got (``sent``, ``delivered``, ``read``, ``failed`` by error code,
or none yet), what is still ``unknown``, how many unknowns a status settled. The statuses are
those a ``DeliveryTracker`` recorded in the journal.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import attrs

from d360_async._campaign_journal import DeliveryReport
from d360_async._journal import SQLiteJournal

from ._common import EXIT_OK, Context, UsageError
from ._output import emit

__all__ = ["REPORT_COLUMNS", "read_report", "report_document", "report_row", "run_report"]

#: Columns of the report, in order (``journal``, then ``DeliveryReport``'s counts).
REPORT_COLUMNS: Final = (
    "journal",
    *(field.name for field in attrs.fields(DeliveryReport)),
)


def _codes(failed_by_code: Mapping[int | None, int]) -> dict[str, int]:
    """Error codes as JSON keys (``"none"`` for a failure reported with no code)."""
    return {"none" if code is None else str(code): n for code, n in failed_by_code.items()}


def report_document(journal: str, report: DeliveryReport) -> dict[str, Any]:
    """The report as a JSON object.

    Example:
        >>> report = DeliveryReport(campaign_id="spring", accepted=2, read=1, failed=1,
        ...                         failed_by_code={131049: 1})
        >>> doc = report_document("spring.sqlite", report)
        >>> doc["journal"], doc["failed_by_code"], doc["unknown"]
        ('spring.sqlite', {'131049': 1}, 0)
    """
    document: dict[str, Any] = {"journal": journal, **attrs.asdict(report)}
    document["failed_by_code"] = _codes(report.failed_by_code)
    return document


def report_row(journal: str, report: DeliveryReport) -> list[Any]:
    """The report as one row of ``REPORT_COLUMNS``."""
    document = report_document(journal, report)
    return [document[name] for name in REPORT_COLUMNS]


def _existing(path: str) -> str:
    """``path``, if it is a file (a report never creates a journal)."""
    if not Path(path).is_file():
        raise UsageError(f"{path}: no such journal")
    return path


async def read_report(path: str) -> DeliveryReport:
    """The delivery report of the journal at ``path``.

    Raises:
        UsageError: There is no such file.
        JournalError: It is not a campaign journal, or cannot be read.
    """
    journal = SQLiteJournal(_existing(path), read_only=True)
    try:
        await journal.open(None)
        return await journal.delivery_report()
    finally:
        await journal.close()


async def run_report(args: argparse.Namespace, ctx: Context) -> int:
    """``d360 report --journal F``: the delivery report of each journal."""
    paths: list[str] = args.journal
    reports = [(path, await read_report(path)) for path in paths]
    rows = [report_row(path, report) for path, report in reports]
    documents = [report_document(path, report) for path, report in reports]
    emit(ctx, args.format, REPORT_COLUMNS, rows, documents, title="delivery report")
    return EXIT_OK
