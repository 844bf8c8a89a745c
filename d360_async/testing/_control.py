"""``/_emulator/*``: inspection and control over HTTP (no API key needed).

- ``GET /_emulator/state``: the JSON summary of :meth:`State.snapshot`.
- ``POST /_emulator/reset``: forget records and counters (``{"templates": false}`` keeps the
  current templates).
- ``POST /_emulator/templates``: upsert ``{name, language, status?, category?, body_text?,
  components?, parameter_format?}``: creates the template, or changes every given field of
  the existing one; a field that cannot be applied is refused (400 ``{"error", "field"}``)
  and nothing changes.
- ``POST /_emulator/faults``: append ``{"faults": [...]}`` to the fault schedule.
- ``POST /_emulator/recipient_errors``: ``{"to": "...", "code": 131050}`` (``null`` clears).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ._responses import json_response, parse_json_object
from ._send import wa_id_of
from ._state import State
from ._templates import TemplateError

PREFIX = "/_emulator"
#: Fields ``POST /_emulator/templates`` takes, with the JSON type each must have.
_TEMPLATE_FIELDS: dict[str, type] = {
    "name": str,
    "language": str,
    "status": str,
    "category": str,
    "body_text": str,
    "components": list,
    "parameter_format": str,
}


def _bad(message: str, *, field: str | None = None) -> web.Response:
    body = {"error": message} if field is None else {"error": message, "field": field}
    return json_response(body, status=400)


def _template_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The upsert's fields, type-checked; raises :class:`TemplateError` naming a bad one."""
    for field, value in body.items():
        kind = _TEMPLATE_FIELDS.get(field)
        if kind is None:
            raise TemplateError(
                field,
                f"field {field!r} cannot be set; expected {', '.join(_TEMPLATE_FIELDS)}",
            )
        if not isinstance(value, kind):
            raise TemplateError(field, f"{field} must be a JSON {kind.__name__}, not {value!r:.40}")
    if "name" not in body:
        raise TemplateError("name", "name is required")
    return body


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
        if body is None:
            return _bad("expected {name, language, status?, category?, body_text?, components?}")
        try:
            fields = _template_fields(body)
            name, language = fields.pop("name"), fields.pop("language", "en_US")
            if state.templates.find(name, language) is None:
                template = state.templates.add(name, language, **fields)
            else:
                template = state.templates.update(name, language, **fields)
        except TemplateError as exc:
            return _bad(str(exc), field=exc.field)
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
