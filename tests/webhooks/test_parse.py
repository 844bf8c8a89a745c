"""parse_webhook: Meta's envelope to typed models; bodies that are not webhooks are typed errors
naming where they are wrong; no phone number in any repr or error."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

import d360_async
from d360_async import D360Error, ValidationError
from d360_async.webhooks import (
    DeliveryStatus,
    StatusUpdate,
    Webhook,
    WebhookError,
    WebhookSignatureError,
    parse_webhook,
)

from . import samples
from .samples import PHONE


def parse(data: Any) -> Webhook:
    return parse_webhook(json.dumps(data).encode(), {})


def error_of(data: Any) -> WebhookError:
    with pytest.raises(WebhookError) as info:
        parse(data)
    return info.value


def test_every_part_of_a_documented_webhook_is_typed() -> None:
    hook = parse(samples.EVERYTHING)

    assert hook.object == "whatsapp_business_account"
    assert [e.id for e in hook.entry] == [samples.WABA_ID]
    sent, delivered, read, failed = hook.statuses
    assert [s.status for s in hook.statuses] == [
        DeliveryStatus.SENT,
        DeliveryStatus.DELIVERED,
        DeliveryStatus.READ,
        DeliveryStatus.FAILED,
    ]
    assert sent.id == samples.SENT["id"] and sent.recipient_id == PHONE
    assert sent.timestamp == datetime(2026, 1, 2, tzinfo=UTC)
    assert sent.timestamp.tzinfo is UTC
    assert sent.biz_opaque_callback_data == "campaign-7"
    assert sent.conversation is not None and sent.conversation.origin is not None
    assert sent.conversation.origin.type == "marketing_lite"
    assert sent.conversation.expiration_timestamp == datetime(2026, 1, 3, tzinfo=UTC)
    assert sent.pricing is not None
    assert (sent.pricing.billable, sent.pricing.pricing_model, sent.pricing.category) == (
        True,
        "PMP",
        "marketing_lite",
    )
    assert delivered.pricing is not None and delivered.conversation is None
    assert read.pricing is None and read.errors == ()
    assert failed.error_code == 131049
    assert failed.errors[0].title is not None and failed.errors[0].details is not None
    assert failed.errors[0].href is not None

    button, text = hook.messages
    assert (button.type, button.sender, button.button and button.button.payload) == (
        "button",
        PHONE,
        "unsubscribe",
    )
    assert button.context is not None and button.context.id == samples.SENT["id"]
    assert text.text is not None and text.text.body is not None
    assert [c.wa_id for c in hook.contacts] == [PHONE]
    assert hook.contacts[0].profile is not None and hook.contacts[0].profile.name == "Ada Lovelace"
    assert [e.code for e in hook.errors] == [131047]
    metadata = hook.entry[0].changes[0].value
    assert metadata is not None and metadata.metadata is not None
    assert metadata.metadata.phone_number_id == samples.METADATA["phone_number_id"]


def test_other_fields_are_kept_raw_and_reachable() -> None:
    hook = parse(samples.EVERYTHING)
    template_change = hook.entry[0].changes[2]
    assert template_change.field == "message_template_status_update"
    assert template_change.value is None
    assert template_change.raw["value"]["event"] == "PAUSED"
    assert hook.raw == samples.EVERYTHING


def test_unknown_fields_never_break_parsing_and_stay_in_raw() -> None:
    data = samples.envelope(samples.messages_change(statuses=[samples.SENT]))
    data["brand_new"] = {"x": 1}
    data["entry"][0]["time"] = 1767312000
    status = data["entry"][0]["changes"][0]["value"]["statuses"][0]
    status["mm_lite_cost"] = {"amount": 0.0123, "currency": "EUR"}
    status["pricing"]["new_pricing_field"] = [1, 2]
    status["conversation"]["origin"]["extra"] = True

    (parsed,) = parse(data).statuses

    assert parsed.raw["mm_lite_cost"] == {"amount": 0.0123, "currency": "EUR"}
    assert parsed.pricing is not None and parsed.pricing.category == "marketing_lite"


def test_an_unknown_status_value_is_kept_as_a_string() -> None:
    (status,) = parse(
        samples.envelope(samples.messages_change(statuses=[{**samples.READ, "status": "seen"}]))
    ).statuses
    assert status.status == "seen"
    assert not isinstance(status.status, DeliveryStatus)


def test_a_status_without_recipient_id_is_kept() -> None:
    """Meta is moving to business-scoped user ids: a status may carry one instead."""
    bsuid = {**samples.READ, "recipient_user_id": "US.13491208655302741918"}
    del bsuid["recipient_id"]
    (status,) = parse(samples.envelope(samples.messages_change(statuses=[bsuid]))).statuses
    assert (status.recipient_id, status.recipient_user_id) == (None, "US.13491208655302741918")


def test_numbers_where_strings_are_expected_are_accepted() -> None:
    data = samples.envelope(samples.messages_change(statuses=[{**samples.READ, "timestamp": 5}]))
    data["entry"][0]["id"] = 102290129340398
    hook = parse(data)
    assert hook.entry[0].id == "102290129340398"
    assert hook.statuses[0].timestamp == datetime(1970, 1, 1, 0, 0, 5, tzinfo=UTC)


def test_a_webhook_with_no_entries_is_empty_not_an_error() -> None:
    assert parse({"object": "whatsapp_business_account", "entry": []}).statuses == ()


def _status_with(**fields: Any) -> dict[str, Any]:
    status = copy.deepcopy(samples.SENT)
    for key, new in fields.items():
        if new is None:
            del status[key]
        else:
            status[key] = None if new == "null" else new
    return samples.envelope(samples.messages_change(statuses=[samples.READ, status]))


_STATUS = "entry[0].changes[0].value.statuses[1]"


@pytest.mark.parametrize(
    ("data", "path", "reason"),
    [
        ([1, 2], "body", "expected a JSON object"),
        ({"entry": []}, "object", "missing"),
        ({"object": "page", "entry": []}, "object", "expected 'whatsapp_business_account'"),
        ({"object": "whatsapp_business_account"}, "entry", "missing"),
        ({"object": "whatsapp_business_account", "entry": {}}, "entry", "expected a JSON array"),
        (
            {"object": "whatsapp_business_account", "entry": [7]},
            "entry[0]",
            "expected a JSON object",
        ),
        (
            {"object": "whatsapp_business_account", "entry": [{"changes": []}]},
            "entry[0].id",
            "missing",
        ),
        (
            {"object": "whatsapp_business_account", "entry": [{"id": "1"}]},
            "entry[0].changes",
            "missing",
        ),
        (
            {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{}]}]},
            "entry[0].changes[0].field",
            "missing",
        ),
        (
            samples.envelope({"field": "messages"}),
            "entry[0].changes[0].value",
            "missing",
        ),
        (
            samples.envelope({"field": "messages", "value": [PHONE]}),
            "entry[0].changes[0].value",
            "expected a JSON object",
        ),
        (
            samples.envelope(samples.messages_change(statuses={"id": PHONE})),
            "entry[0].changes[0].value.statuses",
            "expected a JSON array",
        ),
        (_status_with(id=None), f"{_STATUS}.id", "missing"),
        (_status_with(status=None), f"{_STATUS}.status", "missing"),
        (_status_with(timestamp=None), f"{_STATUS}.timestamp", "missing"),
        (_status_with(timestamp=PHONE + "x"), f"{_STATUS}.timestamp", "expected Unix seconds"),
        (_status_with(timestamp="9" * 30), f"{_STATUS}.timestamp", "expected Unix seconds"),
        (_status_with(id={"x": PHONE}), f"{_STATUS}.id", "expected a string"),
        (_status_with(status=[PHONE]), f"{_STATUS}.status", "expected a string"),
        (_status_with(status="null"), f"{_STATUS}.status", "expected a string"),
        (_status_with(id="null"), f"{_STATUS}.id", "expected a string"),
        (
            _status_with(errors=[{"code": PHONE + "x"}]),
            f"{_STATUS}.errors[0].code",
            "expected an integer",
        ),
        *(  # user review F6: no 64-bit store (SQLite, a journal) could keep these codes
            (
                _status_with(errors=[{"code": code}]),
                f"{_STATUS}.errors[0].code",
                "expected an integer",
            )
            for code in (2**63, -(2**63) - 1, 2**64, 10**30, 1e300)
        ),
        (
            _status_with(conversation={"origin": {"type": [PHONE]}}),
            f"{_STATUS}.conversation.origin.type",
            "expected a string",
        ),
        (
            _status_with(pricing={"billable": "maybe " + PHONE}),
            f"{_STATUS}.pricing.billable",
            "expected a boolean",
        ),
        (
            samples.envelope(samples.messages_change(messages=[{"id": "x", "type": "text"}])),
            "entry[0].changes[0].value.messages[0].timestamp",
            "missing",
        ),
    ],
)
def test_what_is_not_a_webhook_is_a_typed_error_naming_where(
    data: Any, path: str, reason: str
) -> None:
    err = error_of(data)
    assert (err.path, err.reason) == (path, reason)
    assert str(err) == f"{path}: {reason}"
    assert isinstance(err, D360Error)
    assert PHONE not in str(err) and PHONE not in repr(err)
    assert err.__cause__ is None  # nothing chained that could quote the body
    assert err.__context__ is None or err.__suppress_context__


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"  \n", "empty"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[" * 5000 + b"]" * 5000, "not valid JSON"),
    ],
)
def test_a_body_that_is_not_json_is_a_typed_error(body: bytes, reason: str) -> None:
    with pytest.raises(WebhookError) as info:
        parse_webhook(body, {})
    assert (info.value.path, info.value.reason) == ("body", reason)


def test_a_str_body_is_a_validation_error_not_a_type_error() -> None:
    with pytest.raises(ValidationError) as info:
        parse_webhook(samples.statuses_body(samples.READ).decode(), {})  # type: ignore[arg-type]
    assert info.value.field == "body"
    assert parse_webhook(bytearray(samples.statuses_body(samples.READ)), {}).statuses


def test_no_phone_number_or_text_in_any_repr() -> None:
    hook = parse(samples.EVERYTHING)
    text = repr(hook) + repr(hook.statuses) + repr(hook.messages) + repr(hook.contacts)
    assert PHONE not in text
    assert "Ada" not in text and "sale still on" not in text and "Stop promotions" not in text
    assert "campaign-7" not in text
    assert "wamid." in text and "131049" in text  # the rest is there


def test_models_are_exported_from_the_package_and_the_webhooks_module() -> None:
    for name in ("Webhook", "StatusUpdate", "DeliveryStatus", "WebhookReceiver", "parse_webhook"):
        assert getattr(d360_async, name) is getattr(d360_async.webhooks, name)
    assert issubclass(WebhookSignatureError, WebhookError)
    assert issubclass(WebhookError, D360Error)
    assert StatusUpdate.__module__ == "d360_async._models_webhooks"
