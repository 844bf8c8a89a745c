"""Contract: what the models build validates against the spec's request schemas, and every
sample response used in the tests validates against the spec's response schemas."""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from d360_async import (
    ConversionDatasetRequest,
    ConversionEvent,
    ConversionEventRequest,
    MarketingMessageRequest,
    RawResponse,
)
from d360_async._converter import structure, unstructure
from d360_async._models_analytics import EnableTemplateAnalyticsResponse, TemplateAnalyticsResponse
from d360_async._models_events import ConversionDataset, ConversionEventsResponse
from d360_async._models_insights import DatasetQuality, InsightsPage
from d360_async._models_messages import MarketingMessageResponse
from d360_async._models_templates import MessageTemplate, MessageTemplatePage
from d360_async._payloads import prepare_events, prepare_message

from . import samples
from .spec import operation_ids, request_validator, response_validator, schema_validator

_text = st.text(min_size=1, max_size=12).filter(str.strip)


def strategy_for(tp: Any) -> st.SearchStrategy[Any]:
    """Values for an annotation, every optional field included (not only required ones)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return st.one_of([strategy_for(a) for a in typing.get_args(tp)])
    if origin is not None and issubclass(origin, Sequence):
        (item,) = typing.get_args(tp)
        return st.lists(strategy_for(item), max_size=3)
    if tp is type(None):
        return st.none()
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from(list(tp))
    if attrs.has(tp):
        hints = typing.get_type_hints(tp)
        fields = {
            a.name: strategy_for(hints[a.name])
            for a in attrs.fields(tp)
            if a.name != "raw" and a.init
        }
        return st.builds(tp, **fields)
    simple: dict[Any, st.SearchStrategy[Any]] = {
        str: _text,
        int: st.integers(min_value=0, max_value=2**40),
        float: st.floats(allow_nan=False, allow_infinity=False, width=32),
        bool: st.booleans(),
    }
    return simple[tp]


def _events() -> st.SearchStrategy[ConversionEvent]:
    now = int(datetime.now(UTC).timestamp())
    hints = typing.get_type_hints(ConversionEvent)
    fields = {a.name: strategy_for(hints[a.name]) for a in attrs.fields(ConversionEvent)}
    fields["event_time"] = st.integers(min_value=now - 86400, max_value=now)
    return st.builds(ConversionEvent, **fields)


def _messages() -> st.SearchStrategy[MarketingMessageRequest]:
    """Every field drawn, but the three whose only valid value is the default."""
    hints = typing.get_type_hints(MarketingMessageRequest)
    fixed = {"messaging_product", "recipient_type", "type"}
    fields = {
        a.name: strategy_for(hints[a.name])
        for a in attrs.fields(MarketingMessageRequest)
        if a.name not in fixed
    }
    fields["to"] = st.from_regex(r"\A[1-9][0-9]{7,14}\Z")
    return st.builds(MarketingMessageRequest, **fields)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(_messages())
def test_every_buildable_message_validates(message: MarketingMessageRequest) -> None:
    body = prepare_message(message)
    errors = list(request_validator("send-marketing-message").iter_errors(body))
    assert errors == []
    assert not list(request_validator("send-marketing-message-alt").iter_errors(body))


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_events(), min_size=1, max_size=3), st.none() | _text, st.none() | _text)
def test_every_buildable_events_request_validates(
    events: list[ConversionEvent], test_event_code: str | None, partner_agent: str | None
) -> None:
    request = ConversionEventRequest(
        data=events, test_event_code=test_event_code, partner_agent=partner_agent
    )
    assert not list(request_validator("post-conversion-events").iter_errors(unstructure(request)))
    data, _ = prepare_events(events)
    assert not list(request_validator("post-conversion-events").iter_errors({"data": data}))


@given(strategy_for(ConversionDatasetRequest))
def test_every_buildable_dataset_request_validates(request: ConversionDatasetRequest) -> None:
    assert not list(request_validator("post-conversion-dataset").iter_errors(unstructure(request)))


def test_none_fields_are_omitted_on_the_wire() -> None:
    body = unstructure(ConversionEvent(event_name="Purchase", event_time=1, messaging_channel=None))
    assert body == {
        "event_name": "Purchase",
        "event_time": 1,
        "action_source": "business_messaging",
    }


MODEL_BY_OPERATION: dict[str, type[RawResponse]] = {
    "send-marketing-message": MarketingMessageResponse,
    "send-marketing-message-alt": MarketingMessageResponse,
    "get-mmlite-message-templates": MessageTemplatePage,
    "get-message-template": MessageTemplate,
    "get-template-analytics": TemplateAnalyticsResponse,
    "enable-template-analytics": EnableTemplateAnalyticsResponse,
    "get-ad-object-insights": InsightsPage,
    "get-conversion-dataset": ConversionDataset,
    "post-conversion-dataset": ConversionDataset,
    "post-conversion-events": ConversionEventsResponse,
    "get-dataset-quality": DatasetQuality,
}


def test_every_operation_has_samples_and_a_model() -> None:
    assert sorted(samples.SUCCESS_BODIES) == operation_ids()
    assert sorted(MODEL_BY_OPERATION) == operation_ids()


@pytest.mark.parametrize(
    ("operation_id", "body"),
    [(op, body) for op, bodies in samples.SUCCESS_BODIES.items() for body in bodies],
)
def test_sample_responses_validate_and_round_trip(operation_id: str, body: dict[str, Any]) -> None:
    validator = response_validator(operation_id, 200)
    assert not list(validator.iter_errors(body))
    parsed = structure(body, MODEL_BY_OPERATION[operation_id])
    assert parsed.raw == body
    # What the models keep of a response is itself a valid response.
    assert not list(validator.iter_errors(unstructure(parsed)))


def test_text_error_sample_validates_against_error_resp() -> None:
    """The spec's ``utils.ErrorResp`` is ``{"error": string}``. The live service also answers
    with Meta's ``{"error": {...}}``, 360dialog's ``{"detail": {"error": {...}}}`` and
    ``{"meta": {...}}`` (api-facts.md); those are outside the spec and are checked by the
    error-mapping tests instead."""
    assert not list(schema_validator("utils.ErrorResp").iter_errors(samples.ERROR_TEXT))
    assert list(schema_validator("utils.ErrorResp").iter_errors(samples.meta_error(100)))
