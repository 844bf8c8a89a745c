"""Models for template analytics: one typed result, whichever shape the service answered in.

Meta's Graph API answers ``{"data": [{"granularity", "product_type", "data_points": [...]}]}``,
the spec shows ``{"id", "template_analytics": [{"template_id", "analytics": [...]}]}`` and
Graph field expansion wraps Meta's list in ``{"template_analytics": {"data": [...]}}``. All
three parse into :class:`TemplateAnalyticsResponse`: one data point per template and day.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from enum import StrEnum

import attrs

from ._base import RawResponse
from ._models_messages import Paging

__all__ = [
    "EnableTemplateAnalyticsResponse",
    "MetricType",
    "TemplateAnalyticsDataPoint",
    "TemplateAnalyticsResponse",
    "TemplateAnalyticsTotals",
    "TemplateButtonClicks",
    "TemplateCost",
    "TemplateCostType",
]


class MetricType(StrEnum):
    """Template analytics metrics."""

    SENT = "SENT"
    DELIVERED = "DELIVERED"
    READ = "READ"
    CLICKED = "CLICKED"
    COST = "COST"


class TemplateCostType(StrEnum):
    """Kinds of cost in a data point (``amount_spent`` is money; the others are rates)."""

    AMOUNT_SPENT = "amount_spent"
    COST_PER_DELIVERED = "cost_per_delivered"
    COST_PER_URL_BUTTON_CLICK = "cost_per_url_button_click"


@attrs.frozen(kw_only=True)
class TemplateButtonClicks:
    """Clicks on one button (``type`` such as ``url_button`` or ``quick_reply_button``).

    The spec's shape has only a total: its clicks come with no ``type`` nor button.

    Example:
        >>> TemplateButtonClicks(type="quick_reply_button", button_content="Yes", count=3).count
        3
    """

    type: str | None = None
    button_content: str | None = None
    count: int = 0


@attrs.frozen(kw_only=True)
class TemplateCost:
    """One cost figure of a data point; ``value`` is None when Meta has none (no deliveries).

    Example:
        >>> TemplateCost(type=TemplateCostType.AMOUNT_SPENT, value=Decimal("30.75")).value
        Decimal('30.75')
    """

    type: TemplateCostType | str | None = None
    value: Decimal | None = None


@attrs.frozen(kw_only=True)
class TemplateAnalyticsDataPoint:
    """The numbers of one template over one time bucket ``[start, end)`` (Unix seconds).

    A metric that was not asked for (``metric_types``) is None; ``clicked`` and ``cost`` are
    None when not reported and empty when reported as none.

    Example:
        >>> p = TemplateAnalyticsDataPoint(template_id="1", sent=10, clicked=[
        ...     TemplateButtonClicks(type="url_button", button_content="Shop", count=2)])
        >>> (p.sent, p.clicks)
        (10, 2)
    """

    template_id: str | None = None
    start: int | None = None
    end: int | None = None
    sent: int | None = None
    delivered: int | None = None
    read: int | None = None
    clicked: Sequence[TemplateButtonClicks] | None = None
    cost: Sequence[TemplateCost] | None = None

    @property
    def clicks(self) -> int | None:
        """Clicks on every button together (None when clicks were not reported)."""
        return None if self.clicked is None else sum(c.count for c in self.clicked)

    def cost_of(self, kind: TemplateCostType | str) -> Decimal | None:
        """The value of one kind of cost, or None.

        Example:
            >>> TemplateAnalyticsDataPoint(cost=[TemplateCost(type="amount_spent",
            ...     value=Decimal("2.50"))]).cost_of(TemplateCostType.AMOUNT_SPENT)
            Decimal('2.50')
        """
        return next((c.value for c in self.cost or () if c.type == kind), None)


def _sum(values: Iterable[int | None]) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _per(amount: Decimal | None, count: int | None) -> Decimal | None:
    return amount / count if amount is not None and count else None


@attrs.frozen(kw_only=True)
class TemplateAnalyticsTotals:
    """Sums over several data points (one template, or all of them, over the range).

    Counts and ``amount_spent`` are summed; a metric no data point reported stays None. The
    rates are computed from the sums (averaging Meta's daily rates would be wrong).

    Example:
        >>> t = TemplateAnalyticsTotals(delivered=200, amount_spent=Decimal("5.00"))
        >>> t.cost_per_delivered
        Decimal('0.025')
    """

    template_id: str | None = None
    start: int | None = None
    end: int | None = None
    sent: int | None = None
    delivered: int | None = None
    read: int | None = None
    clicked: int | None = None
    clicks_by_button: Sequence[TemplateButtonClicks] = ()
    amount_spent: Decimal | None = None

    @property
    def cost_per_delivered(self) -> Decimal | None:
        """``amount_spent`` / ``delivered`` (None without deliveries or cost)."""
        return _per(self.amount_spent, self.delivered)

    @property
    def url_clicks(self) -> int:
        """Clicks on URL buttons."""
        return sum(c.count for c in self.clicks_by_button if "url" in (c.type or ""))

    @property
    def cost_per_url_button_click(self) -> Decimal | None:
        """``amount_spent`` / clicks on URL buttons (None without such clicks)."""
        return _per(self.amount_spent, self.url_clicks)

    @classmethod
    def of(
        cls, points: Sequence[TemplateAnalyticsDataPoint], template_id: str | None = None
    ) -> TemplateAnalyticsTotals:
        """The totals of ``points`` (labelled with ``template_id``)."""
        buttons: dict[tuple[str | None, str | None], int] = {}
        for point in points:
            for click in point.clicked or ():
                key = (click.type, click.button_content)
                buttons[key] = buttons.get(key, 0) + click.count
        spent = [p.cost_of(TemplateCostType.AMOUNT_SPENT) for p in points]
        present = [s for s in spent if s is not None]
        return cls(
            template_id=template_id,
            start=min((p.start for p in points if p.start is not None), default=None),
            end=max((p.end for p in points if p.end is not None), default=None),
            sent=_sum(p.sent for p in points),
            delivered=_sum(p.delivered for p in points),
            read=_sum(p.read for p in points),
            clicked=_sum(p.clicks for p in points),
            clicks_by_button=tuple(
                TemplateButtonClicks(type=kind, button_content=content, count=count)
                for (kind, content), count in buttons.items()
            ),
            amount_spent=sum(present, Decimal(0)) if present else None,
        )


@attrs.frozen(kw_only=True)
class TemplateAnalyticsResponse(RawResponse):
    """Template analytics (spec: ``GetTemplateAnalyticsResponse``), in any of the shapes the
    service may answer in, as one list of data points (one per template and day).

    When more than 10 template ids were asked for, the SDK made several requests: their data
    points are all here and ``raw`` is ``{"responses": [raw, raw, ...]}``.

    Example:
        >>> r = TemplateAnalyticsResponse(data_points=[
        ...     TemplateAnalyticsDataPoint(template_id="1", sent=5),
        ...     TemplateAnalyticsDataPoint(template_id="1", sent=7),
        ...     TemplateAnalyticsDataPoint(template_id="2", sent=1)])
        >>> r.by_template()["1"].sent, r.total().sent
        (12, 13)
    """

    id: str | None = None
    granularity: str | None = None
    product_type: str | None = None
    data_points: Sequence[TemplateAnalyticsDataPoint] = ()
    paging: Paging | None = None

    def by_template(self) -> dict[str, TemplateAnalyticsTotals]:
        """Totals per template id over the whole range, in order of first appearance."""
        groups: dict[str, list[TemplateAnalyticsDataPoint]] = {}
        for point in self.data_points:
            groups.setdefault(point.template_id or "", []).append(point)
        return {tid: TemplateAnalyticsTotals.of(points, tid) for tid, points in groups.items()}

    def total(self) -> TemplateAnalyticsTotals:
        """Totals of every template over the whole range."""
        return TemplateAnalyticsTotals.of(self.data_points)


@attrs.frozen(kw_only=True)
class EnableTemplateAnalyticsResponse(RawResponse):
    """Answer to enabling template analytics (a one-way switch).

    Example:
        >>> EnableTemplateAnalyticsResponse(success=True).success
        True
    """

    success: bool | None = None
