"""``to_dict``/``to_json``: any model in its wire form, ready for a web framework to return."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from d360_async import (
    BulkReport,
    ComponentType,
    DeliveryReport,
    InsightsPage,
    LanguageObject,
    MarketingMessageRequest,
    MessageTemplate,
    MessageTemplatePage,
    ParameterType,
    SendResult,
    SendStatus,
    TemplateComponent,
    TemplateObject,
    TemplateParameter,
    ValidationError,
    to_dict,
    to_json,
)
from d360_async._converter import structure

from . import samples


def _without_empty_lists(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _without_empty_lists(v) for k, v in data.items() if v != []}
    if isinstance(data, list):
        return [_without_empty_lists(item) for item in data]
    return data


def test_a_parsed_template_is_the_api_document_it_came_from() -> None:
    template = structure(samples.TEMPLATE, MessageTemplate)

    wire = to_dict(template)

    # Fields with a default are always in the wire form: a component without buttons has [].
    assert _without_empty_lists(wire) == samples.TEMPLATE
    assert json.loads(to_json(template)) == wire


def test_json_names_enums_tuples_and_none_fields() -> None:
    page = structure(samples.INSIGHTS_PAGE_1, InsightsPage)
    message = MarketingMessageRequest(
        to="4915112345678",
        template=TemplateObject(
            name="spring_sale",
            language=LanguageObject(code="en"),
            components=[
                TemplateComponent(
                    type=ComponentType.BODY,
                    parameters=[TemplateParameter(type=ParameterType.TEXT, text="Ada")],
                )
            ],
        ),
    )

    action = to_dict(page)["data"][0]["actions"][0]
    sent = to_dict(message)

    assert action == {"action_type": "link_click", "value": "412", "1d_click": "300"}
    assert sent["template"]["components"] == [
        {"type": "body", "parameters": [{"type": "text", "text": "Ada"}]}
    ]
    assert type(sent["template"]["components"][0]["type"]) is str  # the value, not the enum
    assert "ttl" not in json.dumps(sent)  # None fields are left out


def test_collections_of_models_and_the_sdk_reports() -> None:
    page = structure(samples.TEMPLATES_PAGE_1, MessageTemplatePage)
    report = BulkReport(total=2, sent=1, failed=1, skipped=0, unknown=0, elapsed=1.5)
    failed = SendResult(
        index=1,
        to="+4915100000002",
        status=SendStatus.FAILED,
        error=ValidationError("to", "is empty"),
    )

    wire = to_dict({"templates": list(page.data), "report": report, "results": (failed,)})

    assert [t["name"] for t in wire["templates"]] == ["spring_sale", "autumn_sale"]
    assert wire["report"] == {
        "total": 2,
        "sent": 1,
        "failed": 1,
        "skipped": 0,
        "unknown": 0,
        "elapsed": 1.5,
        "interrupted": False,
    }  # stopped=None is left out, as every None field
    assert wire["results"][0]["status"] == "failed"
    assert wire["results"][0]["error"] == "to: is empty"
    assert orjson.loads(to_json(wire)) == wire


def test_keys_that_are_not_text_become_text_as_json_writes_them() -> None:
    """User review F14: ``DeliveryReport.failed_by_code`` is keyed by Meta's error code (an
    int, None for a failure reported with no code)."""
    report = DeliveryReport(
        campaign_id="spring", accepted=3, failed=3, failed_by_code={131049: 2, None: 1}
    )

    wire = to_dict(report)

    assert wire["failed_by_code"] == {"131049": 2, "null": 1}
    assert orjson.loads(to_json(report)) == wire
    assert to_dict({SendStatus.SENT: 1, 1.5: True, False: None}) == {
        "sent": 1,
        "1.5": True,
        "false": None,
    }


def test_unknown_response_fields_stay_in_raw_only() -> None:
    template = structure({**samples.TEMPLATE, "brand_new_field": 1}, MessageTemplate)

    assert "brand_new_field" not in to_dict(template)
    assert template.raw["brand_new_field"] == 1


def test_dates_and_decimals() -> None:
    # Money is a Decimal in the models and a JSON number on the wire (the converter's rule).
    assert to_dict({"since": date(2026, 11, 1), "spend": Decimal("152.33")}) == {
        "since": "2026-11-01",
        "spend": 152.33,
    }


@pytest.mark.parametrize("value", [object(), {1, 2}, {("a", "b"): 1}])
def test_what_has_no_json_form_is_a_validation_error(value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        to_dict(value)
    assert caught.value.field == "model"


_text = st.text(max_size=12)
_buttons = st.lists(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["URL", "QUICK_REPLY", "PHONE_NUMBER"]), "text": _text},
        optional={"url": _text, "phone_number": _text},
    ),
    max_size=3,
)
_components = st.lists(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["HEADER", "BODY", "FOOTER", "BUTTONS"])},
        optional={"text": _text, "format": st.sampled_from(["IMAGE", "TEXT"]), "buttons": _buttons},
    ),
    max_size=4,
)
_templates = st.fixed_dictionaries(
    {"id": st.from_regex(r"[0-9]{1,16}", fullmatch=True), "name": _text},
    optional={
        "language": _text,
        "status": st.sampled_from(["APPROVED", "PAUSED", "SOMETHING_NEW"]),
        "category": st.sampled_from(["MARKETING", "UTILITY"]),
        "components": _components,
    },
)


@given(document=_templates)
def test_any_template_document_survives_the_round_trip(document: dict[str, Any]) -> None:
    template = structure(document, MessageTemplate)

    wire = to_dict(template)

    assert json.loads(json.dumps(wire)) == wire  # plain JSON types only
    assert structure(wire, MessageTemplate) == template
