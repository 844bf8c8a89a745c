"""Cursor paging rules: where a listing ends, and that it never loops."""

from __future__ import annotations

from typing import Any

from aioresponses import aioresponses

from d360_async import D360Client

from .conftest import query, requests_to
from .test_operations import url

PATH = "/marketing/message_templates"


def page(names: list[str], after: str | None, *, next_link: bool) -> dict[str, Any]:
    paging: dict[str, Any] = {"cursors": {"before": "b", **({"after": after} if after else {})}}
    if next_link:
        paging["next"] = f"https://next/{after}"
    return {"data": [{"name": n} for n in names], "paging": paging}


async def names(client: D360Client, **kwargs: Any) -> list[str | None]:
    return [t.name async for t in client.iter_message_templates(**kwargs)]


async def test_missing_next_ends_a_short_page(mock_api: aioresponses, client: D360Client) -> None:
    mock_api.get(url(PATH), payload=page(["a", "b"], "c1", next_link=False))
    assert await names(client, limit=5) == ["a", "b"]
    assert len(requests_to(mock_api, "GET", PATH)) == 1


async def test_full_page_without_next_is_followed(
    mock_api: aioresponses, client: D360Client
) -> None:
    # A proxy that strips ``next`` must not cut the listing short.
    mock_api.get(url(PATH), payload=page(["a", "b"], "c1", next_link=False))
    mock_api.get(url(PATH), payload=page([], None, next_link=False))
    assert await names(client, limit=2) == ["a", "b"]
    calls = requests_to(mock_api, "GET", PATH)
    assert [query(c).get("after") for c in calls] == [None, "c1"]


async def test_repeated_cursor_stops(mock_api: aioresponses, client: D360Client) -> None:
    mock_api.get(url(PATH), payload=page(["a"], "same", next_link=True))
    mock_api.get(url(PATH), payload=page(["b"], "same", next_link=True))
    assert await names(client) == ["a", "b"]
    assert len(requests_to(mock_api, "GET", PATH)) == 2


async def test_empty_first_page(mock_api: aioresponses, client: D360Client) -> None:
    mock_api.get(url(PATH), payload={"data": []})
    assert await names(client) == []


async def test_iterator_can_stop_early(mock_api: aioresponses, client: D360Client) -> None:
    mock_api.get(url(PATH), payload=page(["a", "b"], "c1", next_link=True))
    async for template in client.iter_message_templates():
        assert template.name == "a"
        break
    assert len(requests_to(mock_api, "GET", PATH)) == 1
