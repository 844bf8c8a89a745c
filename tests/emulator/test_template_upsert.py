"""``POST /_emulator/templates`` on an existing template updates every field it is given, or
refuses the whole request (400 naming the field) and changes nothing."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from d360_async.testing import Emulator

from ._helpers import call, message


async def _upsert(
    http: aiohttp.ClientSession, emu: Emulator, body: Any
) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{emu.url}/_emulator/templates", json=body) as resp:
        return resp.status, await resp.json()


async def test_every_given_field_of_an_existing_template_is_updated(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    before = emu.get_template("welcome_offer", "en_US")
    status, answer = await _upsert(
        http,
        emu,
        {
            "name": "welcome_offer",
            "language": "en_US",
            "status": "PAUSED",
            "category": "UTILITY",
            "body_text": "Hello {{1}}, your code is {{2}}.",
        },
    )

    assert status == 200
    after = emu.get_template("welcome_offer", "en_US")
    assert after.id == before.id == answer["id"]
    assert (after.status, after.category) == ("PAUSED", "UTILITY")
    assert after.body_text == "Hello {{1}}, your code is {{2}}."
    assert after.body_params == 2
    _, served, _ = await call(http, emu, "GET", f"/marketing/{after.id}")
    assert served == answer
    assert served["category"] == "UTILITY"
    body = [c for c in served["components"] if c["type"] == "BODY"]
    assert body == [{"type": "BODY", "text": "Hello {{1}}, your code is {{2}}."}]
    # The header and buttons that the new body text did not replace are kept.
    assert [c["type"] for c in served["components"]] == ["HEADER", "BODY", "BUTTONS"]


async def test_sends_are_validated_against_the_updated_body(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    await _upsert(
        http, emu, {"name": "order_update", "language": "en_US", "body_text": "{{1}} / {{2}}"}
    )

    one, _, _ = await call(
        http, emu, "POST", "/marketing_messages", json=message(name="order_update", params=1)
    )
    two, _, _ = await call(
        http, emu, "POST", "/marketing_messages", json=message(name="order_update", params=2)
    )

    assert (one, two) == (400, 200)


async def test_components_replace_the_existing_ones(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    components = [
        {"type": "HEADER", "format": "TEXT", "text": "Hi"},
        {"type": "BODY", "text": "Only {{1}}"},
    ]
    status, answer = await _upsert(
        http, emu, {"name": "summer_sale", "language": "de", "components": components}
    )

    assert status == 200
    assert answer["components"] == components
    assert emu.get_template("summer_sale", "de").components == components


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"category": "SPAM"}, "category"),
        ({"status": "ZZZ"}, "status"),
        ({"status": 5}, "status"),
        ({"body_text": ["Hi"]}, "body_text"),
        ({"components": "BODY"}, "components"),
        ({"components": [{"text": "no type"}]}, "components"),
        ({"body_text": "Hi", "components": [{"type": "BODY", "text": "Hi"}]}, "body_text"),
        ({"id": "1"}, "id"),
        ({"quality_score": "GREEN"}, "quality_score"),
        ({"language": 7}, "language"),
        ({"parameter_format": "WEIRD"}, "parameter_format"),
        ({"body_text": "Hi {{FirstName}}", "parameter_format": "NAMED"}, "parameter_format"),
    ],
)
async def test_what_cannot_be_applied_is_refused_and_nothing_changes(
    emu: Emulator, http: aiohttp.ClientSession, change: dict[str, Any], field: str
) -> None:
    before = emu.get_template("summer_sale", "en_US").to_json()
    request = {
        "name": "summer_sale",
        "language": "en_US",
        "status": "PAUSED",  # valid: must not be applied when another field is refused
        **change,
    }

    status, answer = await _upsert(http, emu, request)

    assert status == 400
    assert answer["field"] == field
    assert field in answer["error"]
    assert emu.get_template("summer_sale", "en_US").to_json() == before


async def test_a_new_template_takes_every_field(emu: Emulator, http: aiohttp.ClientSession) -> None:
    status, answer = await _upsert(
        http,
        emu,
        {
            "name": "restock",
            "language": "fr",
            "status": "PENDING",
            "category": "UTILITY",
            "body_text": "{{1}} est de retour",
        },
    )

    assert status == 200
    created = emu.get_template("restock", "fr")
    assert (created.status, created.category, created.body_params) == ("PENDING", "UTILITY", 1)
    assert answer == created.to_json()


async def test_named_placeholders_make_the_template_named(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    status, answer = await _upsert(
        http, emu, {"name": "order_update", "language": "en_US", "body_text": "Hi {{first_name}}"}
    )

    assert status == 200
    assert answer["parameter_format"] == "NAMED"
    assert emu.get_template("order_update", "en_US").parameter_format == "NAMED"
