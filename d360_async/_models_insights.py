"""Models for Ads Insights rows and dataset quality.

Insights metrics are typed as Meta documents them and parsed without loss: counts are
``int``; money, rates and ratios are ``Decimal``, which keeps the digits Meta sent
(``"152.33"`` stays 152.33: a float would hold 152.330000000000012505552149377763271331787109375,
and sums of floats drift). Decimals add up exactly and compare with ints; mixing them with
floats raises ``TypeError`` (use ``float(row.spend)`` to go to floats). Written back (wire
form), they are strings again, as Meta sends them.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from enum import StrEnum

import attrs

from ._base import RawResponse, number_as_text
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
    "InsightsAction",
    "InsightsPage",
    "InsightsRow",
    "UploadFrequency",
]


class UploadFrequency(StrEnum):
    """How often a dataset receives events."""

    REAL_TIME = "real_time"
    HOURLY = "hourly"
    DAILY = "daily"


# --- ads insights -----------------------------------------------------------------------------


#: Metadata of a number Meta sends as a string.
_TEXT = number_as_text()


@attrs.frozen(kw_only=True)
class InsightsAction(RawResponse):
    """One entry of an action list (``actions``, ``action_values``, ``cost_per_action_type``,
    ``purchase_roas``, ...): a value in total and per attribution window, and the action
    breakdown columns asked for with ``action_breakdowns``.

    Example:
        >>> InsightsAction(action_type="link_click", value=Decimal(3)).value
        Decimal('3')
    """

    action_type: str | None = None
    value: Decimal | None = attrs.field(default=None, metadata=_TEXT)
    click_1d: Decimal | None = attrs.field(default=None, metadata=number_as_text("1d_click"))
    click_7d: Decimal | None = attrs.field(default=None, metadata=number_as_text("7d_click"))
    click_28d: Decimal | None = attrs.field(default=None, metadata=number_as_text("28d_click"))
    view_1d: Decimal | None = attrs.field(default=None, metadata=number_as_text("1d_view"))
    view_7d: Decimal | None = attrs.field(default=None, metadata=number_as_text("7d_view"))
    view_28d: Decimal | None = attrs.field(default=None, metadata=number_as_text("28d_view"))
    engaged_view_1d: Decimal | None = attrs.field(default=None, metadata=number_as_text("1d_ev"))
    dda: Decimal | None = attrs.field(default=None, metadata=_TEXT)
    skan_click: Decimal | None = attrs.field(default=None, metadata=_TEXT)
    skan_view: Decimal | None = attrs.field(default=None, metadata=_TEXT)
    action_destination: str | None = None
    action_device: str | None = None
    action_reaction: str | None = None
    action_target_id: str | None = None
    action_video_sound: str | None = None
    action_video_type: str | None = None
    action_carousel_card_id: str | None = None
    action_carousel_card_name: str | None = None
    action_canvas_component_name: str | None = None


@attrs.frozen(kw_only=True)
class InsightsRow(RawResponse):
    """One row of insights (spec: ``InsightsDataEntry``, with the fields of Meta's Insights
    reference: object names, the ``marketing_messages_*`` metrics, action lists, breakdown
    columns). Fields outside this list stay in ``raw``.

    Example:
        >>> row = InsightsRow(impressions=2000, spend=Decimal("30.50"))
        >>> row.spend * 1000 / row.impressions  # CPM, exactly
        Decimal('15.25')
    """

    # the object and its settings
    date_start: str | None = None
    date_stop: str | None = None
    account_id: str | None = None
    account_name: str | None = None
    account_currency: str | None = None
    campaign_id: str | None = None
    campaign_name: str | None = None
    adset_id: str | None = None
    adset_name: str | None = None
    ad_id: str | None = None
    ad_name: str | None = None
    objective: str | None = None
    optimization_goal: str | None = None
    buying_type: str | None = None
    attribution_setting: str | None = None
    # breakdown columns
    age: str | None = None
    gender: str | None = None
    country: str | None = None
    region: str | None = None
    publisher_platform: str | None = None
    platform_position: str | None = None
    device_platform: str | None = None
    impression_device: str | None = None
    marketing_messages_btn_name: str | None = None
    # counts
    impressions: int | None = attrs.field(default=None, metadata=_TEXT)
    reach: int | None = attrs.field(default=None, metadata=_TEXT)
    clicks: int | None = attrs.field(default=None, metadata=_TEXT)
    unique_clicks: int | None = attrs.field(default=None, metadata=_TEXT)
    inline_link_clicks: int | None = attrs.field(default=None, metadata=_TEXT)
    unique_inline_link_clicks: int | None = attrs.field(default=None, metadata=_TEXT)
    inline_post_engagement: int | None = attrs.field(default=None, metadata=_TEXT)
    marketing_messages_sent: int | None = attrs.field(default=None, metadata=_TEXT)
    marketing_messages_delivered: int | None = attrs.field(default=None, metadata=_TEXT)
    marketing_messages_read: int | None = attrs.field(default=None, metadata=_TEXT)
    marketing_messages_link_btn_click: int | None = attrs.field(default=None, metadata=_TEXT)
    # money, rates and ratios
    frequency: Decimal | None = attrs.field(default=None, metadata=_TEXT)
    spend: Decimal | None = attrs.field(default=None, metadata=_TEXT)
    social_spend: Decimal | None = attrs.field(default=None, metadata=_TEXT)
    cpc: Decimal | None = attrs.field(default=None, metadata=_TEXT)
    cpm: Decimal | None = attrs.field(default=None, metadata=_TEXT)
    cpp: Decimal | None = attrs.field(default=None, metadata=_TEXT)
    ctr: Decimal | None = attrs.field(default=None, metadata=_TEXT)
    unique_ctr: Decimal | None = attrs.field(default=None, metadata=_TEXT)
    cost_per_unique_click: Decimal | None = attrs.field(default=None, metadata=_TEXT)
    inline_link_click_ctr: Decimal | None = attrs.field(default=None, metadata=_TEXT)
    cost_per_inline_link_click: Decimal | None = attrs.field(default=None, metadata=_TEXT)
    cost_per_unique_inline_link_click: Decimal | None = attrs.field(default=None, metadata=_TEXT)
    cost_per_inline_post_engagement: Decimal | None = attrs.field(default=None, metadata=_TEXT)
    marketing_messages_delivery_rate: Decimal | None = attrs.field(default=None, metadata=_TEXT)
    marketing_messages_read_rate: Decimal | None = attrs.field(default=None, metadata=_TEXT)
    marketing_messages_link_btn_click_rate: Decimal | None = attrs.field(
        default=None, metadata=_TEXT
    )
    marketing_messages_spend: Decimal | None = attrs.field(default=None, metadata=_TEXT)
    marketing_messages_cost_per_delivered: Decimal | None = attrs.field(
        default=None, metadata=_TEXT
    )
    marketing_messages_cost_per_link_btn_click: Decimal | None = attrs.field(
        default=None, metadata=_TEXT
    )
    # action lists
    actions: Sequence[InsightsAction] = ()
    action_values: Sequence[InsightsAction] = ()
    unique_actions: Sequence[InsightsAction] = ()
    cost_per_action_type: Sequence[InsightsAction] = ()
    cost_per_unique_action_type: Sequence[InsightsAction] = ()
    conversions: Sequence[InsightsAction] = ()
    conversion_values: Sequence[InsightsAction] = ()
    cost_per_conversion: Sequence[InsightsAction] = ()
    outbound_clicks: Sequence[InsightsAction] = ()
    unique_outbound_clicks: Sequence[InsightsAction] = ()
    outbound_clicks_ctr: Sequence[InsightsAction] = ()
    cost_per_outbound_click: Sequence[InsightsAction] = ()
    purchase_roas: Sequence[InsightsAction] = ()
    website_purchase_roas: Sequence[InsightsAction] = ()
    mobile_app_purchase_roas: Sequence[InsightsAction] = ()
    video_play_actions: Sequence[InsightsAction] = ()
    video_thruplay_watched_actions: Sequence[InsightsAction] = ()
    video_avg_time_watched_actions: Sequence[InsightsAction] = ()
    video_p25_watched_actions: Sequence[InsightsAction] = ()
    video_p50_watched_actions: Sequence[InsightsAction] = ()
    video_p75_watched_actions: Sequence[InsightsAction] = ()
    video_p100_watched_actions: Sequence[InsightsAction] = ()


@attrs.frozen(kw_only=True)
class InsightsPage(RawResponse):
    """One page of insights rows (spec: ``GetAdInsightsResponse``).

    Example:
        >>> InsightsPage(data=[InsightsRow(spend=Decimal("1.00"))]).data[0].spend
        Decimal('1.00')
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
