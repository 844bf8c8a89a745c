"""``POST /marketing_messages`` and ``POST /marketing/marketing_messages``.

Kept lean on purpose (benchmarks drive it at high rates): plain dict checks, no jsonschema.
"""

from __future__ import annotations

from json.encoder import encode_basestring as encode_string
from typing import Any

from aiohttp import web

from ._responses import parse_json_object
from ._state import State
from ._templates import Template, placeholders

#: Meta's messages for the recipient outcomes a test can force with ``set_recipient_error``.
RECIPIENT_ERRORS: dict[int, tuple[int, str]] = {
    130472: (400, "(#130472) User's number is part of an experiment"),
    131026: (400, "(#131026) Message undeliverable"),
    131048: (400, "(#131048) Spam rate limit hit"),
    131049: (
        400,
        "(#131049) This message was not delivered to maintain healthy ecosystem engagement.",
    ),
    131050: (400, "(#131050) User has stopped receiving marketing messages"),
    131055: (400, "(#131055) Only marketing templates can be sent through this API"),
    200: (403, "(#200) You must accept the Marketing Messages Lite API terms"),
}

_DIGITS = str.maketrans("", "", "+ -().")


def wa_id_of(to: str) -> str | None:
    """The digits of ``to`` when it looks like an international number, else None.

    Example:
        >>> (wa_id_of("+49 (151) 234-567"), wa_id_of("hello"))
        ('49151234567', None)
    """
    digits = to.translate(_DIGITS)
    if digits.isdigit() and digits.isascii() and 6 <= len(digits) <= 15:
        return digits
    return None


def _parameters(components: Any) -> tuple[list[Any], list[Any]] | None:
    """The (header, body) parameters of the request, or None when components are malformed."""
    if not isinstance(components, list | tuple):
        return None
    header: list[Any] = []
    body: list[Any] = []
    for component in components:
        if not isinstance(component, dict):
            return None
        kind = component.get("type")
        if not isinstance(kind, str):
            return None
        kind = kind.lower()
        if kind == "body" or kind == "header":
            parameters = component.get("parameters", [])
            if not isinstance(parameters, list):
                return None
            (body if kind == "body" else header).extend(parameters)
    return header, body


def _mismatch(where: str, named: bool, expected: tuple[str, ...], given: list[Any]) -> str | None:
    """Meta's 132000 details when the parameters of one component do not fit, else None."""
    if not named:
        for parameter in given:
            if isinstance(parameter, dict) and "parameter_name" in parameter:
                return (
                    f"{where}: parameter_name is not allowed by a template with positional "
                    "parameters"
                )
        if len(given) != len(expected):
            return (
                f"{where}: number of localizable_params ({len(given)}) does not match the "
                f"expected number of params ({len(expected)})"
            )
        return None
    names = [p.get("parameter_name") if isinstance(p, dict) else None for p in given]
    if given and None in names:
        return f"{where}: parameter_name is required by a template with named parameters"
    if sorted(map(str, names)) != sorted(expected):
        return (
            f"{where}: parameter names ({', '.join(map(str, names))}) do not match the "
            f"template's ({', '.join(expected)})"
        )
    return None


def parameter_mismatch(template: Template, header: list[Any], body: list[Any]) -> str | None:
    """Why the parameters of a send do not fit ``template`` (checked as Meta does: by count
    for positional templates, by ``parameter_name`` for named ones; the BODY and a TEXT
    header), or None."""
    named = template.named
    header_text = template.header_text
    if header_text is not None:
        problem = _mismatch("header", named, placeholders(header_text), header)
        if problem is not None:
            return problem
    return _mismatch("body", named, placeholders(template.body_text), body)


_ACCEPTED = (
    '{"messaging_product":"whatsapp","contacts":[{"input":%s,"wa_id":"%s"}],'
    '"messages":[{"id":"%s","message_status":"accepted"}]}'
)


def _template_error(state: State, name: str, code: str, status: str) -> web.Response:
    errors = state.errors
    if status == "PAUSED":
        return errors.response(
            403,
            132015,
            "(#132015) Template is paused due to low quality so it cannot be sent",
            details=f"template {name} ({code}) is paused",
        )
    if status == "DISABLED":
        return errors.response(
            403,
            132016,
            "(#132016) Template was paused too many times and is now permanently disabled",
            details=f"template {name} ({code}) is disabled",
        )
    return errors.response(
        403,
        132001,
        "(#132001) Template name does not exist in the translation",
        details=f"template {name} ({code}) is not approved (status {status})",
    )


