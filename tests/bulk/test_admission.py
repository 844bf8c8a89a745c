"""``encode_message``: any content gives either the exact JSON that is sent or a
``ValidationError`` naming a field; never another exception."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from d360_async import D360Client, SendStatus, ValidationError
from d360_async._admission import MAX_MESSAGE_BYTES, encode_message
from d360_async.testing import Emulator

from .conftest import welcome

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
junk = st.one_of(
    st.decimals(allow_nan=False),
    st.binary(max_size=5),
    st.sets(st.integers(), max_size=3),
    st.integers(min_value=2**64, max_value=2**70),
    st.builds(object),
    st.complex_numbers(allow_nan=False, allow_infinity=False),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
any_values = st.recursive(
    st.one_of(json_scalars, junk),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=4),
    ),
    max_leaves=20,
)


def payload(components: Any, extra: Any = None) -> dict[str, Any]:
    template: dict[str, Any] = {"name": "t", "language": {"code": "en"}}
    if components is not None:
        template["components"] = components
    body: dict[str, Any] = {"to": "4915100000001", "template": template}
    if extra is not None:
        body["extra"] = extra
    return body


@settings(max_examples=300, deadline=None)
@given(components=any_values, extra=any_values)
def test_anything_is_encoded_or_a_validation_error(components: Any, extra: Any) -> None:
    message = payload(components, extra)
    try:
        data = encode_message(message)
    except ValidationError as exc:
        error: ValidationError | None = exc
    else:
        error = None
        assert isinstance(data, bytes)
        assert len(data) <= MAX_MESSAGE_BYTES
    if error is not None:
        assert error.field.split(".")[0].split("[")[0] in ("template", "extra", "message")


@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(st.text(max_size=50), max_size=5),
    extra=json_values,
)
def test_json_content_with_text_parameters_is_sent_as_is(texts: list[str], extra: Any) -> None:
    components = [{"type": "body", "parameters": [{"type": "text", "text": t} for t in texts]}]
    message = payload(components, extra)
    assert orjson.loads(encode_message(message)) == orjson.loads(orjson.dumps(message))


@given(value=junk)
def test_a_value_that_is_not_json_names_its_field(value: Any) -> None:
    message = payload(None, {"deep": [1, {"x": value}]})
    with pytest.raises(ValidationError) as info:
        encode_message(message)
    assert info.value.field == "extra.deep[1].x"
    assert type(value).__name__ in str(info.value)


def test_messages_too_large_for_any_template() -> None:
    text = "x" * (MAX_MESSAGE_BYTES + 1)
    components = [{"type": "body", "parameters": [{"type": "text", "text": text}]}]
    with pytest.raises(ValidationError, match="bytes as JSON") as info:
        encode_message(payload(components))
    assert info.value.field == "message"


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("depth", [300, 5000])
def test_a_value_nested_too_deep_is_a_validation_error(depth: int) -> None:
    with pytest.raises(ValidationError) as info:
        encode_message(payload(None, nested(depth)))
    assert info.value.field.startswith("extra")
    assert "nested" in str(info.value)


@pytest.mark.parametrize(
    ("component", "field"),
    [
        ({"type": ["body"], "parameters": []}, "template.components[0].type"),
        ({"type": {"b": 1}}, "template.components[0].type"),
        (
            {"type": "body", "parameters": [{"type": "text", "text": "x", "parameter_name": [1]}]},
            "template.components[0].parameters[0].parameter_name",
        ),
    ],
)
def test_component_types_and_parameter_names_are_strings(component: Any, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        encode_message(payload([component]))
    assert info.value.field == field


FITTING = {
    "name": "welcome_offer",
    "language": {"code": "en_US"},
    "components": [{"type": "body", "parameters": [{"type": "text", "text": "x"}]}],
}
JUNK_MESSAGES = {
    "surrogate recipient": {"to": "49151\udc00", "template": FITTING},
    "deep extra": {"to": "4915300000001", "template": FITTING, "extra": nested(5000)},
    "unhashable component type": {
        "to": "4915300000002",
        "template": {
            "name": "welcome_offer",
            "language": {"code": "en_US"},
            "components": [{"type": ["body"], "parameters": [{"type": "text", "text": "x"}]}],
        },
    },
}


@pytest.mark.parametrize("kind", sorted(JUNK_MESSAGES))
@pytest.mark.parametrize("journaled", [False, True])
async def test_one_junk_message_fails_alone(
    emu: Emulator, client: D360Client, tmp_path: Path, kind: str, journaled: bool
) -> None:
    messages = [*welcome(3), JUNK_MESSAGES[kind], *welcome(3, start=3)]
    journal = tmp_path / "j.sqlite" if journaled else None
    results = [r async for r in client.send_bulk(messages, journal=journal)]
    assert sorted((r.index, r.status) for r in results) == [
        (i, SendStatus.FAILED if i == 3 else SendStatus.SENT) for i in range(7)
    ]
    assert isinstance(next(r for r in results if r.index == 3).error, ValidationError)
    with pytest.raises(ValidationError):
        await client.send_marketing_message(JUNK_MESSAGES[kind])
