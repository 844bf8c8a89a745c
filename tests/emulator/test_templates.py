"""Template listing (filters, Meta-style cursor paging) and retrieval by id."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from yarl import URL

from d360_async.testing import Emulator

from ._helpers import call, meta_error


async def _all_pages(
    http: aiohttp.ClientSession, emu: Emulator, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Follow ``paging.next`` links to the end; asserts every page's shape on the way."""
    pages = []
    status, body, _ = await call(http, emu, "GET", "/marketing/message_templates", params=params)
    while True:
        assert status == 200
        pages.append(body)
        if "next" not in body["paging"]:
            return pages
        next_url = URL(body["paging"]["next"])
        assert next_url.query["after"] == body["paging"]["cursors"]["after"]
        status, body, _ = await call(http, emu, "GET", next_url.path, params=dict(next_url.query))


async def test_seeded_catalogue_is_realistic(emu: Emulator, http: aiohttp.ClientSession) -> None:
    status, body, _ = await call(
        http, emu, "GET", "/marketing/message_templates", params={"limit": 100}
    )

    assert status == 200
    templates = body["data"]
    assert {t["status"] for t in templates} >= {"APPROVED", "PAUSED", "REJECTED", "PENDING"}
    assert len({t["language"] for t in templates}) >= 4
    summer = next(t for t in templates if (t["name"], t["language"]) == ("summer_sale", "en_US"))
    kinds = [c["type"] for c in summer["components"]]
    assert kinds == ["HEADER", "BODY", "FOOTER", "BUTTONS"]
    assert summer["components"][0]["format"] == "IMAGE"
    assert "{{1}}" in summer["components"][1]["text"]
    assert {b["type"] for b in summer["components"][3]["buttons"]} == {"URL", "QUICK_REPLY"}
    assert body["paging"]["cursors"]["before"]
    assert "next" not in body["paging"]


async def test_paging_with_after_visits_every_template_once(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    pages = await _all_pages(http, emu, {"limit": 5})

    ids = [t["id"] for page in pages for t in page["data"]]
    assert [len(page["data"]) for page in pages] == [5, 5, 3]
    assert ids == [t.id for t in emu.templates]
    assert "previous" not in pages[0]["paging"]
    assert "previous" in pages[1]["paging"]


async def test_before_cursor_returns_the_previous_page(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    pages = await _all_pages(http, emu, {"limit": 4})
    before = pages[1]["paging"]["cursors"]["before"]

    _, body, _ = await call(
        http, emu, "GET", "/marketing/message_templates", params={"limit": 4, "before": before}
    )

    assert [t["id"] for t in body["data"]] == [t["id"] for t in pages[0]["data"]]


async def test_cursor_survives_its_template_leaving_the_filter(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    params = {"status": "APPROVED", "limit": 3}
    _, first, _ = await call(http, emu, "GET", "/marketing/message_templates", params=params)
    last = first["data"][-1]
    emu.set_template_status(last["name"], last["language"], "PAUSED")

    _, second, _ = await call(
        http,
        emu,
        "GET",
        "/marketing/message_templates",
        params={**params, "after": first["paging"]["cursors"]["after"]},
    )

    approved = [t.id for t in emu.templates if t.status == "APPROVED"]
    assert [t["id"] for t in second["data"]] == approved[2:5]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"name": "summer"},
            {("summer_sale", "en_US"), ("summer_sale", "de"), ("summer_sale", "es")},
        ),
        ({"status": "PAUSED"}, {("black_friday", "en_US")}),
        ({"status": "REJECTED,PENDING"}, {("flash_deal", "pt_BR"), ("new_arrivals", "en_US")}),
        ({"category": "UTILITY"}, {("order_update", "en_US")}),
        ({"language": "de"}, {("summer_sale", "de")}),
        ({"name": "summer_sale", "language": "es"}, {("summer_sale", "es")}),
        ({"content": "cart"}, {("cart_reminder", "en_US")}),
        ({"name_or_content": "points"}, {("loyalty_points", "fr")}),
        ({"status": "DELETED"}, set()),
    ],
)
async def test_filters(
    emu: Emulator,
    http: aiohttp.ClientSession,
    params: dict[str, str],
    expected: set[tuple[str, str]],
) -> None:
    pages = await _all_pages(http, emu, {**params, "limit": 2})

    found = {(t["name"], t["language"]) for page in pages for t in page["data"]}
    assert found == expected


async def test_default_page_size_is_25(emu: Emulator, http: aiohttp.ClientSession) -> None:
    for i in range(30):
        emu.add_template(f"bulk_{i:02d}", "en_US")

    _, body, _ = await call(http, emu, "GET", "/marketing/message_templates")

    assert len(body["data"]) == 25
    assert "next" in body["paging"]


@pytest.mark.parametrize(
    "params", [{"limit": "0"}, {"limit": "ten"}, {"after": "!!!"}, {"before": "bm90LWFuLWlk"}]
)
async def test_bad_limit_or_cursor_is_400(
    emu: Emulator, http: aiohttp.ClientSession, params: dict[str, str]
) -> None:
    status, body, _ = await call(http, emu, "GET", "/marketing/message_templates", params=params)
    assert (status, meta_error(body)["code"]) == (400, 100)


async def test_get_template_by_id(emu: Emulator, http: aiohttp.ClientSession) -> None:
    template = emu.get_template("welcome_offer", "en_US")

    status, body, _ = await call(http, emu, "GET", f"/marketing/{template.id}")

    assert status == 200
    assert body == template.to_json()
    assert body["status"] == "APPROVED"
    assert body["category"] == "MARKETING"


async def test_get_unknown_template_id_is_meta_code_100(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    status, body, _ = await call(http, emu, "GET", "/marketing/123456789")

    error = meta_error(body)
    assert (status, error["code"], error["error_subcode"]) == (400, 100, 33)
    assert "123456789" in error["message"]


async def test_status_change_is_visible_in_listing_and_by_id(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    template = emu.set_template_status("summer_sale", "de", "PAUSED")

    _, one, _ = await call(http, emu, "GET", f"/marketing/{template.id}")
    _, paused, _ = await call(
        http, emu, "GET", "/marketing/message_templates", params={"status": "PAUSED"}
    )

    assert one["status"] == "PAUSED"
    assert template.id in {t["id"] for t in paused["data"]}


def test_template_store_rejects_bad_input() -> None:
    emu = Emulator()
    with pytest.raises(ValueError, match="unknown template status"):
        emu.set_template_status("summer_sale", "en_US", "SLEEPING")
    with pytest.raises(KeyError):
        emu.set_template_status("nope", "en_US", "PAUSED")
    with pytest.raises(ValueError, match="already exists"):
        emu.add_template("summer_sale", "en_US")
    with pytest.raises(ValueError, match="digits"):
        emu.add_template("x", template_id="abc")
    assert Emulator(seed_templates=False).templates == []
