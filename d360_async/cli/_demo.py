"""``d360 demo``: the whole SDK at work on an emulator started in this process.

No API key and no network. A campaign of 10,000 messages with a live progress bar (a few of
its rows are duplicates and a few recipients have opted out, on purpose, to show the
bookkeeping; the emulator also throttles 1% of requests with a 429, which the client
retries), 5,000 conversion events hashed and batched, then the templates, template
analytics, ads insights and dataset quality as tables, the campaign's delivery report (the
emulator sends status webhooks, with duplicates and out of order, to a receiver in this
process whose ``DeliveryTracker`` records them in the campaign's journal), and a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs

from d360_async._builder import MessageBuilder, image
from d360_async._bulk import BulkReport, SendStatus
from d360_async._client import D360Client
from d360_async._delivery import DeliveryTracker
from d360_async._errors import APIStatusError
from d360_async._models_events import EventsReport
from d360_async._models_messages import MarketingMessageRequest
from d360_async._webhook_receiver import WebhookReceiver
from d360_async.hashing import hash_value, normalize

from ._common import EXIT_FAILURE, EXIT_OK, Context, plural
from ._events import summary_line as events_summary
from ._output import emit
from ._progress import Tracker
from ._read import (
    QUALITY_COLUMNS,
    TEMPLATE_COLUMNS,
    analytics_rows,
    collect,
    insights_columns,
    quality_rows,
    template_row,
)
from ._report import REPORT_COLUMNS, report_row
from ._send import summary_line as campaign_summary

if TYPE_CHECKING:
    from d360_async.testing import Emulator

__all__ = ["run_demo"]

#: The WABA / business node the demo's dataset belongs to.
NODE: Final = "102290129340398"
TEMPLATE: Final = ("summer_sale", "en_US")
HEADER: Final = "https://scontent.whatsapp.net/v/t61.29466-34/emulator/summer.jpg"
NAMES: Final = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken")
#: Code of a recipient who stopped marketing messages (Meta's per-recipient error).
OPTED_OUT: Final = 131050
#: Seconds the demo waits for the last status webhooks.
WEBHOOKS_TIMEOUT: Final = 60.0


def _number(i: int) -> str:
    """Recipient ``i``, written in a few ways (all mean the same to WhatsApp)."""
    digits = f"49151{i:08d}"
    return (
        "+" + digits,
        digits,
        f"+49 151 {i:08d}",
        f"+49 (151) {i // 10000:04d}-{i % 10000:04d}",
    )[i % 4]


@attrs.frozen
class _Plan:
    """The demo campaign's rows and the outcome they must have."""

    rows: int

    def recipient(self, row: int) -> int:
        return row - 1 if row % 1000 == 999 else row  # every 1,000th row repeats the one before

    def opted_out(self) -> list[int]:
        return [i for i in range(500, self.rows, 1000) if self.recipient(i) == i]

    def expected(self) -> tuple[int, int, int]:
        skipped = sum(1 for i in range(self.rows) if self.recipient(i) != i)
        failed = len(self.opted_out())
        return self.rows - skipped - failed, failed, skipped

    def messages(self) -> Iterator[MarketingMessageRequest]:
        promo = MessageBuilder(name=TEMPLATE[0], language=TEMPLATE[1], header=image(HEADER))
        for row in range(self.rows):
            i = self.recipient(row)
            yield promo.build(
                _number(i), body=[NAMES[i % len(NAMES)], "20%", "Sunday"], url_buttons={0: f"c{i}"}
            )


def _events(count: int, now: int) -> Iterator[dict[str, Any]]:
    for i in range(count):
        yield {
            "event_name": "Purchase",
            "event_time": now - 10 * i,
            "event_id": f"order-{i}",
            "user_data": {
                "em": f" {NAMES[i % len(NAMES)]}.{i}@Example.com ",
                "ph": _number(i),
                "fn": NAMES[i % len(NAMES)],
                "ctwa_clid": f"ARAk{i:08d}",
            },
            "custom_data": {"currency": "EUR", "value": 10 + i % 90},
        }


