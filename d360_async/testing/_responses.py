"""Response builders shared by the emulator's handlers: JSON bodies and error shapes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

API_KEY_HEADER = "D360-API-KEY"
JSON = "application/json"

#: Body of 360dialog's answer to a missing or wrong ``D360-API-KEY`` header.
UNAUTHORIZED_BODY = b'{"error": "Invalid api token."}'

#: Default ``type`` of a Meta error object.
OAUTH = "OAuthException"

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def dumps(data: Any) -> bytes:
    """Serialise ``data`` to compact UTF-8 JSON."""
    return _dumps(data).encode()


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON response without aiohttp's slower ``json_response`` helper."""
    return web.Response(body=dumps(data), status=status, content_type=JSON, headers=headers)


def unauthorized() -> web.Response:
    """360dialog's 401 for a missing or unknown API key."""
    return web.Response(body=UNAUTHORIZED_BODY, status=401, content_type=JSON)


class ErrorFactory:
    """Builds Meta-shaped error responses, optionally in 360dialog's ``detail`` wrapper.

    Args:
        wrap: Wrap the Meta error as ``{"detail": {"error": {...}}}``.
        trace_id: Produces a fresh ``fbtrace_id`` per error.

    Example:
        >>> errors = ErrorFactory(wrap=True, trace_id=lambda: "Atrace")
        >>> body = errors.body(132000, "(#132000) Number of parameters does not match")
        >>> (body["detail"]["error"]["code"], body["detail"]["error"]["fbtrace_id"])
        (132000, 'Atrace')
    """

    __slots__ = ("_trace_id", "wrap")

    def __init__(self, *, wrap: bool, trace_id: Any) -> None:
        self.wrap = wrap
        self._trace_id = trace_id

    def body(
        self,
        code: int,
        message: str,
        *,
        details: str | None = None,
        subcode: int | None = None,
        error_type: str = OAUTH,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The error document (wrapped or not) as a dict."""
        error: dict[str, Any] = {"message": message, "type": error_type, "code": code}
        if subcode is not None:
            error["error_subcode"] = subcode
        if extra:
            error.update(extra)
        error["error_data"] = {"messaging_product": "whatsapp", "details": details or message}
        error["fbtrace_id"] = self._trace_id()
        if self.wrap:
            return {"detail": {"error": error}}
        return {"error": error}

    def response(
        self,
        status: int,
        code: int,
        message: str,
        *,
        details: str | None = None,
        subcode: int | None = None,
        headers: Mapping[str, str] | None = None,
        error_type: str = OAUTH,
        extra: Mapping[str, Any] | None = None,
    ) -> web.Response:
        """A Meta error response with the given HTTP status."""
        body = self.body(
            code, message, details=details, subcode=subcode, error_type=error_type, extra=extra
        )
        return json_response(body, status=status, headers=headers)

    def invalid(self, details: str, message: str = "(#100) Invalid parameter") -> web.Response:
        """Meta's generic 400 "invalid parameter" (code 100)."""
        return self.response(400, 100, message, details=details)

    def throttled(self, retry_after: int) -> web.Response:
        """HTTP 429 with ``Retry-After`` and Meta code 130429."""
        return self.response(
            429,
            130429,
            "(#130429) Rate limit hit",
            details="Cloud API message throughput has been reached.",
            headers={"Retry-After": str(retry_after)},
            extra={"is_transient": True},
        )


def parse_json_object(raw: bytes) -> dict[str, Any] | None:
    """The request body as a JSON object, or None when it is not one."""
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
