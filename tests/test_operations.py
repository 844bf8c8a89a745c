"""Each of the 11 operations: the exact request (method, path, query, header, body) and the
parsed, typed response."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from aioresponses import aioresponses

from d360_async import (
    ActionSource,
    ComponentType,
    ConversionEvent,
    D360Client,
    LanguageObject,
    MarketingMessageRequest,
    MessageStatus,
    MetricType,
    ParameterType,
    TemplateComponent,
    TemplateComponentType,
    TemplateObject,
    TemplateParameter,
    TemplateStatus,
    UploadFrequency,
    UserData,
)

from . import samples
from .conftest import API, KEY, only_request, query, requests_to, sent_json

ANY_QUERY = re.compile(r".*")


def url(path: str) -> re.Pattern[str]:
    """Match ``path`` with any query string."""
    return re.compile(re.escape(API + path) + r"(\?.*)?$")


def check_headers(call: dict[str, object], *, body: bool) -> None:
    headers = call["headers"]
    assert isinstance(headers, Mapping)
    assert headers["User-Agent"].startswith("d360-async/")
    assert headers["D360-API-KEY"] == KEY
    assert ("Content-Type" in headers) is body


async def test_get_dataset_quality(mock_api: aioresponses, client: D360Client) -> None:
    mock_api.get(url("/marketing/dataset_quality"), payload=samples.DATASET_QUALITY)
    result = await client.get_dataset_quality(
        "998877",
        agent_name="partner_x",
        fields={"web": ["event_name", {"event_match_quality": ["composite_score"]}]},
    )
    call = only_request(mock_api, "GET", "/marketing/dataset_quality")
    check_headers(call, body=False)
    assert query(call) == {
        "dataset_id": "998877",
        "agent_name": "partner_x",
        "fields": "web{event_name,event_match_quality{composite_score}}",
    }
    assert call["data"] is None
    entry = result.web[0]
    assert entry.event_name == "Purchase"
    assert entry.event_match_quality is not None
    assert entry.event_match_quality.composite_score == 7.4
    assert entry.event_match_quality.match_key_feedback[1].identifier == "ph"
    assert entry.event_match_quality.diagnostics[0].affected_event_count == 400
    assert entry.data_freshness is not None
    assert entry.data_freshness.upload_frequency is UploadFrequency.REAL_TIME
    assert result.raw == samples.DATASET_QUALITY


@pytest.mark.parametrize(
    ("method_name", "path"),
    [
        ("send_marketing_message", "/marketing_messages"),
        ("send_marketing_message_alt", "/marketing/marketing_messages"),
    ],
)
async def test_send_marketing_message_model(
    mock_api: aioresponses, client: D360Client, method_name: str, path: str
) -> None:
    mock_api.post(API + path, payload=samples.SEND_OK)
    message = MarketingMessageRequest(
        to="4915112345678",
        template=TemplateObject(
            name="spring_sale",
            language=LanguageObject(code="en_US", policy="deterministic"),
            components=[
                TemplateComponent(
                    type=ComponentType.BODY,
                    parameters=[TemplateParameter(type=ParameterType.TEXT, text="Ada")],
                )
            ],
        ),
        message_send_ttl_seconds=3600,
    )
    response = await getattr(client, method_name)(message)
    call = only_request(mock_api, "POST", path)
    check_headers(call, body=True)
    assert query(call) == {}
    assert sent_json(call) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "type": "template",
        "to": "4915112345678",
        "template": {
            "name": "spring_sale",
            "language": {"code": "en_US", "policy": "deterministic"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ada"}]}],
        },
        "message_send_ttl_seconds": 3600,
    }
    assert response.message_id == "wamid.HBgNNDkxNTExMjM0NTY3OBUCABEYEjQ2"
    assert response.messages[0].message_status is MessageStatus.ACCEPTED
    assert response.contacts[0].wa_id == "4915112345678"


async def test_send_marketing_message_dict_fills_defaults_and_keeps_unknown_keys(
    mock_api: aioresponses, client: D360Client
) -> None:
    mock_api.post(API + "/marketing_messages", payload=samples.SEND_OK)
    message = {
        "to": "4915112345678",
        "template": {"name": "spring_sale", "language": {"code": "en", "policy": "deterministic"}},
        "message_send_ttl_seconds": 600,
        "future_field": {"nested": True},
    }
    await client.send_marketing_message(message)
    body = sent_json(only_request(mock_api, "POST", "/marketing_messages"))
    assert body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "type": "template",
        **message,
    }
    assert "messaging_product" not in message  # the caller's dict is not modified


async def test_get_message_templates_one_page(mock_api: aioresponses, client: D360Client) -> None:
    mock_api.get(url("/marketing/message_templates"), payload=samples.TEMPLATES_PAGE_1)
    page = await client.get_message_templates(
        limit=2, after="QVFIUmxB", status="APPROVED", language="en_US"
    )
    call = only_request(mock_api, "GET", "/marketing/message_templates")
    check_headers(call, body=False)
    assert query(call) == {
        "limit": "2",
        "after": "QVFIUmxB",
        "status": "APPROVED",
        "language": "en_US",
    }
    assert [t.name for t in page.data] == ["spring_sale", "autumn_sale"]
    assert page.paging is not None and page.paging.cursors is not None
    assert page.paging.cursors.after == "QVFIUzJB"
    template = page.data[0]
    assert template.status is TemplateStatus.APPROVED
    assert template.components[1].type is TemplateComponentType.BODY
    assert template.body_placeholder_count == 3


async def test_iter_message_templates_follows_cursors(
    mock_api: aioresponses, client: D360Client
) -> None:
    mock_api.get(url("/marketing/message_templates"), payload=samples.TEMPLATES_PAGE_1)
    mock_api.get(url("/marketing/message_templates"), payload=samples.TEMPLATES_PAGE_2)
    names = [t.name async for t in client.iter_message_templates(limit=2, category="MARKETING")]
    assert names == ["spring_sale", "autumn_sale", "winter_sale"]
    calls = requests_to(mock_api, "GET", "/marketing/message_templates")
    assert [query(c) for c in calls] == [
        {"limit": "2", "category": "MARKETING"},
        {"limit": "2", "category": "MARKETING", "after": "QVFIUzJB"},
    ]


async def test_get_message_template(mock_api: aioresponses, client: D360Client) -> None:
    mock_api.get(API + "/marketing/1029384756", payload=samples.TEMPLATE)
    template = await client.get_message_template("1029384756")
    call = only_request(mock_api, "GET", "/marketing/1029384756")
    check_headers(call, body=False)
    assert template.id == "1029384756"
    assert template.components[3].buttons[0].url == "https://shop.example/{{1}}"


async def test_path_ids_are_escaped(mock_api: aioresponses, client: D360Client) -> None:
    mock_api.get(re.compile(r".*"), payload=samples.TEMPLATE)
    await client.get_message_template("a/b?c")
    ((_, sent_url),) = mock_api.requests
    assert sent_url.raw_path == "/marketing/a%2Fb%3Fc"


async def test_get_template_analytics(mock_api: aioresponses, client: D360Client) -> None:
    mock_api.get(url("/marketing/template_analytics"), payload=samples.ANALYTICS)
    result = await client.get_template_analytics(
        start=datetime(2026, 11, 1, tzinfo=UTC),
        end=date(2026, 11, 25),
        template_ids=["1029384756"],
        metric_types=[MetricType.SENT, "CLICKED"],
    )
    call = only_request(mock_api, "GET", "/marketing/template_analytics")
    check_headers(call, body=False)
    assert query(call) == {
        "start": "1793491200",
        "end": "1795564800",
        "granularity": "DAILY",
        "metric_types": '["SENT","CLICKED"]',
        "template_ids": '["1029384756"]',
        "product_type": "MARKETING_MESSAGES_LITE_API",
    }
    (point,) = result.data_points
    assert (point.template_id, point.start, point.end) == ("1029384756", 1764028800, 1764115200)
    assert (point.sent, point.clicks, point.delivered) == (1200, 87, None)


async def test_template_analytics_product_type_none_is_omitted(
    mock_api: aioresponses, client: D360Client
) -> None:
    mock_api.get(url("/marketing/template_analytics"), payload=samples.ANALYTICS)
    await client.get_template_analytics(start=1, end=2, template_ids=["1"], product_type=None)
    call = only_request(mock_api, "GET", "/marketing/template_analytics")
    assert "product_type" not in query(call)
    assert "metric_types" not in query(call)


async def test_template_analytics_splits_more_than_ten_ids(
    mock_api: aioresponses, client: D360Client
) -> None:
    ids = [str(1000 + i) for i in range(23)]
    for chunk_start in (0, 10, 20):
        sent = {"metric_type": "SENT", "data_points": [{"start": 0, "end": 86400, "value": 1}]}
        body = {
            "id": "waba",
            "template_analytics": [
                {"template_id": t, "analytics": [sent]} for t in ids[chunk_start : chunk_start + 10]
            ],
        }
        mock_api.get(url("/marketing/template_analytics"), payload=body)
    result = await client.get_template_analytics(start=1, end=2, template_ids=ids)
    calls = requests_to(mock_api, "GET", "/marketing/template_analytics")
    sent = [query(c)["template_ids"] for c in calls]
    assert [len(s.split(",")) for s in sent] == [10, 10, 3]
    assert [p.template_id for p in result.data_points] == ids
    assert result.id == "waba"
    assert len(result.raw["responses"]) == 3


async def test_enable_template_analytics(mock_api: aioresponses, client: D360Client) -> None:
    mock_api.post(url("/marketing/template_analytics"), payload=samples.ENABLE_ANALYTICS)
    result = await client.enable_template_analytics()
    call = only_request(mock_api, "POST", "/marketing/template_analytics")
    check_headers(call, body=True)
    assert query(call) == {"enable": "true"}
    assert sent_json(call) == {}
    assert result.success is True


async def test_get_ad_object_insights(mock_api: aioresponses, client: D360Client) -> None:
    mock_api.get(url("/marketing/act_123/insights"), payload=samples.INSIGHTS_PAGE_1)
    page = await client.get_ad_object_insights(
        "act_123",
        fields=["campaign_id", "impressions", "spend", "marketing_messages_sent"],
        time_range=(date(2026, 11, 1), date(2026, 11, 24)),
        level="campaign",
        filtering=[{"field": "spend", "operator": "greater_than", "value": 0}],
        sort="spend_descending",
        breakdowns=["marketing_messages_btn_name"],
        action_breakdowns=["action_type", "action_device"],
        action_attribution_windows=["1d_click", "7d_view"],
        use_unified_attribution_setting=True,
        limit=50,
        after="MAZDZD",
    )
    call = only_request(mock_api, "GET", "/marketing/act_123/insights")
    check_headers(call, body=False)
    assert query(call) == {
        "fields": "campaign_id,impressions,spend,marketing_messages_sent",
        "time_range": '{"since":"2026-11-01","until":"2026-11-24"}',
        "level": "campaign",
        "filtering": '[{"field":"spend","operator":"GREATER_THAN","value":0}]',
        "sort": "spend_descending",
        "breakdowns": "marketing_messages_btn_name",
        "action_breakdowns": "action_type,action_device",
        "action_attribution_windows": '["1d_click","7d_view"]',
        "use_unified_attribution_setting": "true",
        "limit": "50",
        "after": "MAZDZD",
    }
    row = page.data[0]
    assert (row.campaign_id, row.impressions, row.spend) == (
        "120210000000001",
        18211,
        Decimal("152.33"),
    )
    assert row.actions[0].click_1d == Decimal(300)
    assert row.marketing_messages_sent == 20000
    assert row.raw["marketing_messages_sent"] == "20000"


async def test_iter_ad_object_insights(mock_api: aioresponses, client: D360Client) -> None:
    mock_api.get(url("/marketing/act_123/insights"), payload=samples.INSIGHTS_PAGE_1)
    mock_api.get(url("/marketing/act_123/insights"), payload=samples.INSIGHTS_PAGE_2)
    rows = [r async for r in client.iter_ad_object_insights("act_123", date_preset="last_7d")]
    assert [r.campaign_id for r in rows] == ["120210000000001", "120210000000002"]
    calls = requests_to(mock_api, "GET", "/marketing/act_123/insights")
    assert [query(c) for c in calls] == [
        {"date_preset": "last_7d"},
        {"date_preset": "last_7d", "after": "MQZDZD"},
    ]


async def test_get_conversion_dataset(mock_api: aioresponses, client: D360Client) -> None:
    mock_api.get(API + "/marketing/102290129340398/dataset", payload=samples.DATASET)
    dataset = await client.get_conversion_dataset("102290129340398")
    call = only_request(mock_api, "GET", "/marketing/102290129340398/dataset")
    check_headers(call, body=False)
    assert (dataset.id, dataset.name) == ("1122334455667788", "WhatsApp conversions")


async def test_post_conversion_dataset(mock_api: aioresponses, client: D360Client) -> None:
    mock_api.post(API + "/marketing/102290129340398/dataset", payload=samples.DATASET)
    dataset = await client.post_conversion_dataset("102290129340398", name="shop")
    call = only_request(mock_api, "POST", "/marketing/102290129340398/dataset")
    check_headers(call, body=True)
    assert sent_json(call) == {"name": "shop"}
    assert dataset.id == "1122334455667788"


async def test_post_conversion_events(mock_api: aioresponses, client: D360Client) -> None:
    mock_api.post(API + "/marketing/1122334455667788/events", payload=samples.EVENTS_OK)
    typed = ConversionEvent(
        event_name="Purchase",
        event_time=datetime(2026, 11, 25, 12, tzinfo=UTC),
        event_id="evt-1",
        user_data=UserData(ctwa_clid="ARAkLkA8rmlF", whatsapp_business_account_id="1029"),
    )
    plain = {"event_name": "LeadSubmitted", "event_time": 1764072000, "custom_x": 1}
    result = await client.post_conversion_events(
        "1122334455667788", [typed, plain], test_event_code="TEST42", partner_agent="d360"
    )
    call = only_request(mock_api, "POST", "/marketing/1122334455667788/events")
    check_headers(call, body=True)
    assert sent_json(call) == {
        "data": [
            {
                "event_name": "Purchase",
                "event_time": 1795608000,
                "action_source": ActionSource.BUSINESS_MESSAGING.value,
                "messaging_channel": "whatsapp",
                "event_id": "evt-1",
                "user_data": {
                    "ctwa_clid": "ARAkLkA8rmlF",
                    "whatsapp_business_account_id": "1029",
                },
            },
            plain,
        ],
        "test_event_code": "TEST42",
        "partner_agent": "d360",
    }
    assert result.events_received == 2
    assert result.fbtrace_id == "AbCdEfGhIjKlMnOp"
