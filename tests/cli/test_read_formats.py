"""What an analyst gets from the read commands: ``--days N`` is N days, JSON of a listing is
always a list of objects (never the same data twice), CSV flattens nested fields."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from d360_async import D360Client
from d360_async.testing import Emulator

from .conftest import d360


def rows(out: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(out)))


def is_list_of_objects(document: Any) -> bool:
    return isinstance(document, list) and all(isinstance(item, dict) for item in document)


async def test_days_n_is_n_days(d360_emulator: Emulator) -> None:
    analytics = ("analytics", "--template", "welcome_offer", "--daily", "--format", "csv")

    one = await d360(*analytics, "--days", "1", emulator=d360_emulator)
    week = await d360(*analytics, "--days", "7", emulator=d360_emulator)
    until = await d360(*analytics, "--days", "3", "--end", "2026-11-24", emulator=d360_emulator)

    assert one.code == week.code == until.code == 0
    assert len({r["day"] for r in rows(one.out)}) == 1
    assert len({r["day"] for r in rows(week.out)}) == 7
    assert [r["day"] for r in rows(until.out)] == ["2026-11-22", "2026-11-23", "2026-11-24"]


async def test_templates_get_is_a_list_whatever_the_data(d360_emulator: Emulator) -> None:
    one_language = await d360(
        "templates", "get", "welcome_offer", "--format", "json", emulator=d360_emulator
    )
    three_languages = await d360(
        "templates", "get", "summer_sale", "--format", "json", emulator=d360_emulator
    )
    template = d360_emulator.get_template("order_update", "en_US")
    by_id = await d360("templates", "get", template.id, "--format", "json", emulator=d360_emulator)

    documents = [json.loads(r.out) for r in (one_language, three_languages, by_id)]
    assert all(is_list_of_objects(document) for document in documents)
    assert [len(document) for document in documents] == [1, 3, 1]
    assert documents[2][0]["id"] == template.id


async def test_analytics_json_is_a_list_without_repeated_responses(
    d360_emulator: Emulator, d360_client: D360Client
) -> None:
    await d360_client.send_marketing_message(
        {
            "to": "+4915100000001",
            "template": {"name": "weekly_digest", "language": {"code": "en_GB"}},
        }
    )

    run = await d360("analytics", "--days", "2", "--format", "json", emulator=d360_emulator)

    assert run.code == 0, run.err
    document = json.loads(run.out)
    assert is_list_of_objects(document)
    assert len(document) == 13  # one per template: 13 ids take two requests, merged
    assert "responses" not in run.out
    digest = next(item for item in document if item["name"] == "weekly_digest")
    assert (digest["language"], digest["SENT"]) == ("en_GB", 1)


async def test_quality_csv_has_a_column_per_match_key(d360_emulator: Emulator) -> None:
    d360_emulator.create_dataset("777")
    dataset_id = d360_emulator.datasets["777"].id

    run = await d360("quality", dataset_id, "--format", "csv", emulator=d360_emulator)
    as_json = await d360("quality", dataset_id, "--format", "json", emulator=d360_emulator)

    assert run.code == as_json.code == 0
    table = rows(run.out)
    assert {"match_keys.email", "match_keys.phone", "match_keys.ctwa_clid"} <= set(table[0])
    assert "match_keys" not in table[0]
    assert all(r["match_keys.email"].endswith("%") for r in table)
    assert is_list_of_objects(json.loads(as_json.out))


async def test_insights_csv_has_a_column_per_action_type(d360_emulator: Emulator) -> None:
    run = await d360(
        "insights", "act_1234", "--level", "campaign", "--fields", "campaign_id,spend,actions",
        "--format", "csv", emulator=d360_emulator,
    )  # fmt: skip

    assert run.code == 0, run.err
    table = rows(run.out)
    assert list(table[0])[:4] == [
        "campaign_id",
        "spend",
        "actions.link_click",
        "actions.onsite_conversion.messaging_conversation_started_7d",
    ]
    assert all(r["actions.link_click"].isdigit() for r in table)
    assert not any("{" in value for r in table for value in r.values())
