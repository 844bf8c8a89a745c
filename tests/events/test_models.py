"""Event model helpers and the checks an event must pass before it is sent."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from d360_async import (
    ActionSource,
    ConversionEvent,
    CustomData,
    MessagingChannel,
    UserData,
    ValidationError,
)
from d360_async._converter import unstructure
from d360_async._models_events import (
    FUTURE_SKEW,
    MAX_EVENT_AGE,
    EventsReport,
    check_event,
    new_event_id,
)

NOW = 1_767_312_000
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def event(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_name": "Purchase",
        "event_time": NOW - 60,
        "action_source": "business_messaging",
        "messaging_channel": "whatsapp",
        "custom_data": {"currency": "EUR", "value": 42.5},
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def test_event_ids_are_random_uuids() -> None:
    ids = {new_event_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(UUID4.fullmatch(i) for i in ids)


def test_with_event_id_adds_one_only_when_missing() -> None:
    bare = ConversionEvent(event_name="Purchase", event_time=NOW)
    with_id = bare.with_event_id()
    assert bare.event_id is None
    assert with_id.event_id is not None and UUID4.fullmatch(with_id.event_id)
    assert with_id.with_event_id() is with_id
    kept = ConversionEvent(event_name="Purchase", event_time=NOW, event_id="order-1")
    assert kept.with_event_id().event_id == "order-1"


def test_defaults_and_datetime() -> None:
    e = ConversionEvent(event_name="Purchase", event_time=datetime(2026, 1, 2, tzinfo=UTC))
    assert e.event_time == NOW
    assert e.action_source is ActionSource.BUSINESS_MESSAGING
    assert e.messaging_channel is MessagingChannel.WHATSAPP
    web = ConversionEvent(event_name="Purchase", event_time=NOW, action_source=ActionSource.WEBSITE)
    assert web.messaging_channel is None
    assert "messaging_channel" not in unstructure(web)
    with pytest.raises(ValidationError, match="timezone-aware"):
        ConversionEvent(event_name="Purchase", event_time=datetime(2026, 1, 2))


def test_user_data_takes_a_single_string_for_list_keys() -> None:
    data = UserData(em="mary@example.com", ph=["+1 650 555 1212", "+1 650 555 1213"])
    assert unstructure(data) == {
        "em": ["mary@example.com"],
        "ph": ["+1 650 555 1212", "+1 650 555 1213"],
    }


def test_a_valid_event_passes() -> None:
    check_event(event(), NOW)
    check_event(event(event_name="LeadSubmitted", custom_data=None), NOW)
    check_event(event(event_time=NOW - MAX_EVENT_AGE), NOW)
    check_event(event(event_time=NOW + FUTURE_SKEW), NOW)  # clock skew allowed
    check_event(event(custom_data={"currency": "usd", "value": Decimal("9.99")}), NOW)
    check_event(event(action_source=ActionSource.WEBSITE, messaging_channel=None), NOW)


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"event_name": None}, "event_name", "is required"),
        ({"event_name": "  "}, "event_name", "is required"),
        ({"event_time": None}, "event_time", "Unix seconds"),
        ({"event_time": "1767311940"}, "event_time", "Unix seconds"),
        ({"event_time": True}, "event_time", "Unix seconds"),
        ({"event_time": NOW - MAX_EVENT_AGE - 1}, "event_time", "older than 7 days"),
        ({"event_time": NOW + FUTURE_SKEW + 1}, "event_time", "in the future"),
        ({"action_source": "fax"}, "action_source", "must be one of"),
        ({"action_source": None}, "action_source", "must be one of"),
        ({"messaging_channel": "telegram"}, "messaging_channel", "must be one of"),
        ({"event_id": 7}, "event_id", "non-empty string"),
        ({"user_data": ["em"]}, "user_data", "must be an object"),
        ({"custom_data": "EUR 42"}, "custom_data", "must be an object"),
        ({"custom_data": None}, "custom_data", "required for Purchase"),
        ({"custom_data": {"value": 1}}, "custom_data", "required for Purchase"),
        ({"custom_data": {"currency": "EUR"}}, "custom_data", "required for Purchase"),
        ({"custom_data": {"currency": "EURO", "value": 1}}, "custom_data.currency", "ISO 4217"),
        ({"custom_data": {"currency": "XYZ", "value": 1}}, "custom_data.currency", "ISO 4217"),
        ({"custom_data": {"currency": "EUR", "value": "42"}}, "custom_data.value", "number"),
        ({"custom_data": {"currency": "EUR", "value": True}}, "custom_data.value", "number"),
        (
            {"custom_data": {"currency": "EUR", "value": float("nan")}},
            "custom_data.value",
            "finite",
        ),
        (
            {"custom_data": {"currency": "EUR", "value": 1, "content_type": "sku"}},
            "custom_data.content_type",
            "must be one of",
        ),
        (
            {"custom_data": {"currency": "EUR", "value": 1, "num_items": 1.5}},
            "custom_data.num_items",
            "integer",
        ),
        (
            {"custom_data": {"currency": "EUR", "value": 1, "contents": {"id": "a"}}},
            "custom_data.contents",
            "must be a list",
        ),
        (
            {
                "custom_data": {
                    "currency": "EUR",
                    "value": 1,
                    "contents": [{"id": "a"}, {"id": "b", "delivery_category": "drone"}],
                }
            },
            "custom_data.contents[1].delivery_category",
            "must be one of",
        ),
    ],
)
def test_invalid_events(changes: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason) as caught:
        check_event(event(**changes), NOW)
    assert caught.value.field == field


def test_validate_on_the_model() -> None:
    good = ConversionEvent(
        event_name="Purchase",
        event_time=NOW - 10,
        custom_data=CustomData(currency="EUR", value=3.0),
    )
    good.validate(now=NOW)
    with pytest.raises(ValidationError) as caught:
        ConversionEvent(event_name="Purchase", event_time=NOW - MAX_EVENT_AGE - 5).validate(now=NOW)
    assert caught.value.field == "event_time"


def test_report_rate() -> None:
    report = EventsReport(
        total=10, sent=10, received=8, rejected=2, failed=0, batches=1, requests=2, elapsed=2.0
    )
    assert report.rate == 4.0
    assert (
        EventsReport(
            total=0, sent=0, received=0, rejected=0, failed=0, batches=0, requests=0, elapsed=0.0
        ).rate
        == 0.0
    )
