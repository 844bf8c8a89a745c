"""Bad input is refused before any request, with a ValidationError naming the field; Graph
parameters are encoded by Graph's rules."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any

import pytest
from aioresponses import aioresponses

from d360_async import ClientClosedError, D360Client, ValidationError
from d360_async._params import (
    encode_attribution_windows,
    encode_fields,
    encode_filtering,
    encode_time_range,
)

from .conftest import KEY

MESSAGE: dict[str, Any] = {
    "to": "4915112345678",
    "template": {"name": "p", "language": {"code": "en"}},
}


def test_api_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("D360_API_KEY", "from-env")
    assert D360Client()._key == "from-env"


def test_base_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("D360_BASE_URL", "http://127.0.0.1:8080/")
    assert D360Client(KEY).base_url == "http://127.0.0.1:8080"
    assert D360Client(KEY, base_url="https://example.test").base_url == "https://example.test"
    monkeypatch.setenv("D360_BASE_URL", "")
    assert D360Client(KEY).base_url == "https://waba-v2.360dialog.io"
    monkeypatch.setenv("D360_BASE_URL", "ftp://nowhere")
    with pytest.raises(ValidationError, match="base_url"):
        D360Client(KEY)


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_api_key_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    monkeypatch.delenv("D360_API_KEY", raising=False)
    with pytest.raises(ValidationError, match="D360_API_KEY") as info:
        D360Client(value)
    assert info.value.field == "api_key"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("impressions,spend", "impressions,spend"),
        (["impressions", "spend"], "impressions,spend"),
        (
            {"web": ["event_name", {"event_match_quality": ["composite_score"]}]},
            "web{event_name,event_match_quality{composite_score}}",
        ),
        (
            {
                "web": [
                    {
                        "event_match_quality": [
                            "composite_score",
                            {"match_key_feedback": ["identifier", "coverage"]},
                        ]
                    },
                    "acr",
                ]
            },
            "web{event_match_quality{composite_score,match_key_feedback{identifier,coverage}},acr}",
        ),
        (["actions.limit(5)", "spend"], "actions.limit(5),spend"),
    ],
)
def test_fields_rendering(value: Any, expected: str) -> None:
    assert encode_fields(value) == expected


@pytest.mark.parametrize(
    "value", ["web{event_name", "web}event_name{", "a{b}}", "", ["bad name"], [1]]
)
def test_bad_fields_are_rejected(value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        encode_fields(value)
    assert info.value.field == "fields"


def test_time_range_forms() -> None:
    expected = '{"since":"2026-11-01","until":"2026-11-24"}'
    assert encode_time_range({"since": date(2026, 11, 1), "until": "2026-11-24"}) == expected
    assert encode_time_range((datetime(2026, 11, 1, 9), date(2026, 11, 24))) == expected


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"since": "2026-11-02", "until": "2026-11-01"}, "time_range"),
        ({"since": "2026-11-02"}, "time_range"),
        (("2026-13-01", "2026-11-01"), "time_range.since"),
        ((1700000000, 1700086400), "time_range.since"),
        ("2026-11-01", "time_range"),
    ],
)
def test_bad_time_range(value: Any, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        encode_time_range(value)
    assert info.value.field == field


def test_filtering_rules() -> None:
    assert encode_filtering([{"field": "x", "operator": "in", "value": [1, 2]}]) == (
        '[{"field":"x","operator":"IN","value":[1,2]}]'
    )
    with pytest.raises(ValidationError) as info:
        encode_filtering([{"field": "x", "operator": "LIKE", "value": 1}])
    assert info.value.field == "filtering[0].operator"
    with pytest.raises(ValidationError) as info:
        encode_filtering([{"field": "x", "operator": "EQUAL"}])
    assert info.value.field == "filtering[0].value"
    with pytest.raises(ValidationError):
        encode_filtering({"field": "x"})  # type: ignore[arg-type]


def test_attribution_windows() -> None:
    assert encode_attribution_windows("7d_click") == '["7d_click"]'
    assert encode_attribution_windows(["skan_click_second_postback"]) == (
        '["skan_click_second_postback"]'
    )
    with pytest.raises(ValidationError) as info:
        encode_attribution_windows(["1d_click", "3d_click"])
    assert info.value.field == "action_attribution_windows[1]"


Call = Callable[[D360Client], Awaitable[Any]]

BAD_CALLS: list[tuple[str, Call, str]] = [
    ("empty template id", lambda c: c.get_message_template(""), "template_id"),
    ("blank node id", lambda c: c.get_conversion_dataset("  "), "meta_node_id"),
    ("empty ad object", lambda c: c.get_ad_object_insights(""), "ad_object_id"),
    ("empty dataset id", lambda c: c.get_dataset_quality(""), "dataset_id"),
    ("no to", lambda c: c.send_marketing_message({**MESSAGE, "to": ""}), "to"),
    (
        "no template name",
        lambda c: c.send_marketing_message({**MESSAGE, "template": {"language": {"code": "en"}}}),
        "template.name",
    ),
    (
        "no language code",
        lambda c: c.send_marketing_message({**MESSAGE, "template": {"name": "p", "language": {}}}),
        "template.language.code",
    ),
    (
        "no language",
        lambda c: c.send_marketing_message_alt({**MESSAGE, "template": {"name": "p"}}),
        "template.language",
    ),
    ("text message", lambda c: c.send_marketing_message({**MESSAGE, "type": "text"}), "type"),
    ("not a message", lambda c: c.send_marketing_message(["x"]), "message"),  # type: ignore[arg-type]
    (
        "1001 events",
        lambda c: c.post_conversion_events(
            "1", [{"event_name": "Purchase", "event_time": 1}] * 1001
        ),
        "events",
    ),
    ("no events", lambda c: c.post_conversion_events("1", []), "events"),
    (
        "event without name",
        lambda c: c.post_conversion_events("1", [{"event_name": "Purchase"}, {"event_time": 1}]),
        "events[1].event_name",
    ),
    (
        "bad date preset",
        lambda c: c.get_ad_object_insights("a", date_preset="last_8d"),
        "date_preset",
    ),
    ("bad level", lambda c: c.get_ad_object_insights("a", level="region"), "level"),
    ("bad limit", lambda c: c.get_ad_object_insights("a", limit=0), "limit"),
    ("unknown filter", lambda c: c.get_message_templates(colour="red"), "colour"),
    ("after and before", lambda c: c.get_message_templates(after="a", before="b"), "after"),
    (
        "start after end",
        lambda c: c.get_template_analytics(start=10, end=5, template_ids=["1"]),
        "end",
    ),
    (
        "naive datetime",
        lambda c: c.get_template_analytics(start=datetime(2026, 1, 1), end=5, template_ids=["1"]),
        "start",
    ),
    (
        "no template ids",
        lambda c: c.get_template_analytics(start=1, end=5, template_ids=[]),
        "template_ids",
    ),
    (
        "bad metric",
        lambda c: c.get_template_analytics(
            start=1, end=5, template_ids=["1"], metric_types=["VIEWS"]
        ),
        "metric_types",
    ),
    (
        "bad granularity",
        lambda c: c.get_template_analytics(
            start=1, end=5, template_ids=["1"], granularity="HOURLY"
        ),
        "granularity",
    ),
    ("blank dataset name", lambda c: c.post_conversion_dataset("1", name=""), "name"),
]


@pytest.mark.parametrize(("case", "call", "field"), BAD_CALLS, ids=[b[0] for b in BAD_CALLS])
async def test_bad_input_is_refused_before_any_request(
    mock_api: aioresponses, client: D360Client, case: str, call: Call, field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        await call(client)
    assert info.value.field == field
    assert mock_api.requests == {}


async def test_iterators_validate_eagerly(client: D360Client) -> None:
    with pytest.raises(ValidationError):
        client.iter_message_templates(limit=-1)
    with pytest.raises(ValidationError):
        client.iter_ad_object_insights("act_1", level="nope")
    with pytest.raises(ValidationError):
        client.iter_ad_object_insights("act_1", after="x")


async def test_closed_client_refuses_work() -> None:
    client = D360Client(KEY)
    await client.close()
    with pytest.raises(ClientClosedError, match="closed") as info:
        await client.get_message_template("1")
    assert not isinstance(info.value, RuntimeError)
    assert info.value.maybe_sent is False
