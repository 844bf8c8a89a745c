"""``/_emulator/*``: inspection and control over HTTP (no API key needed).

- ``GET /_emulator/state``: the JSON summary of :meth:`State.snapshot`.
- ``POST /_emulator/reset``: forget records and counters (``{"templates": false}`` keeps the
  current templates).
- ``POST /_emulator/templates``: upsert ``{name, language, status?, category?, body_text?}``.
- ``POST /_emulator/faults``: append ``{"faults": [...]}`` to the fault schedule.
- ``POST /_emulator/recipient_errors``: ``{"to": "...", "code": 131050}`` (``null`` clears).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ._responses import json_response, parse_json_object
from ._send import wa_id_of
from ._state import State

PREFIX = "/_emulator"


def _bad(message: str) -> web.Response:
    return json_response({"error": message}, status=400)


async def _body(request: web.Request) -> dict[str, Any] | None:
    raw = await request.read()
    return parse_json_object(raw) if raw.strip() else {}


def routes(state: State) -> list[web.RouteDef]:
    """The control routes bound to ``state``."""

    async def get_state(request: web.Request) -> web.Response:
        return json_response(state.snapshot())

    async def reset(request: web.Request) -> web.Response:
        body = await _body(request)
        if body is None:
            return _bad("body must be a JSON object")
        state.reset(templates=bool(body.get("templates", True)))
        return json_response({"ok": True})

    async def upsert_template(request: web.Request) -> web.Response:
        body = await _body(request)
        if body is None or not isinstance(body.get("name"), str):
            return _bad("expected {name, language, status?, category?, body_text?}")
        name, language = body["name"], str(body.get("language", "en_US"))
        try:
            template = state.templates.find(name, language)
            if template is None:
                template = state.templates.add(
                    name,
                    language,
                    status=str(body.get("status", "APPROVED")),
                    category=str(body.get("category", "MARKETING")),
                    body_text=body.get("body_text"),
                )
            elif "status" in body:
                template = state.templates.set_status(name, language, str(body["status"]))
        except ValueError as exc:
            return _bad(str(exc))
        return json_response(template.to_json())

    async def add_faults(request: web.Request) -> web.Response:
        body = await _body(request)
        faults = body.get("faults") if body else None
        if not isinstance(faults, list):
            return _bad('expected {"faults": [...]}')
        try:
            state.faults.extend(str(kind) for kind in faults)
        except ValueError as exc:
            return _bad(str(exc))
        return json_response({"queued": len(state.faults.schedule)})

    async def recipient_error(request: web.Request) -> web.Response:
        body = await _body(request)
        to = body.get("to") if body else None
        wa_id = wa_id_of(to) if isinstance(to, str) else None
        code = body.get("code") if body else None
        if wa_id is None or not (code is None or isinstance(code, int)):
            return _bad('expected {"to": "<phone number>", "code": <int> | null}')
        if code is None:
            state.recipient_errors.pop(wa_id, None)
        else:
            state.recipient_errors[wa_id] = code
        return json_response({"recipient_errors": state.recipient_errors})

    return [
        web.get(f"{PREFIX}/state", get_state),
        web.post(f"{PREFIX}/reset", reset),
        web.post(f"{PREFIX}/templates", upsert_template),
        web.post(f"{PREFIX}/faults", add_faults),
        web.post(f"{PREFIX}/recipient_errors", recipient_error),
    ]