def _check_payload(state: State, payload: dict[str, Any] | None) -> web.Response | None:
    """The 400 for a malformed payload (slow path: only called when the fast path fails)."""
    errors = state.errors
    if payload is None:
        return errors.invalid("Request body must be a JSON object")
    if payload.get("messaging_product") != "whatsapp":
        return errors.invalid(
            "messaging_product must be 'whatsapp'",
            "(#100) The parameter messaging_product is required.",
        )
    recipient_type = payload.get("recipient_type", "individual")
    if recipient_type != "individual":
        return errors.invalid(f"recipient_type {recipient_type!r} is not supported")
    to = payload.get("to")
    if not isinstance(to, str) or not to:
        return errors.invalid("to is required", "(#100) The parameter to is required.")
    if wa_id_of(to) is None:
        return errors.invalid(f"to ({to}) is not a valid phone number")
    kind = payload.get("type")
    if kind != "template":
        return errors.invalid(
            f"Message type {kind!r} is not supported: MM Lite sends template messages only",
        )
    template = payload.get("template")
    if not isinstance(template, dict):
        return errors.invalid("template is required", "(#100) The parameter template is required.")
    name = template.get("name")
    if not isinstance(name, str) or not name:
        return errors.invalid(
            "template.name is required", "(#100) The parameter template['name'] is required."
        )
    language = template.get("language")
    code = language.get("code") if isinstance(language, dict) else None
    if not isinstance(code, str) or not code:
        return errors.invalid(
            "template.language.code is required",
            "(#100) The parameter template['language']['code'] is required.",
        )
    components = template.get("components", [])
    if not isinstance(components, list) or _parameters(components) is None:
        return errors.invalid("template.components must be an array of objects with a 'type'")
    return None


async def handle_send(state: State, request: web.Request, api_key: str) -> web.Response:
    """Validate a template send like the service does; record and accept it."""
    raw = await request.read()
    payload = parse_json_object(raw)
    try:
        # Fast path: plain indexing, any surprise falls back to the detailed checks below.
        if payload is None:
            raise TypeError
        to = payload["to"]
        template = payload["template"]
        name = template["name"]
        code = template["language"]["code"]
        components = template.get("components", ())
        sent_params = _parameters(components)
        wa_id = wa_id_of(to)
        if (
            payload["messaging_product"] != "whatsapp"
            or payload["type"] != "template"
            or payload.get("recipient_type", "individual") != "individual"
            or wa_id is None
            or sent_params is None
            or not name
            or not isinstance(name, str)
            or not isinstance(code, str)
        ):
            raise TypeError
    except (KeyError, TypeError, AttributeError):
        return _check_payload(state, payload) or state.errors.invalid("Invalid payload")

    found = state.templates.by_key.get((name, code))
    if found is None:
        return state.errors.response(
            400,
            132001,
            "(#132001) Template name does not exist in the translation",
            details=f"template name ({name}) does not exist in {code}",
        )
    if found.status != "APPROVED":
        return _template_error(state, name, code, found.status)
    mismatch = parameter_mismatch(found, *sent_params)
    if mismatch is not None:
        return state.errors.response(
            400,
            132000,
            "(#132000) Number of parameters does not match the expected number of params",
            details=mismatch,
        )
    if state.recipient_errors:
        forced = state.recipient_errors.get(wa_id)
        if forced is not None:
            status_code, text = RECIPIENT_ERRORS.get(forced, (400, f"(#{forced}) Error"))
            return state.errors.response(status_code, forced, text, details=f"recipient {wa_id}")
    pairs = state.pairs
    if pairs is not None and not pairs.allow(api_key, wa_id):
        state.pair_rate_limited += 1
        return state.errors.response(
            400,
            131056,
            "(#131056) (Business Account, Consumer Account) pair rate limit hit",
            details=f"too many messages to {wa_id}; retry later",
        )
    message = state.record_send(
        to=to,
        wa_id=wa_id,
        template_name=name,
        language=code,
        template_id=found.id,
        api_key=api_key,
        path=request.path,
        raw=raw,
    )
    body = _ACCEPTED % (encode_string(to), wa_id, message.wamid)
    return web.Response(body=body.encode(), content_type="application/json")
