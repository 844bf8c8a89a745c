"""Template analytics, Ads Insights and dataset quality."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from yarl import URL

from d360_async.testing import Emulator

from ._helpers import call, event, message, meta_error

DAY = 86_400
NOW = 1_760_000_000  # a fixed wall clock (2025-10-09 08:53 UTC)


@pytest.fixture
async def fixed_emu() -> Any:
    async with Emulator(rate=None, wall_clock=lambda: float(NOW)) as emulator:
        yield emulator


def _analytics_query(template_ids: list[str], **extra: str) -> dict[str, str]:
    return {
        "start": str(NOW - 2 * DAY),
        "end": str(NOW),
        "granularity": "DAILY",
        "metric_types": json.dumps(["SENT", "DELIVERED", "READ", "CLICKED", "COST"]),
        "template_ids": json.dumps(template_ids),
        "product_type": "MARKETING_MESSAGES_LITE_API",
        **extra,
    }


async def test_analytics_count_the_accepted_sends(
    fixed_emu: Emulator, http: aiohttp.ClientSession
) -> None:
    emu = fixed_emu
    summer = emu.get_template("summer_sale", "en_US").id
    digest = emu.get_template("weekly_digest", "en_GB").id
    for i in range(10):
        await call(http, emu, "POST", "/marketing_messages", json=message(to=f"+49151{i:08d}"))

    status, body, _ = await call(
        http, emu, "GET", "/marketing/template_analytics", params=_analytics_query([summer, digest])
    )

    assert status == 200
    assert body["id"] == emu.config.waba_id
    by_template = {t["template_id"]: t["analytics"] for t in body["template_analytics"]}
    today = NOW - NOW % DAY
    sent = next(m for m in by_template[summer] if m["metric_type"] == "SENT")
    assert sent["granularity"] == "DAILY"
    assert [(p["start"], p["end"]) for p in sent["data_points"]] == [
        (today - 2 * DAY, today - DAY),
        (today - DAY, today),
        (today, today + DAY),
    ]
    totals = {
        m["metric_type"]: sum(p["value"] for p in m["data_points"]) for m in by_template[summer]
    }
    assert totals == {"SENT": 10, "DELIVERED": 9, "READ": 6, "CLICKED": 1, "COST": 250}
    assert all(p["value"] == 0 for m in by_template[digest] for p in m["data_points"])


async def test_analytics_exclude_mm_lite_without_product_type(
    fixed_emu: Emulator, http: aiohttp.ClientSession
) -> None:
    emu = fixed_emu
    await call(http, emu, "POST", "/marketing_messages", json=message())
    query = _analytics_query([emu.get_template("summer_sale", "en_US").id])
    del query["product_type"]

    _, body, _ = await call(http, emu, "GET", "/marketing/template_analytics", params=query)

    values = [
        p["value"] for m in body["template_analytics"][0]["analytics"] for p in m["data_points"]
    ]
    assert values
    assert set(values) == {0}


async def test_analytics_accept_comma_lists_and_default_metrics(
    fixed_emu: Emulator, http: aiohttp.ClientSession
) -> None:
    query = _analytics_query([])
    query["template_ids"] = "1,2"
    del query["metric_types"]

    status, body, _ = await call(
        http, fixed_emu, "GET", "/marketing/template_analytics", params=query
    )

    assert status == 200
    assert [t["template_id"] for t in body["template_analytics"]] == ["1", "2"]
    assert [m["metric_type"] for m in body["template_analytics"][0]["analytics"]] == [
        "SENT",
        "DELIVERED",
        "READ",
        "CLICKED",
        "COST",
    ]


@pytest.mark.parametrize(
    "change",
    [
        {"template_ids": json.dumps([str(i) for i in range(11)])},
        {"template_ids": "[]"},
        {"template_ids": "[1,"},
        {"granularity": "HOURLY"},
        {"metric_types": '["LIKES"]'},
        {"start": "yesterday"},
        {"end": str(NOW - 3 * DAY)},
        {"start": str(NOW - 200 * DAY)},
        {"product_type": "SMS"},
    ],
)
async def test_analytics_bad_queries_are_400(
    fixed_emu: Emulator, http: aiohttp.ClientSession, change: dict[str, str]
) -> None:
    query = {**_analytics_query(["1"]), **change}
    status, body, _ = await call(
        http, fixed_emu, "GET", "/marketing/template_analytics", params=query
    )
    assert (status, meta_error(body)["code"]) == (400, 100)


async def test_enable_analytics_requires_enable_true(http: aiohttp.ClientSession) -> None:
    async with Emulator(analytics_enabled=False) as emu:
        before, _, _ = await call(
            http, emu, "GET", "/marketing/template_analytics", params=_analytics_query(["1"])
        )
        refused, body, _ = await call(http, emu, "POST", "/marketing/template_analytics")
        wrong, _, _ = await call(
            http, emu, "POST", "/marketing/template_analytics", params={"enable": "yes"}
        )
        enabled, ok, _ = await call(
            http, emu, "POST", "/marketing/template_analytics", params={"enable": "true"}
        )
        after, _, _ = await call(
            http, emu, "GET", "/marketing/template_analytics", params=_analytics_query(["1"])
        )

    assert (before, refused, wrong, meta_error(body)["code"]) == (400, 400, 400, 100)
    assert (enabled, ok, after) == (200, {"success": True}, 200)
    assert emu.analytics_enabled


async def test_insights_paging_follows_next_to_the_end(
    fixed_emu: Emulator, http: aiohttp.ClientSession
) -> None:
    params = {"level": "ad", "breakdowns": "age", "limit": "25", "fields": "spend,reach"}
    rows: list[dict[str, Any]] = []
    status, body, _ = await call(
        http, fixed_emu, "GET", "/marketing/act_42/insights", params=params
    )
    pages = 1
    while "next" in body["paging"]:
        url = URL(body["paging"]["next"])
        rows += body["data"]
        status, body, _ = await call(http, fixed_emu, "GET", url.path, params=dict(url.query))
        pages += 1
    rows += body["data"]

    assert status == 200
    assert pages == 3
    assert len(rows) == 12 * 6
    assert len({(r["ad_id"], r["age"]) for r in rows}) == 72
    assert set(rows[0]) == {
        "spend",
        "reach",
        "account_id",
        "campaign_id",
        "adset_id",
        "ad_id",
        "age",
        "date_start",
        "date_stop",
    }
    assert all(isinstance(r["spend"], str) and float(r["spend"]) > 0 for r in rows)
    assert rows[0]["account_id"] == "42"


async def test_insights_are_deterministic_and_honour_date_range(
    fixed_emu: Emulator, http: aiohttp.ClientSession
) -> None:
    path = "/marketing/123/insights"
    _, first, _ = await call(http, fixed_emu, "GET", path, params={"date_preset": "last_7d"})
    _, again, _ = await call(http, fixed_emu, "GET", path, params={"date_preset": "last_7d"})
    time_range = json.dumps({"since": "2025-09-01", "until": "2025-09-30"})
    _, ranged, _ = await call(http, fixed_emu, "GET", path, params={"time_range": time_range})

    assert first == again
    [row] = first["data"]
    assert (row["date_start"], row["date_stop"]) == ("2025-10-02", "2025-10-08")
    assert {"impressions", "reach", "spend", "ctr", "actions"} <= set(row)
    assert "account_id" not in row
    assert (ranged["data"][0]["date_start"], ranged["data"][0]["date_stop"]) == (
        "2025-09-01",
        "2025-09-30",
    )
    assert ranged["data"][0]["impressions"] != row["impressions"]


async def test_insights_sort_filter_and_mm_fields(
    fixed_emu: Emulator, http: aiohttp.ClientSession
) -> None:
    params = {
        "level": "campaign",
        "fields": "impressions,marketing_messages_sent,marketing_messages_delivered",
        "sort": "impressions_descending",
    }
    _, body, _ = await call(http, fixed_emu, "GET", "/marketing/act_1/insights", params=params)
    impressions = [int(r["impressions"]) for r in body["data"]]
    threshold = impressions[1]
    filtering = json.dumps(
        [{"field": "impressions", "operator": "GREATER_THAN", "value": threshold}]
    )
    _, filtered, _ = await call(
        http,
        fixed_emu,
        "GET",
        "/marketing/act_1/insights",
        params={**params, "filtering": filtering},
    )

    assert len(impressions) == 3
    assert impressions == sorted(impressions, reverse=True)
    assert all(
        int(r["marketing_messages_delivered"]) <= int(r["marketing_messages_sent"])
        for r in body["data"]
    )
    assert [int(r["impressions"]) for r in filtered["data"]] == [impressions[0]]


async def test_insights_attribution_windows_appear_in_actions(
    fixed_emu: Emulator, http: aiohttp.ClientSession
) -> None:
    params = {"fields": "actions", "action_attribution_windows": '["1d_click","1d_view"]'}
    _, body, _ = await call(http, fixed_emu, "GET", "/marketing/act_1/insights", params=params)

    action = body["data"][0]["actions"][0]
    assert set(action) == {"action_type", "value", "1d_click", "1d_view"}


@pytest.mark.parametrize(
    "params",
    [
        {"fields": "impressions,bogus"},
        {"date_preset": "last_century"},
        {"time_range": '{"since": "2025-09-30", "until": "2025-09-01"}'},
        {"time_range": "1700000000"},
        {"level": "galaxy"},
        {"breakdowns": "shoe_size"},
        {"filtering": '[{"field": "impressions"}]'},
        {"filtering": '[{"field": "impressions", "operator": "ROUGHLY", "value": 1}]'},
        {"sort": "actions_descending"},
        {"action_attribution_windows": '["2d_click"]'},
        {"use_unified_attribution_setting": "maybe"},
        {"limit": "-1"},
        {"after": "Zm9v"},
    ],
)
async def test_insights_bad_parameters_are_400(
    fixed_emu: Emulator, http: aiohttp.ClientSession, params: dict[str, str]
) -> None:
    status, body, _ = await call(http, fixed_emu, "GET", "/marketing/act_1/insights", params=params)
    assert (status, meta_error(body)["code"]) == (400, 100)


async def test_dataset_quality_requires_dataset_id(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    status, body, _ = await call(http, emu, "GET", "/marketing/dataset_quality")
    assert (status, meta_error(body)["code"]) == (400, 100)
    assert "dataset_id" in meta_error(body)["message"]


async def test_dataset_quality_full_entries_from_recorded_events(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    rich = event(1, user_data={"em": ["a" * 64], "ph": ["b" * 64], "ctwa_clid": "c"})
    poor = event(2, user_data={"ctwa_clid": "c"})
    lead = event(3, event_name="LeadSubmitted", user_data={})
    await call(http, emu, "POST", "/marketing/777/events", json={"data": [rich, poor, lead]})

    status, body, _ = await call(
        http, emu, "GET", "/marketing/dataset_quality", params={"dataset_id": "777"}
    )

    assert status == 200
    by_name = {entry["event_name"]: entry for entry in body["web"]}
    assert set(by_name) == {"Purchase", "LeadSubmitted"}
    purchase = by_name["Purchase"]
    assert set(purchase) == {
        "event_name",
        "event_match_quality",
        "event_coverage",
        "dedupe_key_feedback",
        "data_freshness",
        "acr",
        "event_potential_aly_acr_increase",
    }
    coverage = {
        k["identifier"]: k["coverage"]["percentage"]
        for k in purchase["event_match_quality"]["match_key_feedback"]
    }
    assert (coverage["email"], coverage["ctwa_clid"], coverage["external_id"]) == (50.0, 100.0, 0.0)
    purchase_score = purchase["event_match_quality"]["composite_score"]
    lead_score = by_name["LeadSubmitted"]["event_match_quality"]["composite_score"]
    assert 0 <= lead_score < purchase_score <= 10


async def test_dataset_quality_projects_requested_fields(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    fields = "web{event_name,event_match_quality{composite_score,match_key_feedback{identifier}}}"

    status, body, _ = await call(
        http, emu, "GET", "/marketing/dataset_quality", params={"dataset_id": "1", "fields": fields}
    )

    assert status == 200
    for entry in body["web"]:
        assert set(entry) == {"event_name", "event_match_quality"}
        assert set(entry["event_match_quality"]) == {"composite_score", "match_key_feedback"}
        assert all(
            set(k) == {"identifier"} for k in entry["event_match_quality"]["match_key_feedback"]
        )


async def test_dataset_quality_agent_filter(emu: Emulator, http: aiohttp.ClientSession) -> None:
    await call(
        http, emu, "POST", "/marketing/5/events", json={"data": [event(1)], "partner_agent": "a"}
    )
    await call(
        http,
        emu,
        "POST",
        "/marketing/5/events",
        json={"data": [event(2, event_name="AddToCart")], "partner_agent": "b"},
    )

    _, body, _ = await call(
        http,
        emu,
        "GET",
        "/marketing/dataset_quality",
        params={"dataset_id": "5", "agent_name": "b"},
    )

    assert [e["event_name"] for e in body["web"]] == ["AddToCart"]


@pytest.mark.parametrize("fields", ["web{nope}", "web{event_name", "web{event_name{x}}", "{}"])
async def test_dataset_quality_bad_fields_are_400(
    emu: Emulator, http: aiohttp.ClientSession, fields: str
) -> None:
    status, body, _ = await call(
        http, emu, "GET", "/marketing/dataset_quality", params={"dataset_id": "1", "fields": fields}
    )
    assert (status, meta_error(body)["code"]) == (400, 100)
