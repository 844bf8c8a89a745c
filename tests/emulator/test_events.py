"""Conversion datasets and Conversions API events."""

from __future__ import annotations

import re
import time
from typing import Any

import aiohttp
import pytest

from d360_async.testing import Emulator

from ._helpers import call, event, meta_error

DAY = 86_400


async def test_dataset_is_created_once_per_node(emu: Emulator, http: aiohttp.ClientSession) -> None:
    missing, error_body, _ = await call(http, emu, "GET", "/marketing/waba-1/dataset")
    first, created, _ = await call(
        http, emu, "POST", "/marketing/waba-1/dataset", json={"name": "Shop"}
    )
    again, same, _ = await call(http, emu, "POST", "/marketing/waba-1/dataset", json={})
    got, fetched, _ = await call(http, emu, "GET", "/marketing/waba-1/dataset")
    _, other, _ = await call(http, emu, "POST", "/marketing/waba-2/dataset", data=b"")

    assert (missing, meta_error(error_body)["code"]) == (400, 100)
    assert (first, again, got) == (200, 200, 200)
    assert created == same == fetched == {"id": created["id"], "name": "Shop"}
    assert other["id"] != created["id"]
    assert other["id"].isdigit()
    assert emu.datasets["waba-1"].id == created["id"]


async def test_dataset_rejects_non_object_body(emu: Emulator, http: aiohttp.ClientSession) -> None:
    status, body, _ = await call(http, emu, "POST", "/marketing/w/dataset", json=["x"])
    assert (status, meta_error(body)["code"]) == (400, 100)
    assert emu.datasets == {}


async def test_events_are_accepted_and_recorded_per_node(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    payload = {"data": [event(0), event(1)], "test_event_code": "TEST123", "partner_agent": "d360"}

    status, body, _ = await call(http, emu, "POST", "/marketing/ds-1/events", json=payload)
    await call(http, emu, "POST", "/marketing/ds-2/events", json={"data": [event(5)]})

    assert status == 200
    assert body["events_received"] == 2
    assert body["messages"] == []
    assert body["fbtrace_id"]
    recorded = emu.events["ds-1"]
    assert [(e.event_name, e.event_id) for e in recorded] == [
        ("Purchase", "order-0"),
        ("Purchase", "order-1"),
    ]
    assert {(e.test_event_code, e.partner_agent, e.node_id) for e in recorded} == {
        ("TEST123", "d360", "ds-1")
    }
    assert [e.event_id for e in emu.events["ds-2"]] == ["order-5"]


async def test_duplicates_by_name_and_id_are_recorded_once(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    no_id = event(9)
    del no_id["event_id"]
    batch = [event(1), event(1), event(2, event_name="AddToCart"), event(2), no_id, no_id]

    _, first, _ = await call(http, emu, "POST", "/marketing/ds/events", json={"data": batch})
    _, second, _ = await call(http, emu, "POST", "/marketing/ds/events", json={"data": [event(1)]})

    assert (first["events_received"], second["events_received"]) == (6, 1)
    keys = [(e.event_name, e.event_id) for e in emu.events["ds"]]
    assert keys == [
        ("Purchase", "order-1"),
        ("AddToCart", "order-2"),
        ("Purchase", "order-2"),
        ("Purchase", None),
        ("Purchase", None),
    ]
    assert emu.duplicate_events == 2


@pytest.mark.parametrize(
    ("bad", "field", "reason"),
    [
        ({"event_time": int(time.time()) - 8 * DAY}, "event_time", "is older than 7 days"),
        ({"event_time": int(time.time()) + 3600}, "event_time", "is in the future"),
        ({"event_time": str(int(time.time()))}, "event_time", "must be an integer"),
        ({"event_time": True}, "event_time", "must be an integer"),
        ({"event_name": ""}, "event_name", "is required"),
        ({"action_source": "fax"}, "action_source", "must be one of"),
        ({"messaging_channel": "sms"}, "messaging_channel", "must be one of"),
        ({"event_id": 7}, "event_id", "must be a string"),
        ({"user_data": ["x"]}, "user_data", "must be an object"),
    ],
)
async def test_one_invalid_event_rejects_the_whole_request(
    emu: Emulator, http: aiohttp.ClientSession, bad: dict[str, Any], field: str, reason: str
) -> None:
    data = [event(i) for i in range(20)]
    data[17] = {**data[17], **bad}

    status, body, _ = await call(http, emu, "POST", "/marketing/ds/events", json={"data": data})

    error = meta_error(body)
    assert (status, error["code"]) == (400, 100)
    assert error["message"].startswith(f"data[17]: {field} {reason}")
    match = re.fullmatch(r"data\[(\d+)\]\.(\w+): (.+)", error["error_data"]["details"])
    assert match is not None
    assert match.groups()[:2] == ("17", field)
    assert emu.events == {}


async def test_event_within_clock_skew_is_accepted(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    payload = {"data": [event(0, event_time=int(time.time()) + 30)]}
    status, _, _ = await call(http, emu, "POST", "/marketing/ds/events", json=payload)
    assert status == 200


async def test_event_age_uses_the_injected_wall_clock(http: aiohttp.ClientSession) -> None:
    now = 1_700_000_000.0
    async with Emulator(rate=None, wall_clock=lambda: now) as emu:
        fresh, _, _ = await call(
            http,
            emu,
            "POST",
            "/marketing/n/events",
            json={"data": [event(0, event_time=int(now) - 6 * DAY)]},
        )
        stale, _, _ = await call(
            http,
            emu,
            "POST",
            "/marketing/n/events",
            json={"data": [event(1, event_time=int(now) - 7 * DAY - 1)]},
        )
    assert (fresh, stale) == (200, 400)


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({}, "data"),
        ({"data": []}, "data"),
        ({"data": "x"}, "data"),
        ({"data": [event(0)], "test_event_code": 5}, "test_event_code"),
        ({"data": [event(0)], "partner_agent": ["a"]}, "partner_agent"),
    ],
)
async def test_malformed_event_requests(
    emu: Emulator, http: aiohttp.ClientSession, payload: dict[str, Any], fragment: str
) -> None:
    status, body, _ = await call(http, emu, "POST", "/marketing/ds/events", json=payload)
    error = meta_error(body)
    assert (status, error["code"]) == (400, 100)
    assert fragment in error["message"] + error["error_data"]["details"]


async def test_at_most_1000_events_per_request(emu: Emulator, http: aiohttp.ClientSession) -> None:
    ok, body, _ = await call(
        http, emu, "POST", "/marketing/ds/events", json={"data": [event(i) for i in range(1000)]}
    )
    too_many, error_body, _ = await call(
        http, emu, "POST", "/marketing/ds/events", json={"data": [event(i) for i in range(1001)]}
    )

    assert (ok, body["events_received"]) == (200, 1000)
    assert (too_many, meta_error(error_body)["code"]) == (400, 100)
    assert "1000" in meta_error(error_body)["message"]
    assert len(emu.events["ds"]) == 1000
