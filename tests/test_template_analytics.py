"""Template analytics in every shape they come in (Meta's ``data_points``, the spec's, Graph
field expansion) parse into one typed result; merged requests work for each; totals."""

from __future__ import annotations

import copy
import re
from decimal import Decimal
from typing import Any

import pytest
from aioresponses import aioresponses
from hypothesis import given, settings
from hypothesis import strategies as st

from d360_async import APIResponseError, D360Client
from d360_async._converter import structure, unstructure
from d360_async._models_analytics import (
    TemplateAnalyticsResponse,
    TemplateButtonClicks,
    TemplateCostType,
)

from . import meta_samples as meta
from .conftest import API, query, requests_to

ANALYTICS_URL = re.compile(rf"^{API}/marketing/template_analytics.*")
NAMED_ID, CAROUSEL_ID = "1187334412275570", "1187334412275571"

SHAPES = {
    "meta": lambda body: body,
    "expanded": lambda body: {
        "id": "102290129340398",
        "template_analytics": {"data": body["data"], "paging": body.get("paging")},
    },
    "spec": meta.spec_shape,
}


async def _analytics(
    mock_api: aioresponses, client: D360Client, *bodies: dict[str, Any], ids: list[str]
) -> TemplateAnalyticsResponse:
    for body in bodies:
        mock_api.get(ANALYTICS_URL, payload=body)
    return await client.get_template_analytics(start=meta.D1, end=meta.D2 + 1, template_ids=ids)


async def test_meta_shape_is_parsed_per_template_and_day(
    mock_api: aioresponses, client: D360Client
) -> None:
    result = await _analytics(mock_api, client, meta.ANALYTICS_META, ids=[NAMED_ID, CAROUSEL_ID])

    assert (result.granularity, result.product_type) == ("DAILY", "MARKETING_MESSAGES_LITE_API")
    assert [(p.template_id, p.start, p.sent) for p in result.data_points] == [
        (NAMED_ID, meta.D1, 1200),
        (NAMED_ID, meta.D2, 800),
        (CAROUSEL_ID, meta.D1, 0),
        (CAROUSEL_ID, meta.D2, 100),
    ]
    first = result.data_points[0]
    assert (first.end, first.delivered, first.read) == (meta.D1 + meta.DAY, 1140, 840)
    assert first.clicked == (
        TemplateButtonClicks(type="unique_url_button", button_content="Redeem", count=87),
        TemplateButtonClicks(type="quick_reply_button", button_content="Not now", count=2),
    )
    assert first.clicks == 89
    assert first.cost_of(TemplateCostType.AMOUNT_SPENT) == Decimal("30.75")
    assert first.cost_of("cost_per_delivered") == Decimal("0.027")
    quiet = result.data_points[2]
    assert quiet.clicked == () and quiet.cost_of(TemplateCostType.COST_PER_DELIVERED) is None
    assert result.raw == meta.ANALYTICS_META


async def test_field_expansion_form_is_parsed(mock_api: aioresponses, client: D360Client) -> None:
    result = await _analytics(
        mock_api, client, meta.ANALYTICS_EXPANDED, ids=[NAMED_ID, CAROUSEL_ID]
    )
    assert result.id == "102290129340398"
    assert len(result.data_points) == 4
    assert result.paging is not None and result.paging.cursors.after == "MjQZD"


@pytest.mark.parametrize("shape", sorted(SHAPES))
async def test_every_shape_gives_the_same_totals(
    mock_api: aioresponses, client: D360Client, shape: str
) -> None:
    body = SHAPES[shape](copy.deepcopy(meta.ANALYTICS_META))
    result = await _analytics(mock_api, client, body, ids=[NAMED_ID, CAROUSEL_ID])

    total = result.total()
    assert (total.sent, total.delivered, total.read, total.clicked) == (2100, 1995, 1470, 111)
    assert total.amount_spent == Decimal("53.8")
    assert total.cost_per_delivered == Decimal("53.8") / 1995
    assert (total.start, total.end) == (meta.D1, meta.D2 + meta.DAY)
    named = result.by_template()[NAMED_ID]
    assert (named.template_id, named.sent, named.clicked, named.amount_spent) == (
        NAMED_ID,
        2000,
        104,
        Decimal("51.25"),
    )
    if shape != "spec":  # the spec's shape has no per-button detail
        assert named.clicks_by_button == (
            TemplateButtonClicks(type="unique_url_button", button_content="Redeem", count=100),
            TemplateButtonClicks(type="quick_reply_button", button_content="Not now", count=4),
        )
        assert named.cost_per_url_button_click == Decimal("51.25") / 100


