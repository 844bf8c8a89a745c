"""Every field Meta documents for message templates and Ads Insights rows is typed; numbers
are numbers (without loss); unknown fields still never break parsing and ``raw`` keeps all."""

from __future__ import annotations

import copy
import random
import re
from decimal import Decimal
from typing import Any

import pytest
from aioresponses import aioresponses
from hypothesis import given, settings
from hypothesis import strategies as st

from d360_async import APIResponseError, D360Client
from d360_async._converter import structure, unstructure
from d360_async._models_insights import InsightsPage, InsightsRow
from d360_async._models_templates import (
    HeaderFormat,
    MessageTemplate,
    OtpType,
    ParameterFormat,
    QualityScore,
    TemplateButtonType,
    TemplateCategory,
    TemplateComponentType,
)

from . import meta_samples as meta
from .conftest import API
from .spec import response_validator


async def _template(mock_api: aioresponses, client: D360Client, body: dict[str, Any]) -> Any:
    mock_api.get(re.compile(rf"^{API}/marketing/\d+$"), payload=body)
    return await client.get_message_template(body["id"])


async def test_named_template_fields(mock_api: aioresponses, client: D360Client) -> None:
    t = await _template(mock_api, client, meta.NAMED_TEMPLATE)

    assert t.parameter_format is ParameterFormat.NAMED
    assert t.previous_category is TemplateCategory.UTILITY
    assert t.sub_category == "CUSTOM"
    assert t.quality_score.score is QualityScore.GREEN
    assert t.quality_score.date == 1764028800
    assert t.message_send_ttl_seconds == 43200
    assert t.cta_url_link_tracking_opted_out is False
    header, body, footer, buttons = t.components
    assert header.format is HeaderFormat.TEXT
    assert [(p.param_name, p.example) for p in header.example.header_text_named_params] == [
        ("first_name", "Ada")
    ]
    assert [p.param_name for p in body.example.body_text_named_params] == [
        "first_name",
        "points",
        "expiry",
    ]
    assert footer.text == "Reply STOP to opt out"
    assert buttons.buttons[0].example == ("https://shop.example/points/ada-120",)
    # Named placeholders are counted (they were 0: only {{1}} was recognised).
    assert t.body_placeholder_count == 3
    assert t.body_placeholders == ("first_name", "points", "expiry")
    assert t.header_placeholders == ("first_name",)


async def test_carousel_cards_have_typed_components(
    mock_api: aioresponses, client: D360Client
) -> None:
    t = await _template(mock_api, client, meta.CAROUSEL_TEMPLATE)

    body, carousel = t.components
    assert body.example.body_text == (("Ada",),)
    assert carousel.type is TemplateComponentType.CAROUSEL
    first, second = carousel.cards
    header, card_body, card_buttons = first.components
    assert header.format is HeaderFormat.IMAGE
    assert header.example.header_handle == ("4::aW1hZ2UvanBlZw==:ARb1",)
    assert card_body.example.body_text == (("79 EUR",),)
    assert [b.type for b in card_buttons.buttons] == [
        TemplateButtonType.QUICK_REPLY,
        TemplateButtonType.URL,
    ]
    assert second.components[0].format is HeaderFormat.VIDEO
    assert t.quality_score.score is QualityScore.YELLOW
    assert t.parameter_format is ParameterFormat.POSITIONAL
    assert t.body_placeholders == ("1",)


async def test_authentication_template_otp_button(
    mock_api: aioresponses, client: D360Client
) -> None:
    t = await _template(mock_api, client, meta.AUTH_TEMPLATE)

    body, footer, buttons = t.components
    assert body.add_security_recommendation is True
    assert footer.code_expiration_minutes == 10
    (otp,) = buttons.buttons
    assert otp.type is TemplateButtonType.OTP
    assert otp.otp_type is OtpType.ONE_TAP
    assert otp.autofill_text == "Autofill"
    assert [(a.package_name, a.signature_hash) for a in otp.supported_apps] == [
        ("com.example.shop", "K8a%2FAINcGX7")
    ]
    assert t.category is TemplateCategory.AUTHENTICATION
    assert t.message_send_ttl_seconds == 600
    assert t.quality_score.score is QualityScore.UNKNOWN and t.quality_score.date is None


async def test_rejected_template_with_flow_button_and_offer(
    mock_api: aioresponses, client: D360Client
) -> None:
    t = await _template(mock_api, client, meta.FLOW_TEMPLATE)

    assert t.rejected_reason == "INVALID_FORMAT"
    assert t.correct_category is TemplateCategory.MARKETING
    header, _, offer, buttons = t.components
    assert header.format is HeaderFormat.LOCATION
    assert offer.type is TemplateComponentType.LIMITED_TIME_OFFER
    assert (offer.limited_time_offer.text, offer.limited_time_offer.has_expiration) == (
        "Offer ends soon",
        True,
    )
    code, flow, phone = buttons.buttons
    assert (code.type, code.example) == (TemplateButtonType.COPY_CODE, ("VIP2025",))
    assert (flow.type, flow.flow_id, flow.flow_action, flow.navigate_screen) == (
        TemplateButtonType.FLOW,
        "1409856726541234",
        "navigate",
        "WELCOME_SCREEN",
    )
    assert phone.phone_number == "+4930123456"
    assert t.raw == meta.FLOW_TEMPLATE


