"""``python -m d360_async demo``: the SDK at work against the embedded emulator.

No API key and no network: an emulator is started on loopback, and the demo lists templates,
sends a small campaign concurrently, posts conversion events, and reads analytics, insights
and dataset quality.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import attrs

from ._client import D360Client
from ._models_events import ConversionEvent, UserData
from ._models_messages import (
    ComponentType,
    LanguageObject,
    MarketingMessageRequest,
    MessageTemplate,
    ParameterType,
    TemplateCategory,
    TemplateComponent,
    TemplateObject,
    TemplateParameter,
    TemplateStatus,
)
from ._retry import RetryPolicy

__all__ = ["DemoSummary", "run_demo"]


@attrs.frozen(kw_only=True)
class DemoSummary:
    """What the demo did.

    Example:
        >>> DemoSummary(templates=3, sent=10, failed=0, events=5, seconds=0.5).sent
        10
    """

    templates: int
    sent: int
    failed: int
    events: int
    seconds: float


def _message(template: MessageTemplate, to: str) -> MarketingMessageRequest:
    params = [
        TemplateParameter(type=ParameterType.TEXT, text=f"value {i + 1}")
        for i in range(template.body_placeholder_count)
    ]
    components = [TemplateComponent(type=ComponentType.BODY, parameters=params)] if params else None
    return MarketingMessageRequest(
        to=to,
        template=TemplateObject(
            name=template.name or "",
            language=LanguageObject(code=template.language or "en"),
            components=components,
        ),
    )


def _sendable(template: MessageTemplate) -> bool:
    header_media = any(
        c.type == "HEADER" and c.format not in (None, "TEXT") for c in template.components
    )
    return (
        template.status == TemplateStatus.APPROVED
        and template.category == TemplateCategory.MARKETING
        and not header_media
    )


async def run_demo(
    *, recipients: int = 1000, concurrency: int = 50, out: Callable[[str], None] = print
) -> DemoSummary:
    """Run the demo against a fresh in-process emulator and print what happens.

    Args:
        recipients: Messages in the demo campaign.
        concurrency: Sends in flight at once.
        out: Where lines go.

    Returns:
        The counts and the elapsed time.
    """
    from .testing import Emulator

    started = time.perf_counter()
    async with (
        Emulator(rate=None, seed=360) as emu,
        D360Client(emu.api_key, base_url=emu.url, rate_limit=None, retry=RetryPolicy()) as client,
    ):
        out(f"emulator listening on {emu.url}")
        templates = [t async for t in client.iter_message_templates(limit=5)]
        out(f"templates: {len(templates)}")
        for t in templates:
            out(f"  {t.name:<24} {t.language:<6} {t.status!s:<9} {t.category}")
        template = next(t for t in templates if _sendable(t))
        out(f"campaign: {recipients} x {template.name} ({template.language})")

        t0 = time.perf_counter()
        messages = (_message(template, f"49151{i:08d}") for i in range(recipients))
        report = await client.send_bulk(messages, concurrency=concurrency).run()
        rate = recipients / (time.perf_counter() - t0)
        sent, failed = report.sent, report.failed + report.unknown
        out(f"  sent {sent}, failed {failed}, {rate:,.0f} messages/s (send_bulk)")

        node = "102290129340398"
        dataset = await client.post_conversion_dataset(node, name="demo")
        now = datetime.now(UTC)
        events = [
            ConversionEvent(
                event_name="Purchase",
                event_time=now - timedelta(minutes=i),
                event_id=f"demo-{i}",
                user_data=UserData(ctwa_clid=f"clid{i}", whatsapp_business_account_id=node),
            )
            for i in range(200)
        ]
        received = await client.post_conversion_events(dataset.id or node, events)
        out(f"conversion events: {received.events_received} received (dataset {dataset.id})")

        if template.id:
            analytics = await client.get_template_analytics(
                start=now - timedelta(days=1),
                end=now + timedelta(days=1),
                template_ids=[template.id],
            )
            for item in analytics.template_analytics:
                for metric in item.analytics:
                    total = sum(p.value or 0 for p in metric.data_points)
                    out(f"  analytics {metric.metric_type}: {total}")
        rows = [r async for r in client.iter_ad_object_insights("act_1", level="campaign")]
        spend = sum(float(r.spend or 0) for r in rows)
        out(f"insights: {len(rows)} campaign rows, spend {spend:.2f}")
        quality = await client.get_dataset_quality(dataset.id or node)
        for entry in quality.web:
            emq = entry.event_match_quality
            out(f"  dataset quality {entry.event_name}: EMQ {emq.composite_score if emq else None}")
        duplicates = emu.duplicate_recipients()
        out(f"duplicates: {len(duplicates)}")
    summary = DemoSummary(
        templates=len(templates),
        sent=sent,
        failed=failed,
        events=received.events_received or 0,
        seconds=time.perf_counter() - started,
    )
    out(
        f"summary: sent={summary.sent} failed={summary.failed} events={summary.events} "
        f"in {summary.seconds:.1f}s"
    )
    return summary