@contextlib.asynccontextmanager
async def _receiving(tracker: DeliveryTracker) -> AsyncIterator[str]:
    """A webhook receiver on loopback handing deliveries to ``tracker``; yields its URL."""
    from aiohttp import web

    runner = web.AppRunner(WebhookReceiver(tracker.handle).app(), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/"
    finally:
        await runner.cleanup()


async def _campaign(
    ctx: Context, client: D360Client, plan: _Plan, concurrency: int, journal: Path
) -> BulkReport:
    failures: Counter[str] = Counter()
    with Tracker(ctx, description="campaign", total=plan.rows, unit="msg") as tracker:
        run = client.send_bulk(
            plan.messages(),
            concurrency=concurrency,
            on_progress=tracker.bulk_progress,
            journal=journal,
        )
        async with run:
            async for result in run:
                if result.status is SendStatus.FAILED:
                    error = result.error
                    code = error.code if isinstance(error, APIStatusError) else None
                    failures[f"code {code}" if code else type(error).__name__] += 1
    report = run.report
    ctx.say(campaign_summary(report).replace("summary:", "campaign:", 1))
    for reason, count in failures.items():
        note = " (recipients who opted out, on purpose)" if reason == f"code {OPTED_OUT}" else ""
        ctx.say(f"  failed: {count:,} x {reason}{note}")
    if report.skipped:
        ctx.say(f"  skipped: {report.skipped:,} duplicate rows (each recipient gets one message)")
    return report


async def _conversions(
    ctx: Context, client: D360Client, dataset_id: str, count: int
) -> EventsReport:
    sample = " Ada.0@Example.com "
    ctx.say(
        f"hashing: em {sample!r} -> {normalize('em', sample)!r} -> "
        f"{hash_value('em', sample)[:16]}... (SHA-256; phone numbers, names too)"
    )
    now = int(time.time())
    with Tracker(ctx, description="events", total=count, unit="events") as tracker:
        run = client.send_conversion_events(dataset_id, _events(count, now), batch_size=1000)
        async with run:
            async for batch in run:
                tracker.events_batch(batch)
    report = run.report
    ctx.say(events_summary(report).replace("summary:", "events:", 1))
    return report


async def run_demo(args: argparse.Namespace, ctx: Context) -> int:
    """``d360 demo``; exit code 0 when every count is what the demo expects."""
    started = time.perf_counter()
    plan = _Plan(args.recipients)
    with tempfile.TemporaryDirectory(prefix="d360-demo-") as folder:
        journal = Path(folder) / "campaign.sqlite"
        async with DeliveryTracker(journal) as tracker, _receiving(tracker) as url:
            return await _run(args, ctx, plan, journal, tracker, url, started)


async def _run(
    args: argparse.Namespace,
    ctx: Context,
    plan: _Plan,
    journal: Path,
    tracker: DeliveryTracker,
    webhook_url: str,
    started: float,
) -> int:
    from d360_async.testing import Emulator, WebhookSettings

    # A 429 (Retry-After: 0): a throttled send was certainly not acted upon, so it is retried.
    # A 5xx would not be: a send answered 5xx may have been delivered (see the README).
    # Status webhooks: some twice, some out of order, in batches (as Meta delivers them).
    webhooks = WebhookSettings(duplicates=0.05, reorder=0.1, batch_size=200, batch_window_ms=20)
    emulator = Emulator(
        rate=None,
        seed=args.seed,
        fault_rate=0.01,
        fault_kinds=("429",),
        retry_after=0,
        webhook_url=webhook_url,
        webhooks=webhooks,
    )
    async with (
        emulator as emu,
        D360Client(emu.api_key, base_url=emu.url, rate_limit=None) as client,
    ):
        ctx.say(f"emulator: {emu.url} (in this process: no API key, no network)")
        for i in plan.opted_out():
            emu.set_recipient_error(_number(i), OPTED_OUT)

        templates = await collect(client.iter_message_templates())
        rows = [template_row(t) for t in templates]
        emit(ctx, "table", TEMPLATE_COLUMNS, rows, None, title="message templates")

        ctx.say(f"campaign: {plan.rows:,} rows x {TEMPLATE[0]} ({TEMPLATE[1]}), send_bulk")
        report = await _campaign(ctx, client, plan, args.concurrency, journal)
        retried = emu.faults_injected.get("429", 0)
        duplicates = len(emu.duplicate_recipients())
        ctx.say(
            f"  the emulator throttled {plural(retried, 'request')} with a 429: retried; "
            f"recipients messaged twice: {duplicates}"
        )

        dataset = await client.post_conversion_dataset(NODE, name="demo shop")
        dataset_id = dataset.id or NODE
        ctx.say(f"conversions: dataset {dataset_id}, {args.events:,} Purchase events")
        events = await _conversions(ctx, client, dataset_id, args.events)

        now = datetime.now(UTC)
        template = next(t for t in templates if (t.name, t.language) == TEMPLATE)
        analytics = await client.get_template_analytics(
            start=now - timedelta(days=1), end=now, template_ids=[template.id or ""]
        )
        metrics = ["SENT", "DELIVERED", "READ", "CLICKED", "COST"]
        rows = analytics_rows(analytics, {template.id or "": template}, metrics, daily=False)
        columns = ["template_id", "name", "language", *metrics]
        emit(ctx, "table", columns, rows, None, title="template analytics (last 24 h)")

        fields = ["campaign_id", "impressions", "spend", "marketing_messages_sent"]
        fields += ["marketing_messages_delivered", "marketing_messages_read_rate"]
        insights = await collect(
            client.iter_ad_object_insights(
                "act_1234", level="campaign", date_preset="last_7d", fields=fields
            )
        )
        raw = [dict(row.raw) for row in insights]
        columns = insights_columns(raw, fields)
        rows = [[row.get(c) for c in columns] for row in raw]
        emit(ctx, "table", columns, rows, None, title="ads insights, campaign level, last 7 days")

        quality = await client.get_dataset_quality(dataset_id)
        emit(ctx, "table", QUALITY_COLUMNS, quality_rows(quality), None, title="dataset quality")
        recorded = len(emu.events.get(dataset_id, ()))

        delivered = await _delivery_report(ctx, emu, tracker)

    elapsed = time.perf_counter() - started
    ctx.say(
        f"summary: sent={report.sent} failed={report.failed} skipped={report.skipped} "
        f"unknown={report.unknown} events={events.received} duplicates={duplicates} "
        f"in {elapsed:.1f}s ({report.rate:,.0f} messages/s)"
    )
    sent, failed, skipped = plan.expected()
    ok = (
        (report.sent, report.failed, report.skipped, report.unknown) == (sent, failed, skipped, 0)
        and events.received == recorded == args.events
        and duplicates == 0
        and delivered
    )
    if not ok:
        ctx.note(
            f"d360: error: the demo expected sent={sent} failed={failed} skipped={skipped} "
            f"unknown=0 events={args.events} duplicates=0, and the delivery report to count "
            "the statuses the emulator generated"
        )
    return EXIT_OK if ok else EXIT_FAILURE


async def _delivery_report(ctx: Context, emu: Emulator, tracker: DeliveryTracker) -> bool:
    """Wait for the last status webhooks, print the campaign's delivery report; returns
    whether it counts exactly the statuses the emulator generated."""
    sender = emu.webhooks
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(WEBHOOKS_TIMEOUT):
            await sender.drain()
    (report,) = await tracker.reports()
    columns = REPORT_COLUMNS[2:]  # one campaign: no journal nor campaign id
    row = report_row("", report)[2:]
    emit(ctx, "table", columns, [row], None, title="delivery report (status webhooks)")
    final = Counter(sender.final_statuses().values())
    expected = (final["sent"], final["delivered"], final["read"], final["failed"])
    matches = (report.sent, report.delivered, report.read, report.failed) == expected
    ctx.say(
        f"  webhooks: {plural(len(sender.generated), 'status', 'statuses')} "
        f"(+{sender.duplicates:,} sent twice, some out of order) received in this process; "
        f"the report counts what the emulator generated: {'yes' if matches else 'NO'}"
    )
    return matches and report.no_status == 0 and sender.pending == 0
