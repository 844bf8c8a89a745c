"""Progress of a campaign or an events upload: a live bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import time
from collections.abc import Iterable
from types import TracebackType

from rich.console import RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from d360_async._bulk import BulkReport
from d360_async._models_events import BatchResult

from ._common import Context

__all__ = ["Tracker"]

#: Seconds between two plain progress lines when stderr is not a terminal.
PLAIN_INTERVAL = 5.0


class _RateColumn(ProgressColumn):
    """Items per second, e.g. ``2,380 msg/s``."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        text = f"{speed:,.0f} {self.unit}/s" if speed else f"- {self.unit}/s"
        return Text(text, style="progress.data.speed")


def _counts(counts: dict[str, int]) -> str:
    return " ".join(f"{name}={value:,}" for name, value in counts.items())


class _TwoLineProgress(Progress):
    """The bar on one line, the counts by outcome on the next (fits 80 columns)."""

    counts = ""

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        if self.counts:
            yield Text("  " + self.counts)


class Tracker:
    """Shows how far a long operation is, on stderr.

    On a terminal: a rich progress bar with the rate, the ETA and the counts. Otherwise (a
    pipe, a log file, a test): one plain line every ``PLAIN_INTERVAL`` seconds; the caller
    prints the final summary itself.

    Args:
        ctx: Where to draw.
        description: What is progressing (``campaign``).
        total: How many items in all, when known.
        unit: Short unit for the rate column (``msg``).
        live: Force the live bar on or off (default: whether stderr is a terminal).
    """

    def __init__(
        self,
        ctx: Context,
        *,
        description: str,
        total: int | None,
        unit: str,
        live: bool | None = None,
    ) -> None:
        self._ctx = ctx
        self._description = description
        self._total = total
        self._live = ctx.err.is_terminal if live is None else live
        self._progress: _TwoLineProgress | None = None
        self._task: TaskID | None = None
        self._started = time.perf_counter()
        self._last_line = self._started
        self._events_done = 0
        self._event_counts = {"received": 0, "rejected": 0, "failed": 0}
        if self._live:
            self._progress = _TwoLineProgress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=24),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                _RateColumn(unit),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=ctx.err,
                speed_estimate_period=10.0,
            )
            self._task = self._progress.add_task(description, total=total)

    def __enter__(self) -> Tracker:
        self._started = self._last_line = time.perf_counter()
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, completed: int, counts: dict[str, int]) -> None:
        """Record that ``completed`` items are done, with their counts by outcome."""
        if self._progress is not None and self._task is not None:
            self._progress.counts = _counts(counts)
            self._progress.update(self._task, completed=completed)
            return
        now = time.perf_counter()
        if now - self._last_line < PLAIN_INTERVAL:
            return
        self._last_line = now
        done = f"{completed:,}" if self._total is None else f"{completed:,}/{self._total:,}"
        rate = completed / (now - self._started) if now > self._started else 0.0
        self._ctx.note(f"{self._description}: {done} {_counts(counts)} ({rate:,.0f}/s)")

    def bulk_progress(self, report: BulkReport) -> None:
        """An ``on_progress`` for ``send_bulk``: the report's counts."""
        counts = {
            "sent": report.sent,
            "failed": report.failed,
            "skipped": report.skipped,
            "unknown": report.unknown,
        }
        self.update(report.total, counts)

    def events_batch(self, batch: BatchResult) -> None:
        """Count one finished batch of ``send_conversion_events`` (events rejected locally are
        done too; those the server rejected were sent)."""
        local = sum(1 for r in batch.rejected if not r.from_server)
        self._events_done += batch.events_sent + local
        counts = self._event_counts
        counts["received"] += batch.events_received
        counts["rejected"] += len(batch.rejected)
        counts["failed"] += len(batch.failed)
        self.update(self._events_done, counts)
