"""Sends over loopback: validation like the service, acceptance, recording, API keys."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from d360_async.testing import Emulator

from ._helpers import call, message, meta_error

SEND_PATHS = ("/marketing_messages", "/marketing/marketing_messages")


@pytest.mark.parametrize("path", SEND_PATHS)
async def test_accepted_send_is_answered_and_recorded(
    emu: Emulator, http: aiohttp.ClientSession, path: str
) -> None:
    status, body, _ = await call(http, emu, "POST", path, json=message(to="+49 151 0000-0001"))

    assert status == 200
    wamid = body["messages"][0]["id"]
    assert body == {
        "messaging_product": "whatsapp",
        "contacts": [{"input": "+49 151 0000-0001", "wa_id": "4915100000001"}],
        "messages": [{"id": wamid, "message_status": "accepted"}],
    }
    assert wamid.startswith("wamid.")
    [sent] = emu.sent_messages
    assert (sent.wamid, sent.wa_id, sent.to, sent.path) == (
        wamid,
        "4915100000001",
        "+49 151 0000-0001",
        path,
    )
    assert (sent.template_name, sent.language, sent.api_key) == (
        "summer_sale",
        "en_US",
        emu.api_key,
    )
    assert sent.template_id == emu.get_template("summer_sale", "en_US").id
    assert [p["text"] for p in sent.components[0]["parameters"]] == ["v0", "v1", "v2"]
    assert (
        emu.requests[
            "send-marketing-message"
            if path == "/marketing_messages"
            else "send-marketing-message-alt"
        ]
        == 1
    )


async def test_wamids_are_unique_and_duplicates_are_visible(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    recipients = [f"+491510000{i:04d}" for i in range(30)]
    results = await asyncio.gather(
        *(call(http, emu, "POST", "/marketing_messages", json=message(to=to)) for to in recipients)
    )
    wamids = {body["messages"][0]["id"] for _, body, _ in results}

    assert len(wamids) == 30
    assert emu.duplicate_recipients() == {}
    assert set(emu.accepted_counts().values()) == {1}

    await call(http, emu, "POST", "/marketing_messages", json=message(to=recipients[3]))
    assert emu.duplicate_recipients() == {recipients[3].lstrip("+"): 2}
    assert len(emu.messages_to(recipients[3])) == 2


@pytest.mark.parametrize(
    ("name", "language", "params", "status", "code"),
    [
        ("no_such_template", "en_US", 0, 400, 132001),
        ("summer_sale", "it", 3, 400, 132001),
        ("black_friday", "en_US", 2, 403, 132015),
        ("old_promo", "en_US", 1, 403, 132016),
        ("flash_deal", "pt_BR", 1, 403, 132001),
        ("new_arrivals", "en_US", 1, 403, 132001),
        ("summer_sale", "en_US", 2, 400, 132000),
        ("summer_sale", "en_US", 4, 400, 132000),
        ("summer_sale", "en_US", None, 400, 132000),
        ("weekly_digest", "en_GB", 1, 400, 132000),
    ],
)
async def test_template_problems_are_refused_with_meta_codes(
    emu: Emulator,
    http: aiohttp.ClientSession,
    name: str,
    language: str,
    params: int | None,
    status: int,
    code: int,
) -> None:
    got, body, _ = await call(
        http,
        emu,
        "POST",
        "/marketing_messages",
        json=message(name=name, language=language, params=params),
    )

    assert (got, meta_error(body)["code"]) == (status, code)
    assert meta_error(body)["message"].startswith(f"(#{code})")
    assert emu.sent_messages == []


async def test_parameter_count_details_name_both_counts(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    _, body, _ = await call(http, emu, "POST", "/marketing_messages", json=message(params=1))

    assert meta_error(body)["error_data"]["details"] == (
        "body: number of localizable_params (1) does not match the expected number of params (3)"
    )


async def test_template_without_placeholders_accepts_no_components(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    status, _, _ = await call(
        http,
        emu,
        "POST",
        "/marketing_messages",
        json=message(name="weekly_digest", language="en_GB", params=None),
    )
    assert status == 200


def _without(payload: dict[str, Any], *path: str) -> dict[str, Any]:
    target = payload
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return payload


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (_without(message(), "to"), "to"),
        (_without(message(), "template", "name"), "template['name']"),
        (_without(message(), "template", "language"), "language"),
        (_without(message(), "template", "language", "code"), "language"),
        (_without(message(), "messaging_product"), "messaging_product"),
        (_without(message(), "type"), "template messages only"),
        ({**message(), "type": "text", "text": {"body": "hi"}}, "template messages only"),
        ({**message(), "to": "not a number"}, "not a valid phone number"),
        ({**message(), "recipient_type": "group"}, "recipient_type"),
        ({**message(), "template": "summer_sale"}, "template"),
        ({**message(), "template": {**message()["template"], "components": {}}}, "components"),
        ([message()], "JSON object"),
    ],
)
async def test_malformed_sends_get_code_100(
    emu: Emulator, http: aiohttp.ClientSession, payload: Any, fragment: str
) -> None:
    status, body, _ = await call(http, emu, "POST", "/marketing_messages", json=payload)

    error = meta_error(body)
    assert (status, error["code"]) == (400, 100)
    assert fragment in error["message"] + error["error_data"]["details"]
    assert emu.sent_messages == []


async def test_body_that_is_not_json_gets_code_100(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    status, body, _ = await call(http, emu, "POST", "/marketing_messages", data=b"{not json")
    assert (status, meta_error(body)["code"]) == (400, 100)


async def test_paused_mid_campaign_then_resumed(emu: Emulator, http: aiohttp.ClientSession) -> None:
    first, _, _ = await call(
        http, emu, "POST", "/marketing_messages", json=message(to="+4915100000001")
    )
    emu.set_template_status("summer_sale", "en_US", "PAUSED")
    paused, body, _ = await call(
        http, emu, "POST", "/marketing_messages", json=message(to="+4915100000002")
    )
    emu.set_template_status("summer_sale", "en_US", "APPROVED")
    resumed, _, _ = await call(
        http, emu, "POST", "/marketing_messages", json=message(to="+4915100000003")
    )

    assert (first, paused, resumed) == (200, 403, 200)
    assert meta_error(body)["code"] == 132015
    assert [m.wa_id for m in emu.sent_messages] == ["4915100000001", "4915100000003"]


async def test_added_and_removed_templates_take_effect(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    emu.add_template("vip_offer", "it", body_text="Ciao {{1}}, {{2}}!")
    ok, _, _ = await call(
        http,
        emu,
        "POST",
        "/marketing_messages",
        json=message(name="vip_offer", language="it", params=2),
    )
    emu.remove_template("vip_offer", "it")
    gone, body, _ = await call(
        http,
        emu,
        "POST",
        "/marketing_messages",
        json=message(name="vip_offer", language="it", params=2),
    )

    assert (ok, gone, meta_error(body)["code"]) == (200, 400, 132001)


@pytest.mark.parametrize("key", [None, "", "wrong-key"])
async def test_missing_or_wrong_key_is_401_with_360dialog_body(
    emu: Emulator, http: aiohttp.ClientSession, key: str | None
) -> None:
    hdrs = {} if key is None else {"D360-API-KEY": key}
    async with http.post(emu.url + "/marketing_messages", json=message(), headers=hdrs) as resp:
        assert resp.status == 401
        assert await resp.json() == {"error": "Invalid api token."}
    assert emu.sent_messages == []


async def test_several_keys_are_accepted_and_recorded_per_key(http: aiohttp.ClientSession) -> None:
    async with Emulator(api_key="main", api_keys=["second"], rate=None) as emu:
        emu.add_api_key("third")
        statuses = []
        for key in ("main", "second", "third"):
            status, _, _ = await call(
                http,
                emu,
                "POST",
                "/marketing_messages",
                key=key,
                json=message(to=f"+49151{len(key):08d}"),
            )
            statuses.append(status)
        emu.remove_api_key("second")
        revoked, _, _ = await call(
            http, emu, "POST", "/marketing_messages", key="second", json=message()
        )

    assert statuses == [200, 200, 200]
    assert revoked == 401
    assert [m.api_key for m in emu.sent_messages] == ["main", "second", "third"]
    assert emu.api_keys == frozenset({"main", "third"})


@pytest.mark.parametrize(
    ("code", "status"), [(131050, 400), (131026, 400), (131049, 400), (200, 403), (999999, 400)]
)
async def test_forced_recipient_errors(
    emu: Emulator, http: aiohttp.ClientSession, code: int, status: int
) -> None:
    emu.set_recipient_error("+49 151 00000009", code)
    got, body, _ = await call(
        http, emu, "POST", "/marketing_messages", json=message(to="+4915100000009")
    )
    other, _, _ = await call(
        http, emu, "POST", "/marketing_messages", json=message(to="+4915100000008")
    )
    emu.set_recipient_error("+4915100000009", None)
    cleared, _, _ = await call(
        http, emu, "POST", "/marketing_messages", json=message(to="+4915100000009")
    )

    assert (got, meta_error(body)["code"]) == (status, code)
    assert (other, cleared) == (200, 200)
    assert [m.wa_id for m in emu.sent_messages] == ["4915100000008", "4915100000009"]


async def test_wrapped_errors_use_360dialog_detail_envelope(http: aiohttp.ClientSession) -> None:
    async with Emulator(rate=None, wrap_errors=True) as emu:
        status, body, _ = await call(
            http, emu, "POST", "/marketing_messages", json=message(name="nope")
        )
        unauthorized, plain, _ = await call(
            http, emu, "POST", "/marketing_messages", key="x", json=message()
        )

    assert status == 400
    assert set(body) == {"detail"}
    assert body["detail"]["error"]["code"] == 132001
    assert (unauthorized, plain) == (401, {"error": "Invalid api token."})