@pytest.mark.parametrize("shape", sorted(SHAPES))
async def test_more_than_ten_ids_are_merged_for_every_shape(
    mock_api: aioresponses, client: D360Client, shape: str
) -> None:
    ids = [str(1000 + i) for i in range(23)]
    bodies = []
    for chunk in (ids[0:10], ids[10:20], ids[20:23]):
        points = [meta.meta_point(t, meta.D1, 10 * int(t[-2:]) + 1, 1, 0.5) for t in chunk]
        bodies.append(SHAPES[shape]({"data": [{"granularity": "DAILY", "data_points": points}]}))

    result = await _analytics(mock_api, client, *bodies, ids=ids)

    calls = requests_to(mock_api, "GET", "/marketing/template_analytics")
    assert [len(query(c)["template_ids"].split(",")) for c in calls] == [10, 10, 3]
    assert [p.template_id for p in result.data_points] == ids
    assert list(result.by_template()) == ids
    assert result.total().sent == sum(10 * i + 1 for i in range(23))
    assert result.raw == {"responses": bodies}


@pytest.mark.parametrize(
    "body",
    [
        {"results": [{"template_id": "1", "sent": 5}]},
        {"data": [{"template_id": "1", "numbers": {"sent": 5}}]},
        {"template_analytics": "5 sent"},
        {"data": {"data_points": []}},
    ],
)
async def test_an_unknown_shape_with_numbers_is_an_error_not_an_empty_result(
    mock_api: aioresponses, client: D360Client, body: dict[str, Any]
) -> None:
    mock_api.get(ANALYTICS_URL, payload=body)
    with pytest.raises(APIResponseError, match="template analytics"):
        await client.get_template_analytics(start=1, end=2, template_ids=["1"])


@pytest.mark.parametrize(
    "body", [{"data": [], "paging": {}}, {"id": "1", "template_analytics": []}, {"id": "1"}]
)
def test_no_data_is_an_empty_result(body: dict[str, Any]) -> None:
    result = structure(body, TemplateAnalyticsResponse)
    assert result.data_points == ()
    assert result.total().sent is None and result.by_template() == {}


def test_the_wire_form_parses_back_to_the_same_result() -> None:
    parsed = structure(meta.ANALYTICS_META, TemplateAnalyticsResponse)
    assert structure(unstructure(parsed), TemplateAnalyticsResponse) == parsed


_counts = st.integers(min_value=0, max_value=10**6)
_buttons = st.sampled_from(["Yes", "No", "Stop"])
_money = st.decimals(min_value=0, max_value=10**4, places=2).map(lambda d: float(d))


@st.composite
def _meta_bodies(draw: st.DrawFn) -> dict[str, Any]:
    points = []
    ids = draw(st.lists(st.sampled_from("123456"), min_size=1, max_size=4, unique=True))
    for template_id in ids:
        for day in range(draw(st.integers(min_value=1, max_value=3))):
            sent = draw(_counts)
            points.append(
                {
                    "template_id": template_id,
                    "start": meta.D1 + day * meta.DAY,
                    "end": meta.D1 + (day + 1) * meta.DAY,
                    "sent": sent,
                    "delivered": draw(_counts),
                    "read": draw(_counts),
                    "clicked": [
                        {
                            "type": "quick_reply_button",
                            "button_content": text,
                            "count": draw(_counts),
                        }
                        for text in draw(st.lists(_buttons, unique=True))
                    ],
                    "cost": [{"type": "amount_spent", "value": draw(_money)}],
                }
            )
    return {"data": [{"granularity": "DAILY", "data_points": points}]}


@settings(max_examples=80)
@given(_meta_bodies())
def test_the_three_shapes_agree_on_any_numbers(body: dict[str, Any]) -> None:
    results = {
        name: structure(shape(copy.deepcopy(body)), TemplateAnalyticsResponse)
        for name, shape in SHAPES.items()
    }
    totals = {name: r.total() for name, r in results.items()}
    for name, total in totals.items():
        reference = totals["meta"]
        assert (total.sent, total.delivered, total.read, total.clicked) == (
            reference.sent,
            reference.delivered,
            reference.read,
            reference.clicked,
        ), name
        assert total.amount_spent == reference.amount_spent, name
        assert results[name].by_template().keys() == results["meta"].by_template().keys()
    expected = sum(
        (Decimal(str(c["value"])) for p in body["data"][0]["data_points"] for c in p["cost"]),
        Decimal(0),
    )
    assert totals["meta"].amount_spent == expected
