"""``GET /marketing/message_templates`` and ``GET /marketing/{template_id}``."""

from __future__ import annotations

from aiohttp import web

from ._paging import CursorError, page, parse_limit
from ._responses import json_response
from ._state import State
from ._templates import Template


def _matches(template: Template, query: dict[str, str]) -> bool:
    name = query.get("name")
    if name and name.lower() not in template.name.lower():
        return False
    for field, value in (
        ("status", template.status),
        ("category", template.category),
        ("language", template.language),
    ):
        wanted = query.get(field)
        if wanted and value not in {item.strip() for item in wanted.split(",")}:
            return False
    content = query.get("content")
    if content and content.lower() not in template.body_text.lower():
        return False
    either = query.get("name_or_content")
    return not (
        either
        and either.lower() not in template.name.lower()
        and either.lower() not in template.body_text.lower()
    )


async def list_templates(state: State, request: web.Request, api_key: str) -> web.Response:
    """Filtered, cursor-paged template listing (Meta style)."""
    query = dict(request.query)
    try:
        limit = parse_limit(query.get("limit"))
        templates = [t for t in state.templates.ordered() if _matches(t, query)]
        chunk, paging = page(
            templates,
            [int(t.id) for t in templates],
            request.url,
            limit=limit,
            after=query.get("after"),
            before=query.get("before"),
        )
    except CursorError as exc:
        return state.errors.invalid(str(exc))
    return json_response({"data": [t.to_json() for t in chunk], "paging": paging})


async def get_template(state: State, request: web.Request, api_key: str) -> web.Response:
    """One template by id; Meta's code 100 when the id is unknown."""
    template_id = request.match_info["template_id"]
    template = state.templates.by_id.get(template_id)
    if template is None:
        return state.errors.response(
            400,
            100,
            f"(#100) Unsupported get request. Object with ID '{template_id}' does not exist, "
            "cannot be loaded due to missing permissions, or does not support this operation.",
            subcode=33,
            details=f"template {template_id} not found",
        )
    return json_response(template.to_json())
