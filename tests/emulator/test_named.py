"""NAMED templates in the emulator: listed as Meta lists them, sends validated by name."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from d360_async.testing import Emulator

from ._helpers import call, meta_error

NAMES = ("first_name", "reward", "expiry")


def named(*names: str | None) -> list[dict[str, Any]]:
    out = []
    for name in names:
        parameter: dict[str, Any] = {"type": "text", "text": "v"}
        if name is not None:
            parameter["parameter_name"] = name
        out.append(parameter)
    return out


def send(
    header: list[dict[str, Any]] | None, body: list[dict[str, Any]] | None, **template: Any
) -> dict[str, Any]:
    components = []
    if header is not None:
        components.append({"type": "header", "parameters": header})
    if body is not None:
        components.append({"type": "body", "parameters": body})
    return {
        "messaging_product": "whatsapp",
        "to": "+4915100000001",
        "type": "template",
        "template": {
            "name": template.get("name", "vip_reminder"),
            "language": {"code": template.get("language", "en_US")},
            "components": components,
        },
    }


async def test_seeded_named_template_is_listed_as_meta_lists_it(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    _, body, _ = await call(
        http, emu, "GET", "/marketing/message_templates", params={"name": "vip_reminder"}
    )
    (template,) = body["data"]
    assert template["parameter_format"] == "NAMED"
    header, text = template["components"][:2]
    assert header["text"] == "A gift for {{first_name}}"
    assert header["example"] == {
        "header_text_named_params": [{"param_name": "first_name", "example": "Ada"}]
    }
    assert [p["param_name"] for p in text["example"]["body_text_named_params"]] == list(NAMES)
    _, summer, _ = await call(
        http, emu, "GET", "/marketing/message_templates", params={"name": "summer_sale"}
    )
    assert {t["parameter_format"] for t in summer["data"]} == {"POSITIONAL"}


async def test_named_send_with_every_name_is_accepted(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    status, _, _ = await call(
        http,
        emu,
        "POST",
        "/marketing_messages",
        json=send(named("first_name"), named(*reversed(NAMES))),
    )
    assert status == 200
    assert len(emu.sent_messages) == 1


@pytest.mark.parametrize(
    ("header", "body", "details"),
    [
        (
            named("first_name"),
            named("first_name", "reward"),
            "body: parameter names (first_name, reward) do not match the template's "
            "(first_name, reward, expiry)",
        ),
        (
            named("first_name"),
            named("first_name", "reward", "expiry_date"),
            "body: parameter names (first_name, reward, expiry_date) do not match the "
            "template's (first_name, reward, expiry)",
        ),
        (
            named("first_name"),
            named(None, None, None),
            "body: parameter_name is required by a template with named parameters",
        ),
        (
            named("first_name"),
            named("first_name", "reward", "reward"),
            "body: parameter names (first_name, reward, reward) do not match the template's "
            "(first_name, reward, expiry)",
        ),
        (
            None,
            named(*NAMES),
            "header: parameter names () do not match the template's (first_name)",
        ),
    ],
)
async def test_named_mismatches_are_132000(
    emu: Emulator,
    http: aiohttp.ClientSession,
    header: list[dict[str, Any]] | None,
    body: list[dict[str, Any]],
    details: str,
) -> None:
    status, error, _ = await call(http, emu, "POST", "/marketing_messages", json=send(header, body))

    assert (status, meta_error(error)["code"]) == (400, 132000)
    assert meta_error(error)["error_data"]["details"] == details
    assert emu.sent_messages == []


async def test_named_parameters_to_a_positional_template_are_132000(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    message = send(None, named("name"), name="welcome_offer")
    status, error, _ = await call(http, emu, "POST", "/marketing_messages", json=message)
    assert (status, meta_error(error)["code"]) == (400, 132000)
    assert meta_error(error)["error_data"]["details"] == (
        "body: parameter_name is not allowed by a template with positional parameters"
    )


async def test_positional_text_header_placeholders_are_counted(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    emu.add_template(
        "hello_header",
        components=[
            {"type": "HEADER", "format": "TEXT", "text": "Hello {{1}}"},
            {"type": "BODY", "text": "Take {{1}} off"},
        ],
    )
    missing = send(None, named(None), name="hello_header")
    status, error, _ = await call(http, emu, "POST", "/marketing_messages", json=missing)
    assert (status, meta_error(error)["code"]) == (400, 132000)
    assert meta_error(error)["error_data"]["details"] == (
        "header: number of localizable_params (0) does not match the expected number of params (1)"
    )
    good = send(named(None), named(None), name="hello_header")
    status, _, _ = await call(http, emu, "POST", "/marketing_messages", json=good)
    assert status == 200


def test_parameter_format_is_given_or_read_from_the_placeholders(emu: Emulator) -> None:
    explicit = emu.add_template("a", body_text="Hi {{name}}", parameter_format="NAMED")
    inferred = emu.add_template("b", body_text="Hi {{name}}")
    positional = emu.add_template("c", body_text="Hi {{1}}")
    assert (explicit.parameter_format, inferred.parameter_format) == ("NAMED", "NAMED")
    assert positional.parameter_format == "POSITIONAL"
    assert explicit.body_params == 1
    with pytest.raises(ValueError, match="parameter_format"):
        emu.add_template("d", body_text="Hi {{1}}", parameter_format="NUMBERED")
    with pytest.raises(ValueError, match="lower-case"):
        emu.add_template("e", body_text="Hi {{First}}", parameter_format="NAMED")
