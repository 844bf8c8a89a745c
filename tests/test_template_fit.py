"""Named template parameters: the builder, and whether a message fits its template."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from d360_async import MessageBuilder, TemplateParameter, ValidationError, image, parameter
from d360_async._converter import structure, unstructure
from d360_async._models_messages import ParameterType
from d360_async._models_templates import MessageTemplate
from d360_async._payloads import prepare_message
from d360_async._template_fit import TemplateFit, misfit, placeholders

from . import meta_samples as meta
from .spec import request_validator

POINTS = MessageBuilder(name="points_reminder", language="en_US")


def _fit(sample: dict[str, Any]) -> TemplateFit:
    return TemplateFit.of(structure(sample, MessageTemplate))


def _payload(message: Any) -> dict[str, Any]:
    return prepare_message(message)


def test_builder_fills_named_parameters() -> None:
    message = POINTS.build(
        "4915112345678",
        header={"first_name": "Ada"},
        body={"first_name": "Ada", "points": 120, "expiry": "31 December"},
    )
    wire = unstructure(message)
    header, body = wire["template"]["components"]
    assert header == {
        "type": "header",
        "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Ada"}],
    }
    assert body["parameters"] == [
        {"type": "text", "parameter_name": "first_name", "text": "Ada"},
        {"type": "text", "parameter_name": "points", "text": "120"},
        {"type": "text", "parameter_name": "expiry", "text": "31 December"},
    ]
    assert not list(request_validator("send-marketing-message").iter_errors(_payload(message)))


def test_parameter_with_a_name() -> None:
    assert parameter("Ada", name="first_name") == TemplateParameter(
        type=ParameterType.TEXT, text="Ada", parameter_name="first_name"
    )


@pytest.mark.parametrize("name", ["", "First Name", "first-name", "Ünïcode", 7])
def test_bad_parameter_names_are_refused(name: Any) -> None:
    with pytest.raises(ValidationError, match="parameter_name"):
        POINTS.build("4915112345678", body={name: "x"})


def test_a_header_mapping_must_hold_one_value() -> None:
    with pytest.raises(ValidationError, match="header"):
        POINTS.build("4915112345678", header={"a": "1", "b": "2"})


def test_placeholders_in_order_of_first_use() -> None:
    assert placeholders("Hi {{1}}, {{2}} off. {{1}}!") == ("1", "2")
    assert placeholders("Hi {{ first_name }}, {{points}} for {{first_name}}") == (
        "first_name",
        "points",
    )
    assert placeholders("no placeholders {x} {{}}") == ()


def test_named_message_fits_named_template() -> None:
    message = POINTS.build(
        "4915112345678",
        header={"first_name": "Ada"},
        body={"expiry": "Friday", "first_name": "Ada", "points": "3"},  # any order
    )
    assert misfit(_fit(meta.NAMED_TEMPLATE), _payload(message)) is None


@pytest.mark.parametrize(
    ("header", "body", "problem"),
    [
        (
            {"first_name": "Ada"},
            {"first_name": "Ada", "points": "3"},
            "body parameters lack expiry (the template's body has first_name, points, expiry)",
        ),
        (
            {"first_name": "Ada"},
            {"first_name": "Ada", "points": "3", "expiry": "x", "pts": "1"},
            "body parameter pts is not in the template (its body has first_name, points, expiry)",
        ),
        (
            {"first_name": "Ada"},
            ["Ada", "3", "Friday"],
            "body parameters have no parameter_name; the template's are named (first_name, "
            "points, expiry)",
        ),
        (
            None,
            {"first_name": "Ada", "points": "3", "expiry": "x"},
            "header parameters lack first_name (the template's header has first_name)",
        ),
    ],
)
def test_named_misfits_are_described(header: Any, body: Any, problem: str) -> None:
    message = POINTS.build("4915112345678", header=header, body=body)
    assert misfit(_fit(meta.NAMED_TEMPLATE), _payload(message)) == problem


def test_positional_counts_are_checked_for_body_and_text_header() -> None:
    template = {
        "name": "t",
        "language": "en",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Hello {{1}}"},
            {"type": "BODY", "text": "Take {{1}} off"},
        ],
    }
    builder = MessageBuilder(name="t", language="en")
    fit = _fit(template)
    assert misfit(fit, _payload(builder.build("49151", header="Ada", body=["20%"]))) is None
    assert (
        misfit(fit, _payload(builder.build("49151", header="Ada", body=["20%", "x"])))
        == "2 body parameters for a template with 1 placeholder"
    )
    assert (
        misfit(fit, _payload(builder.build("49151", body=["20%"])))
        == "0 header parameters for a header with 1 placeholder"
    )
    assert (
        misfit(fit, _payload(builder.build("49151", header="Ada", body={"deal": "20%"})))
        == "body parameters are named (deal); the template's are positional ({{1}})"
    )


def test_media_header_and_no_header_are_not_counted() -> None:
    fit = _fit(meta.CAROUSEL_TEMPLATE)
    builder = MessageBuilder(
        name="autumn_carousel", language="en_GB", header=image("https://x/y.png")
    )
    assert misfit(fit, _payload(builder.build("49151", body=["Ada"]))) is None


def test_template_without_parameter_format_is_named_by_its_placeholders() -> None:
    legacy = {k: v for k, v in meta.NAMED_TEMPLATE.items() if k != "parameter_format"}
    assert _fit(legacy).named
    positional = {"components": [{"type": "BODY", "text": "Hi {{1}}"}]}
    assert not _fit(positional).named


@given(
    st.lists(st.from_regex(r"\A[a-z][a-z0-9_]{0,11}\Z"), min_size=1, max_size=6, unique=True),
    st.randoms(),
)
def test_any_named_body_fits_when_every_name_is_given(names: list[str], rnd: Any) -> None:
    text = " ".join(f"{{{{{n}}}}}" for n in names)
    template = {"parameter_format": "NAMED", "components": [{"type": "BODY", "text": text}]}
    shuffled = list(names)
    rnd.shuffle(shuffled)
    builder = MessageBuilder(name="t", language="en")
    message = builder.build("49151", body=dict.fromkeys(shuffled, "v"))
    assert misfit(_fit(template), _payload(message)) is None
    message = builder.build("49151", body=dict.fromkeys(shuffled[1:], "v"))
    assert misfit(_fit(template), _payload(message)) is not None
