"""The read commands: ``templates``, ``analytics``, ``insights``, ``quality``, ``dataset``."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from d360_async._client import D360Client
from d360_async._models_analytics import (
    MetricType,
    TemplateAnalyticsDataPoint,
    TemplateAnalyticsResponse,
    TemplateAnalyticsTotals,
)
from d360_async._models_insights import DatasetQuality
from d360_async._models_templates import MessageTemplate

from ._common import EXIT_OK, CLIError, Context, UsageError
from ._output import emit

__all__ = [
    "QUALITY_COLUMNS",
    "TEMPLATE_COLUMNS",
    "analytics_rows",
    "collect",
    "insights_columns",
    "quality_rows",
    "run_analytics",
    "run_dataset",
    "run_insights",
    "run_quality",
    "run_templates",
    "template_row",
]

T = TypeVar("T")

TEMPLATE_COLUMNS = ("id", "name", "language", "status", "category", "params", "header")


async def collect(items: AsyncIterator[T], limit: int | None = None) -> list[T]:
    """Up to ``limit`` items of an async iterator, closing it when stopping early."""
    out: list[T] = []
    try:
        async for item in items:
            out.append(item)
            if limit is not None and len(out) >= limit:
                break
    finally:
        close = getattr(items, "aclose", None)
        if close is not None:
            await close()
    return out


def _header(template: MessageTemplate) -> str | None:
    for component in template.components:
        if component.type == "HEADER":
            return str(component.format) if component.format is not None else "TEXT"
    return None


def template_row(template: MessageTemplate) -> list[Any]:
    """One row of ``TEMPLATE_COLUMNS``."""
    return [
        template.id,
        template.name,
        template.language,
        None if template.status is None else str(template.status),
        None if template.category is None else str(template.category),
        template.body_placeholder_count,
        _header(template),
    ]


def _body(template: MessageTemplate) -> str | None:
    return next((c.text for c in template.components if c.type == "BODY"), None)


def _buttons(template: MessageTemplate) -> str | None:
    texts = [b.text or "" for c in template.components for b in c.buttons]
    return ", ".join(texts) or None


async def run_templates(args: argparse.Namespace, ctx: Context) -> int:
    """``d360 templates list`` and ``d360 templates get ID_OR_NAME``."""
    async with ctx.client() as client:
        if args.action == "list":
            filters = {
                key: value
                for key in ("name", "status", "category", "language")
                if (value := getattr(args, key)) is not None
            }
            templates = await collect(client.iter_message_templates(**filters), args.limit)
            rows = [template_row(t) for t in templates]
            listed = [t.raw for t in templates]
            emit(ctx, args.format, TEMPLATE_COLUMNS, rows, listed, title="message templates")
            return EXIT_OK
        templates = await _find_templates(client, args.template, args.language)
    columns = (*TEMPLATE_COLUMNS, "body", "buttons")
    rows = [[*template_row(t), _body(t), _buttons(t)] for t in templates]
    emit(ctx, args.format, columns, rows, [t.raw for t in templates], title="message template")
    return EXIT_OK


async def _find_templates(
    client: D360Client, wanted: str, language: str | None
) -> list[MessageTemplate]:
    """A template by id (all digits), else every language of a name (or just ``language``)."""
    if wanted.isdigit():
        return [await client.get_message_template(wanted)]
    found = [
        t
        async for t in client.iter_message_templates(name=wanted)
        if t.name == wanted and (language is None or t.language == language)
    ]
    if not found:
        where = f" in {language!r}" if language else ""
        raise CLIError(f"template {wanted!r} not found{where}")
    return found


# --- analytics -----------------------------------------------------------------------------


def day_arg(text: str) -> date:
    """``--start``/``--end``: a ``YYYY-MM-DD`` date (UTC).

    Example:
        >>> day_arg("2026-11-24")
        datetime.date(2026, 11, 24)
    """
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


def _range(args: argparse.Namespace) -> tuple[datetime, datetime]:
    """``[start, end)`` of whole UTC days: ``--days N`` is the N days that end with ``--end``
    (default: today, until now)."""

    def midnight(day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=UTC)

    now = datetime.now(UTC)
    last: date = args.end or now.date()
    start = midnight(args.start) if args.start else midnight(last) - timedelta(days=args.days - 1)
    end = midnight(last) + timedelta(days=1) if args.end else max(now, start + timedelta(seconds=1))
    if start >= end:
        raise UsageError("--start must be before --end")
    return start, end


async def _analytics_targets(
    client: D360Client, args: argparse.Namespace
) -> tuple[list[str], dict[str, MessageTemplate]]:
    known = {t.id: t for t in await collect(client.iter_message_templates()) if t.id}
    ids: list[str] = list(args.template_id or ())
    for name in args.template or ():
        matches = [
            tid
            for tid, t in known.items()
            if t.name == name and (args.language is None or t.language == args.language)
        ]
        if not matches:
            where = f" in {args.language!r}" if args.language else ""
            raise CLIError(f"template {name!r} not found{where}")
        ids.extend(matches)
    if not args.template_id and not args.template:
        ids = list(known)
    if not ids:
        raise CLIError("there are no templates to report on")
    return list(dict.fromkeys(ids)), known


def _metric(totals: TemplateAnalyticsTotals, metric: str) -> int | Decimal | None:
    """One metric column (``COST`` is the amount spent)."""
    if metric == MetricType.COST:
        return totals.amount_spent
    value: int | None = getattr(totals, metric.lower(), None)
    return value


def analytics_rows(
    response: TemplateAnalyticsResponse,
    known: Mapping[str, MessageTemplate],
    metrics: Sequence[str],
    *,
    daily: bool,
) -> list[list[Any]]:
    """Per template (and per day with ``daily``): id, name, language, then each metric."""
    rows: list[list[Any]] = []
    by_day: dict[str, list[TemplateAnalyticsDataPoint]] = {}
    for point in response.data_points:
        by_day.setdefault(point.template_id or "", []).append(point)
    for template_id, totals in response.by_template().items():
        template = known.get(template_id)
        label = [template_id, template and template.name, template and template.language]
        if not daily:
            rows.append([*label, *(_metric(totals, m) or 0 for m in metrics)])
            continue
        for point in sorted(by_day[template_id], key=lambda p: p.start or 0):
            day = datetime.fromtimestamp(point.start or 0, UTC).date().isoformat()
            one = TemplateAnalyticsTotals.of([point])
            rows.append([day, *label, *(_metric(one, m) for m in metrics)])
    return rows


async def run_analytics(args: argparse.Namespace, ctx: Context) -> int:
    """``d360 analytics``: sent/delivered/read/clicked/cost per template."""
    start, end = _range(args)
    metrics = [m.upper() for m in args.metrics] if args.metrics else [m.value for m in MetricType]
    async with ctx.client() as client:
        if args.enable:
            await client.enable_template_analytics()
        ids, known = await _analytics_targets(client, args)
        response = await client.get_template_analytics(
            start=start, end=end, template_ids=ids, metric_types=args.metrics or None
        )
    rows = analytics_rows(response, known, metrics, daily=args.daily)
    columns = [*(("day",) if args.daily else ()), "template_id", "name", "language", *metrics]
    title = f"template analytics {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
    objects = [dict(zip(columns, row, strict=True)) for row in rows]
    emit(ctx, args.format, columns, rows, objects, title=title)
    return EXIT_OK


# --- insights, quality, datasets -------------------------------------------------------------


def insights_columns(rows: Sequence[Mapping[str, Any]], fields: Sequence[str] = ()) -> list[str]:
    """The requested fields first, then every other key of the rows, in first-seen order.

    Example:
        >>> insights_columns([{"date_start": "d", "spend": "1"}], ["spend"])
        ['spend', 'date_start']
    """
    keys = dict.fromkeys(key for row in rows for key in row)
    return [f for f in fields if f in keys] + [k for k in keys if k not in fields]


async def run_insights(args: argparse.Namespace, ctx: Context) -> int:
    """``d360 insights OBJECT_ID``: Ads Insights rows of an account, campaign, ad set or ad."""
    options: dict[str, Any] = {}
    for key in ("date_preset", "level", "fields", "breakdowns", "sort"):
        value = getattr(args, key)
        if value:
            options[key] = value
    if args.since or args.until:
        if not (args.since and args.until):
            raise UsageError("give both --since and --until")
        options["time_range"] = (args.since, args.until)
    async with ctx.client() as client:
        rows = await collect(client.iter_ad_object_insights(args.object_id, **options), args.limit)
    raw = [dict(row.raw) for row in rows]
    columns = insights_columns(raw, args.fields or ())
    table = [[row.get(c) for c in columns] for row in raw]
    emit(ctx, args.format, columns, table, raw, title=f"insights of {args.object_id}")
    return EXIT_OK


def _pct(value: float | None) -> str | None:
    return None if value is None else f"{value:g}%"


QUALITY_COLUMNS = ("event", "emq", "coverage", "freshness", "acr", "match_keys", "diagnostics")


def quality_rows(quality: DatasetQuality) -> list[list[Any]]:
    """One row per event of a dataset quality report (see ``QUALITY_COLUMNS``)."""
    rows = []
    for entry in quality.web:
        emq = entry.event_match_quality
        keys = {
            str(k.identifier): _pct(k.coverage.percentage) if k.coverage else None
            for k in (emq.match_key_feedback if emq else ())
        }
        rows.append(
            [
                entry.event_name,
                emq.composite_score if emq else None,
                _pct(entry.event_coverage.percentage) if entry.event_coverage else None,
                entry.data_freshness.upload_frequency if entry.data_freshness else None,
                _pct(entry.acr.percentage) if entry.acr else None,
                keys or None,
                ", ".join(d.name or "" for d in emq.diagnostics) if emq else None,
            ]
        )
    return rows


async def run_quality(args: argparse.Namespace, ctx: Context) -> int:
    """``d360 quality DATASET_ID``: event match quality and coverage per event."""
    async with ctx.client() as client:
        quality = await client.get_dataset_quality(
            args.dataset_id, agent_name=args.agent_name, fields=args.fields
        )
    rows = quality_rows(quality)
    title = f"dataset {args.dataset_id} quality"
    events = quality.raw.get("web") or []
    emit(ctx, args.format, QUALITY_COLUMNS, rows, events, title=title)
    return EXIT_OK


async def run_dataset(args: argparse.Namespace, ctx: Context) -> int:
    """``d360 dataset get|create NODE_ID``: the conversion dataset of a business node."""
    async with ctx.client() as client:
        if args.action == "create":
            dataset = await client.post_conversion_dataset(args.node_id, name=args.name)
        else:
            dataset = await client.get_conversion_dataset(args.node_id)
    rows = [[dataset.id, dataset.name]]
    emit(ctx, args.format, ("id", "name"), rows, dataset.raw, title=f"dataset of {args.node_id}")
    return EXIT_OK
