"""Models for template analytics, ads insights and dataset quality."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import attrs

from ._base import RawResponse, json_name
from ._models_messages import Paging

__all__ = [
    "DatasetQuality",
    "DatasetQualityACR",
    "DatasetQualityDataFreshness",
    "DatasetQualityDedupeKey",
    "DatasetQualityDiagnostic",
    "DatasetQualityEMQ",
    "DatasetQualityEvent",
    "DatasetQualityMatchKey",
    "DatasetQualityPct",
    "DatasetQualityPercentage",
    "EnableTemplateAnalyticsResponse",
    "InsightsAction",
    "InsightsPage",
    "InsightsRow",
    "MetricType",
    "TemplateAnalytics",
    "TemplateAnalyticsDataPoint",
    "TemplateAnalyticsMetric",
    "TemplateAnalyticsResponse",
    "UploadFrequency",
]


class MetricType(StrEnum):
    """Template analytics metrics."""

    SENT = "SENT"
    DELIVERED = "DELIVERED"
    READ = "READ"
    CLICKED = "CLICKED"
    COST = "COST"


class UploadFrequency(StrEnum):
    """How often a dataset receives events."""

    REAL_TIME = "real_time"
    HOURLY = "hourly"
    DAILY = "daily"


# --- template analytics -----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TemplateAnalyticsDataPoint:
    """One metric value over ``[start, end)`` (Unix seconds).

    Example:
        >>> TemplateAnalyticsDataPoint(start=0, end=86400, value=12).value
        12
    """

    start: int | None = None
    end: int | None = None
    value: int | float | None = None


@attrs.frozen(kw_only=True)
class TemplateAnalyticsMetric:
    """The data points of one metric.

    Example:
        >>> TemplateAnalyticsMetric(metric_type=MetricType.SENT).metric_type
        <MetricType.SENT: 'SENT'>
    """

    metric_type: MetricType | str | None = None
    granularity: str | None = None
    data_points: Sequence[TemplateAnalyticsDataPoint] = ()


@attrs.frozen(kw_only=True)
class TemplateAnalytics:
    """Analytics of one template.

    Example:
        >>> TemplateAnalytics(template_id="123").template_id
        '123'
    """

    template_id: str | None = None
    analytics: Sequence[TemplateAnalyticsMetric] = ()


@attrs.frozen(kw_only=True)
class TemplateAnalyticsResponse(RawResponse):
    """Analytics of several templates (spec: ``GetTemplateAnalyticsResponse``).

    When more than 10 template ids were asked for, the SDK made several requests and this
    object merges them: ``template_analytics`` holds every template, ``raw`` is
    ``{"id": ..., "template_analytics": [...], "responses": [raw, raw, ...]}``.

    Example:
        >>> r = TemplateAnalyticsResponse(template_analytics=[TemplateAnalytics(template_id="1")])
        >>> r.template_analytics[0].template_id
        '1'
    """

    id: str | None = None
    template_analytics: Sequence[TemplateAnalytics] = ()


@attrs.frozen(kw_only=True)
class EnableTemplateAnalyticsResponse(RawResponse):
    """Answer to enabling template analytics (a one-way switch).

    Example:
        >>> EnableTemplateAnalyticsResponse(success=True).success
        True
    """

    success: bool | None = None


# --- ads insights -----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class InsightsAction(RawResponse):
    """An action metric; other attribution windows than 1d stay in ``raw``.

    Example:
        >>> InsightsAction(action_type="link_click", value="3").value
        '3'
    """

    action_type: str | None = None
    value: str | None = None
    click_1d: str | None = attrs.field(default=None, metadata=json_name("1d_click"))
    view_1d: str | None = attrs.field(default=None, metadata=json_name("1d_view"))


@attrs.frozen(kw_only=True)
class InsightsRow(RawResponse):
    """One row of insights (spec: ``InsightsDataEntry``).

    Metrics come as strings, as Meta sends them. Fields the spec does not list (all the
    ``marketing_messages_*`` metrics, breakdown columns) are in ``raw``.

    Example:
        >>> row = InsightsRow(impressions="100", raw={"marketing_messages_sent": "42"})
        >>> row.raw["marketing_messages_sent"]
        '42'
    """

    date_start: str | None = None
    date_stop: str | None = None
    account_id: str | None = None
    campaign_id: str | None = None
    adset_id: str | None = None
    ad_id: str | None = None
    impressions: str | None = None
    reach: str | None = None
    frequency: str | None = None
    spend: str | None = None
    clicks: str | None = None
    unique_clicks: str | None = None
    cpc: str | None = None
    cpm: str | None = None
    ctr: str | None = None
    cost_per_unique_click: str | None = None
    actions: Sequence[InsightsAction] = ()
    cost_per_action_type: Sequence[InsightsAction] = ()


@attrs.frozen(kw_only=True)
class InsightsPage(RawResponse):
    """One page of insights rows (spec: ``GetAdInsightsResponse``).

    Example:
        >>> InsightsPage(data=[InsightsRow(spend="1.00")]).data[0].spend
        '1.00'
    """

    data: Sequence[InsightsRow] = ()
    paging: Paging | None = None


# --- dataset quality --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class DatasetQualityACR:
    """Additional conversions reported (spec: ``DatasetQualityACR``).

    Example:
        >>> DatasetQualityACR(percentage=4.5).percentage
        4.5
    """

    description: str | None = None
    percentage: float | None = None


@attrs.frozen(kw_only=True)
class DatasetQualityPct:
    """A percentage with its description.

    Example:
        >>> DatasetQualityPct(percentage=88.0).percentage
        88.0
    """

    description: str | None = None
    percentage: float | None = None


@attrs.frozen(kw_only=True)
class DatasetQualityPercentage:
    """Event coverage, with its goal.

    Example:
        >>> DatasetQualityPercentage(percentage=50.0, goal_percentage=75.0).goal_percentage
        75.0
    """

    description: str | None = None
    percentage: float | None = None
    goal_percentage: float | None = None
    potential_aly_acr_increase: DatasetQualityACR | None = None


@attrs.frozen(kw_only=True)
class DatasetQualityDataFreshness:
    """How fresh the dataset's events are.

    Example:
        >>> DatasetQualityDataFreshness(upload_frequency=UploadFrequency.HOURLY).upload_frequency
        <UploadFrequency.HOURLY: 'hourly'>
    """

    description: str | None = None
    upload_frequency: UploadFrequency | str | None = None


@attrs.frozen(kw_only=True)
class DatasetQualityDedupeKey:
    """De-duplication key feedback.

    Example:
        >>> DatasetQualityDedupeKey(dedupe_key="event_id").dedupe_key
        'event_id'
    """

    dedupe_key: str | None = None
    browser_events_with_dedupe_key: DatasetQualityPct | None = None
    server_events_with_dedupe_key: DatasetQualityPct | None = None
    overall_browser_coverage_from_dedupe_key: DatasetQualityPct | None = None


@attrs.frozen(kw_only=True)
class DatasetQualityDiagnostic:
    """An event-match-quality issue and how to fix it.

    Example:
        >>> DatasetQualityDiagnostic(name="missing_em").name
        'missing_em'
    """

    name: str | None = None
    description: str | None = None
    solution: str | None = None
    percentage: float | None = None
    affected_event_count: int | None = None
    total_event_count: int | None = None


@attrs.frozen(kw_only=True)
class DatasetQualityMatchKey:
    """Coverage of one customer-information key.

    Example:
        >>> DatasetQualityMatchKey(identifier="em").identifier
        'em'
    """

    identifier: str | None = None
    coverage: DatasetQualityPct | None = None
    potential_aly_acr_increase: DatasetQualityACR | None = None


@attrs.frozen(kw_only=True)
class DatasetQualityEMQ:
    """Event match quality: ``composite_score`` is 0-10.

    Example:
        >>> DatasetQualityEMQ(composite_score=7.5).composite_score
        7.5
    """

    composite_score: float | None = None
    match_key_feedback: Sequence[DatasetQualityMatchKey] = ()
    diagnostics: Sequence[DatasetQualityDiagnostic] = ()


@attrs.frozen(kw_only=True)
class DatasetQualityEvent:
    """Quality metrics of one event name (spec: ``DatasetQualityEventEntry``).

    Example:
        >>> DatasetQualityEvent(event_name="Purchase").event_name
        'Purchase'
    """

    event_name: str | None = None
    event_match_quality: DatasetQualityEMQ | None = None
    event_coverage: DatasetQualityPercentage | None = None
    dedupe_key_feedback: Sequence[DatasetQualityDedupeKey] = ()
    data_freshness: DatasetQualityDataFreshness | None = None
    acr: DatasetQualityACR | None = None
    event_potential_aly_acr_increase: DatasetQualityACR | None = None


@attrs.frozen(kw_only=True)
class DatasetQuality(RawResponse):
    """Dataset quality by event source (spec: ``GetDatasetQualityResponse``).

    Example:
        >>> DatasetQuality(web=[DatasetQualityEvent(event_name="Purchase")]).web[0].event_name
        'Purchase'
    """

    web: Sequence[DatasetQualityEvent] = ()