_NOISE: tuple[Any, ...] = (42, "new", None, [1, 2], {"nested": True}, 1.5, False)


def _with_unknown_keys(value: Any, rnd: random.Random) -> Any:
    if isinstance(value, dict):
        out = {k: _with_unknown_keys(v, rnd) for k, v in value.items()}
        if rnd.random() < 0.5:
            out[f"zz_{rnd.randrange(10**6)}"] = rnd.choice(_NOISE)
        return out
    if isinstance(value, list):
        return [_with_unknown_keys(v, rnd) for v in value]
    return value


@settings(max_examples=60)
@given(st.sampled_from(meta.TEMPLATES), st.randoms(use_true_random=False))
def test_unknown_fields_anywhere_never_break_parsing(
    sample: dict[str, Any], rnd: random.Random
) -> None:
    noisy = _with_unknown_keys(copy.deepcopy(sample), rnd)
    assert structure(noisy, MessageTemplate) == structure(sample, MessageTemplate)
    assert structure(noisy, MessageTemplate).raw == noisy


# --- ads insights -----------------------------------------------------------------------------


async def test_insights_numbers_are_numbers_without_loss(
    mock_api: aioresponses, client: D360Client
) -> None:
    mock_api.get(re.compile(rf"^{API}/marketing/act_1/insights.*"), payload=meta.INSIGHTS_PAGE)
    page = await client.get_ad_object_insights("act_1", level="ad")
    row = page.data[0]

    assert (row.impressions, row.reach, row.clicks, row.unique_clicks) == (18211, 15020, 412, 371)
    assert type(row.impressions) is int
    assert row.spend == Decimal("152.33") and str(row.spend) == "152.33"
    assert str(row.frequency) == "1.212450"  # the digits Meta sent, not a binary float
    assert (row.cpc, row.cpm, row.cpp, row.ctr) == (
        Decimal("0.369733"),
        Decimal("8.364725"),
        Decimal("10.141811"),
        Decimal("2.262369"),
    )
    assert row.inline_link_clicks == 398
    assert row.marketing_messages_sent == 20000
    assert row.marketing_messages_spend == Decimal("98.15")
    assert row.marketing_messages_delivery_rate == Decimal("95.6")
    # Sums of money are exact.
    assert row.spend + row.marketing_messages_spend == Decimal("250.48")


async def test_insights_names_actions_and_values(
    mock_api: aioresponses, client: D360Client
) -> None:
    mock_api.get(re.compile(rf"^{API}/marketing/act_1/insights.*"), payload=meta.INSIGHTS_PAGE)
    row = (await client.get_ad_object_insights("act_1")).data[0]

    assert (row.account_name, row.campaign_name, row.adset_name, row.ad_name) == (
        "Shop Example GmbH",
        "Autumn sale - WhatsApp",
        "DE 25-44",
        "Carousel A",
    )
    assert (row.account_currency, row.objective, row.attribution_setting) == (
        "EUR",
        "OUTCOME_SALES",
        "7d_click_1d_view",
    )
    link = row.actions[0]
    assert (link.action_type, link.value, link.click_1d, link.click_7d) == (
        "link_click",
        Decimal(398),
        Decimal(300),
        Decimal(398),
    )
    assert row.actions[1].view_1d == Decimal(4)
    assert [(a.action_type, a.value) for a in row.action_values] == [
        ("offsite_conversion.fb_pixel_purchase", Decimal("1519.83")),
        ("omni_purchase", Decimal("1519.83")),
    ]
    assert row.action_values[1].click_7d == Decimal("1402.10")
    assert row.cost_per_action_type[1].value == Decimal("8.960588")
    assert row.purchase_roas[0].value == Decimal("9.977221")
    assert (row.age, row.gender, row.marketing_messages_btn_name) == ("25-34", "female", "Shop now")
    assert row.raw["a_metric_meta_adds_tomorrow"] == "42"


def test_insights_wire_form_is_meta_strings_and_validates() -> None:
    page = structure(meta.INSIGHTS_PAGE, InsightsPage)
    wire = unstructure(page)
    row = wire["data"][0]
    assert (row["impressions"], row["spend"], row["frequency"]) == ("18211", "152.33", "1.212450")
    assert row["actions"][0] == {
        "action_type": "link_click",
        "value": "398",
        "1d_click": "300",
        "7d_click": "398",
    }
    assert not list(response_validator("get-ad-object-insights", 200).iter_errors(wire))
    assert structure(wire, InsightsPage) == page


def test_numbers_sent_as_json_numbers_are_kept_exactly() -> None:
    row = structure({"spend": 152.33, "impressions": 18211, "ctr": 2.5}, InsightsRow)
    assert (row.spend, row.impressions, row.ctr) == (Decimal("152.33"), 18211, Decimal("2.5"))


@pytest.mark.parametrize("bad", ["N/A", "", "1.5e", True, [1]])
async def test_a_malformed_number_is_a_clear_response_error(
    mock_api: aioresponses, client: D360Client, bad: Any
) -> None:
    mock_api.get(
        re.compile(rf"^{API}/marketing/act_1/insights.*"), payload={"data": [{"spend": bad}]}
    )
    with pytest.raises(APIResponseError, match="InsightsPage"):
        await client.get_ad_object_insights("act_1")
