"""The read commands (templates, analytics, insights, quality, dataset) and connection errors."""

from __future__ import annotations

import csv
import io
import json
import socket

from d360_async import D360Client
from d360_async.testing import Emulator

from .conftest import d360


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_templates_list_in_every_format(d360_emulator: Emulator) -> None:
    as_json = await d360("templates", "list", "--format", "json", emulator=d360_emulator)
    as_csv = await d360(
        "templates", "list", "--status", "APPROVED", "--language", "en_US", "--format", "csv",
        emulator=d360_emulator,
    )  # fmt: skip
    as_table = await d360("templates", "list", "--limit", "2", emulator=d360_emulator)

    assert as_json.code == as_csv.code == as_table.code == 0
    listed = json.loads(as_json.out)
    assert len(listed) == 13 and listed[0]["name"] == "summer_sale"
    approved = rows(as_csv.out)
    assert list(approved[0]) == ["id", "name", "language", "status", "category", "params", "header"]
    assert {r["name"] for r in approved} == {
        "summer_sale",
        "welcome_offer",
        "cart_reminder",
        "order_update",
        "vip_reminder",
    }
    assert all(r["status"] == "APPROVED" for r in approved)
    summer = next(r for r in approved if r["name"] == "summer_sale")
    assert (summer["params"], summer["header"]) == ("3", "IMAGE")
    lines = as_table.out.splitlines()
    assert lines[0].strip() == "message templates"
    assert "summer_sale" in as_table.out and "welcome_offer" not in as_table.out  # --limit 2


async def test_templates_get_by_id_and_by_name(d360_emulator: Emulator) -> None:
    template = d360_emulator.get_template("welcome_offer", "en_US")

    by_id = await d360("templates", "get", template.id, "--format", "json", emulator=d360_emulator)
    by_name = await d360(
        "templates", "get", "summer_sale", "--language", "de", "--format", "csv",
        emulator=d360_emulator,
    )  # fmt: skip
    missing = await d360("templates", "get", "nope", emulator=d360_emulator)

    assert by_id.code == by_name.code == 0
    assert [t["name"] for t in json.loads(by_id.out)] == ["welcome_offer"]
    [row] = rows(by_name.out)
    assert (row["language"], row["buttons"]) == ("de", "Jetzt kaufen")
    assert row["body"].startswith("Hallo {{1}}")
    assert missing.code == 1
    assert missing.err.strip() == "d360: error: template 'nope' not found"


async def test_analytics_counts_the_sends(d360_emulator: Emulator, d360_client: D360Client) -> None:
    for i in range(3):
        await d360_client.send_marketing_message(
            {
                "to": f"+4915100000{i:03d}",
                "template": {
                    "name": "welcome_offer",
                    "language": {"code": "en_US"},
                    "components": [
                        {"type": "body", "parameters": [{"type": "text", "text": "Ada"}]}
                    ],
                },
            }
        )

    run = await d360(
        "analytics", "--template", "welcome_offer", "--days", "2", "--format", "csv",
        emulator=d360_emulator,
    )  # fmt: skip
    daily = await d360(
        "analytics", "--template", "welcome_offer", "--metrics", "SENT,CLICKED", "--daily",
        "--format", "csv", emulator=d360_emulator,
    )  # fmt: skip
    every = await d360("analytics", "--format", "json", emulator=d360_emulator)
    unknown = await d360("analytics", "--template", "nope", emulator=d360_emulator)

    assert run.code == daily.code == every.code == 0
    [row] = rows(run.out)
    assert (row["name"], row["SENT"], row["DELIVERED"], row["COST"]) == (
        "welcome_offer",
        "3",
        "2",
        "75",
    )
    per_day = rows(daily.out)
    assert list(per_day[0]) == ["day", "template_id", "name", "language", "SENT", "CLICKED"]
    assert sum(int(r["SENT"]) for r in per_day) == 3
    assert len(json.loads(every.out)) == 13  # one object per template, not per request
    assert unknown.code == 1
    assert unknown.err.strip() == "d360: error: template 'nope' not found"


async def test_insights(d360_emulator: Emulator) -> None:
    run = await d360(
        "insights", "act_1234", "--level", "campaign", "--date-preset", "last_7d",
        "--fields", "spend,impressions", "--format", "csv", emulator=d360_emulator,
    )  # fmt: skip
    as_json = await d360("insights", "act_1234", "--format", "json", emulator=d360_emulator)
    bad_preset = await d360("insights", "act_1", "--date-preset", "last_2d", emulator=d360_emulator)
    half_range = await d360("insights", "act_1", "--since", "2026-01-01", emulator=d360_emulator)

    assert run.code == as_json.code == 0
    table = rows(run.out)
    assert len(table) == 3
    assert list(table[0])[:2] == ["spend", "impressions"]
    assert all(r["campaign_id"] for r in table)
    assert len(json.loads(as_json.out)) == 1
    assert bad_preset.code == half_range.code == 2
    assert bad_preset.error_line.startswith(
        "d360: error: date_preset: unknown value 'last_2d'; expected one of"
    )
    assert half_range.error_line == "d360: error: give both --since and --until"


async def test_dataset_and_quality(d360_emulator: Emulator) -> None:
    missing = await d360("dataset", "get", "777", emulator=d360_emulator)
    created = await d360(
        "dataset", "create", "777", "--name", "shop", "--format", "json", emulator=d360_emulator
    )
    dataset_id = json.loads(created.out)["id"]
    fetched = await d360("dataset", "get", "777", "--format", "csv", emulator=d360_emulator)
    quality = await d360("quality", dataset_id, emulator=d360_emulator)
    quality_json = await d360("quality", dataset_id, "--format", "json", emulator=d360_emulator)

    assert missing.code == 1
    assert missing.error_line.startswith(
        "d360: error: 400 (#100) No conversion dataset exists for node 777 (code=100"
    )
    assert created.code == fetched.code == quality.code == quality_json.code == 0
    assert rows(fetched.out) == [{"id": dataset_id, "name": "shop"}]
    assert "Purchase" in quality.out and "LeadSubmitted" in quality.out
    assert quality.out.splitlines()[0].strip() == f"dataset {dataset_id} quality"
    events = {e["event_name"] for e in json.loads(quality_json.out)}
    assert events == {"Purchase", "LeadSubmitted"}


async def test_wrong_key_unreachable_server_and_bad_url(d360_emulator: Emulator) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    closed = f"http://127.0.0.1:{closed_port}"

    denied = await d360("templates", "list", "--api-key", "not-the-key", emulator=d360_emulator)
    unreachable = await d360(
        "--base-url", closed, "--retries", "0", "quality", "1", emulator=d360_emulator
    )
    bad_url = await d360("dataset", "get", "1", emulator=d360_emulator, env={"D360_BASE_URL": "x"})

    assert denied.code == unreachable.code == 1
    assert denied.error_line == (
        "d360: error: 401 Invalid api token. (check --api-key or D360_API_KEY)"
    )
    assert unreachable.error_line.startswith(f"d360: error: cannot reach {closed}: ")
    assert bad_url.code == 2
    assert bad_url.error_line == "d360: error: base_url: must start with http:// or https://"
    for run in (denied, unreachable, bad_url):
        assert len(run.err.strip().splitlines()) == 1
        assert "not-the-key" not in run.out + run.err
