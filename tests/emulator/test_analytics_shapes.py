"""The emulator answers template analytics in the spec's shape (default), Meta's
``data_points`` shape or the field-expansion form; the SDK reads the same numbers from each."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest

from d360_async import D360Client, RetryPolicy
from d360_async.testing import Emulator
from d360_async.testing._cli import build_parser, emulator_from_args

from ._helpers import call, message

DAY = 86_400
NOW = 1_760_000_000  # 2025-10-09 08:53 UTC
TODAY = NOW - NOW % DAY
SHAPES = ("spec", "meta", "expanded")


@pytest.fixture(params=SHAPES)
async def shaped(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    async with Emulator(
        rate=None, wall_clock=lambda: float(NOW), analytics_shape=request.param
    ) as emulator:
        yield emulator


def _query(template_ids: list[str], metrics: list[str] | None = None) -> dict[str, str]:
    query = {
        "start": str(NOW - DAY),
        "end": str(NOW),
        "granularity": "DAILY",
        "template_ids": json.dumps(template_ids),
        "product_type": "MARKETING_MESSAGES_LITE_API",
    }
    if metrics:
        query["metric_types"] = json.dumps(metrics)
    return query


async def _send_summer(emu: Emulator, http: aiohttp.ClientSession, count: int) -> str:
    for i in range(count):
        status, _, _ = await call(
            http, emu, "POST", "/marketing_messages", json=message(to=f"+49151{i:08d}")
        )
        assert status == 200
    return emu.get_template("summer_sale", "en_US").id


async def test_meta_shape(http: aiohttp.ClientSession) -> None:
    async with Emulator(rate=None, wall_clock=lambda: float(NOW), analytics_shape="meta") as emu:
        summer = await _send_summer(emu, http, 20)
        status, body, _ = await call(
            http, emu, "GET", "/marketing/template_analytics", params=_query([summer])
        )

    assert status == 200
    (entry,) = body["data"]
    assert (entry["granularity"], entry["product_type"]) == (
        "DAILY",
        "MARKETING_MESSAGES_LITE_API",
    )
    assert [(p["template_id"], p["start"], p["end"]) for p in entry["data_points"]] == [
        (summer, TODAY - DAY, TODAY),
        (summer, TODAY, TODAY + DAY),
    ]
    today = entry["data_points"][1]
    assert (today["sent"], today["delivered"], today["read"]) == (20, 18, 12)
    assert today["clicked"] == [
        {"type": "url_button", "button_content": "Shop now", "count": 2},
        {"type": "quick_reply_button", "button_content": "Not interested", "count": 0},
    ]
    assert today["cost"] == [
        {"type": "amount_spent", "value": 0.5},
        {"type": "cost_per_delivered", "value": 0.0278},
        {"type": "cost_per_url_button_click", "value": 0.25},
    ]
    quiet = entry["data_points"][0]
    assert quiet["clicked"] == [
        {"type": "url_button", "button_content": "Shop now", "count": 0},
        {"type": "quick_reply_button", "button_content": "Not interested", "count": 0},
    ]
    assert quiet["cost"] == [
        {"type": "amount_spent", "value": 0.0},
        {"type": "cost_per_delivered"},
        {"type": "cost_per_url_button_click"},
    ]
    assert body["paging"]["cursors"]["before"] and body["paging"]["cursors"]["after"]


async def test_meta_shape_has_only_the_metrics_asked_for(http: aiohttp.ClientSession) -> None:
    async with Emulator(rate=None, wall_clock=lambda: float(NOW), analytics_shape="meta") as emu:
        summer = await _send_summer(emu, http, 1)
        _, body, _ = await call(
            http,
            emu,
            "GET",
            "/marketing/template_analytics",
            params=_query([summer], ["SENT", "CLICKED"]),
        )
    point = body["data"][0]["data_points"][1]
    assert set(point) == {"template_id", "start", "end", "sent", "clicked"}


async def test_expanded_shape(http: aiohttp.ClientSession) -> None:
    async with Emulator(
        rate=None, wall_clock=lambda: float(NOW), analytics_shape="expanded"
    ) as emu:
        summer = await _send_summer(emu, http, 3)
        _, body, _ = await call(
            http, emu, "GET", "/marketing/template_analytics", params=_query([summer])
        )
    assert body["id"] == emu.config.waba_id
    assert sorted(body["template_analytics"]) == ["data", "paging"]
    assert body["template_analytics"]["data"][0]["data_points"][1]["sent"] == 3


async def test_the_sdk_reads_the_same_numbers_from_every_shape(
    shaped: Emulator, http: aiohttp.ClientSession
) -> None:
    summer = await _send_summer(shaped, http, 40)
    ids = [t.id for t in shaped.templates]  # 13 templates: two requests, merged
    async with D360Client(
        shaped.api_key, base_url=shaped.url, rate_limit=None, retry=RetryPolicy(wait=False)
    ) as client:
        result = await client.get_template_analytics(start=NOW - DAY, end=NOW, template_ids=ids)

    assert len(result.raw["responses"]) == 2
    assert set(result.by_template()) == set(ids)
    totals = result.by_template()[summer]
    assert (totals.sent, totals.delivered, totals.read, totals.clicked) == (40, 36, 24, 4)
    assert result.total().sent == 40
    expected_cost = Decimal(1000) if shaped.config.analytics_shape == "spec" else Decimal("1")
    assert totals.amount_spent == expected_cost


def test_the_command_line_option() -> None:
    args = build_parser().parse_args(["--analytics-shape", "expanded"])
    assert emulator_from_args(args).config.analytics_shape == "expanded"
    assert emulator_from_args(build_parser().parse_args([])).config.analytics_shape == "spec"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--analytics-shape", "xml"])


def test_an_unknown_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="analytics_shape"):
        Emulator(analytics_shape="xml")


def test_spec_shape_stays_the_default() -> None:
    assert Emulator().config.analytics_shape == "spec"
