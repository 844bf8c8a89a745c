"""``parse_webhook``: a raw request body (and its headers) to a typed ``Webhook``.

Framework-neutral: give it the body as bytes and any mapping of headers (aiohttp's, Starlette's,
a plain dict). Errors are ``WebhookError`` naming the place in the body that is wrong, never a
value from it; a signature problem is ``WebhookSignatureError``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

import orjson

from ._converter import locate_error, structure
from ._errors import ValidationError, WebhookError, WebhookSignatureError
from ._models_webhooks import (
    MESSAGES_FIELD,
    WABA_OBJECT,
    Webhook,
    WebhookChange,
    WebhookEntry,
    WebhookValue,
)

__all__ = ["SIGNATURE_HEADER", "Headers", "parse_webhook", "sign", "verify_signature"]

#: The header Meta signs its webhook deliveries with.
SIGNATURE_HEADER: Final = "X-Hub-Signature-256"
_SIGNATURE: Final = re.compile(r"sha256=([0-9a-fA-F]{64})")


def _secret(app_secret: str) -> bytes:
    if not isinstance(app_secret, str) or not app_secret:
        raise ValidationError("app_secret", "must be a non-empty string")
    return app_secret.encode()


def _body_bytes(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, bytearray | memoryview):
        return bytes(body)
    raise ValidationError("body", f"must be the raw body as bytes, not {type(body).__name__}")


def sign(body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends with ``body``: ``sha256=<hex HMAC>``.

    Useful to sign test deliveries for your own receiver.

    Args:
        body: The exact request body.
        app_secret: Your Meta app secret.

    Returns:
        ``"sha256="`` followed by the HMAC-SHA256 of ``body`` keyed with ``app_secret``, in hex.

    Raises:
        ValidationError: ``app_secret`` is empty or ``body`` is not bytes.

    Example:
        >>> sign(b"{}", "secret")
        'sha256=77325902caca812dc259733aacd046b73817372c777b8d95b402647474516e13'
    """
    digest = hmac.new(_secret(app_secret), _body_bytes(body), hashlib.sha256).hexdigest()
    return "sha256=" + digest


#: Request headers: any mapping (aiohttp's, Starlette's, a dict) or (name, value) pairs (str
#: or bytes, as ASGI gives them).
Headers = Mapping[str, str] | Iterable[tuple[Any, Any]]

_NOT_HEADERS: Final = "must be a mapping or an iterable of (name, value) pairs"


def _text(value: object) -> object:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _header(headers: Headers, name: str) -> str | None:
    """The value of the header ``name`` (matched case-insensitively), or None.

    Raises:
        ValidationError: ``headers`` is neither a mapping nor pairs (``field`` is ``headers``).
    """
    pairs: Iterable[Any]
    if isinstance(headers, Mapping):
        value = _text(headers.get(name))
        if isinstance(value, str):
            return value
        pairs = headers.items()
    elif isinstance(headers, (str, bytes)) or not isinstance(headers, Iterable):
        raise ValidationError("headers", _NOT_HEADERS)
    else:
        pairs = headers
    wanted = name.lower()
    for pair in pairs:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValidationError("headers", _NOT_HEADERS)
        key, found = (_text(item) for item in pair)
        if isinstance(key, str) and key.lower() == wanted:
            return found if isinstance(found, str) else None
    return None


def verify_signature(body: bytes, headers: Headers, app_secret: str) -> None:
    """Check ``X-Hub-Signature-256`` against the body, in constant time.

    Args:
        body: The exact request body, as received.
        headers: The request headers: any mapping, or (name, value) pairs of str or bytes;
            the name is matched case-insensitively.
        app_secret: Your Meta app secret.

    Raises:
        WebhookSignatureError: The header is missing (``missing=True``), malformed or does not
            match (``missing=False``).
        ValidationError: ``app_secret`` is empty, ``body`` is not bytes, or ``headers`` is
            neither a mapping nor pairs.

    Example:
        >>> verify_signature(b"{}", {"x-hub-signature-256": sign(b"{}", "s")}, "s")
        >>> verify_signature(b"{}", {}, "s")
        Traceback (most recent call last):
        ...
        d360_async._errors.WebhookSignatureError: X-Hub-Signature-256: missing
    """
    expected = sign(body, app_secret)[len("sha256=") :]
    value = _header(headers, SIGNATURE_HEADER)
    if value is None:
        raise WebhookSignatureError("missing", missing=True)
    match = _SIGNATURE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise WebhookSignatureError("expected 'sha256=' and 64 hex digits", missing=False)
    if not hmac.compare_digest(match.group(1).lower(), expected):
        raise WebhookSignatureError("does not match the body", missing=False)


def _object(data: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise WebhookError(path, "expected a JSON object")
    return data


def _array(parent: Mapping[str, Any], key: str, path: str) -> list[Any]:
    data = parent.get(key)
    if data is None:
        raise WebhookError(f"{path}{key}", "missing")
    if not isinstance(data, list):
        raise WebhookError(f"{path}{key}", "expected a JSON array")
    return data


def _string(parent: Mapping[str, Any], key: str, path: str) -> str:
    data = parent.get(key)
    if isinstance(data, int) and not isinstance(data, bool):
        return str(data)  # a numeric id
    if data is None:
        raise WebhookError(f"{path}{key}", "missing")
    if not isinstance(data, str):
        raise WebhookError(f"{path}{key}", "expected a string")
    return data


def _value(data: Any, path: str) -> WebhookValue:
    _object(data, path)
    try:
        return structure(data, WebhookValue)
    except Exception:  # cattrs raises several types; all mean "not a webhook value"
        raise WebhookError(*locate_error(data, WebhookValue, path)) from None


def _change(data: Any, path: str) -> WebhookChange:
    change = _object(data, path)
    field = _string(change, "field", f"{path}.")
    if field != MESSAGES_FIELD:
        return WebhookChange(field=field, raw=change)
    if "value" not in change:
        raise WebhookError(f"{path}.value", "missing")
    return WebhookChange(field=field, value=_value(change["value"], f"{path}.value"), raw=change)


def _entry(data: Any, path: str) -> WebhookEntry:
    entry = _object(data, path)
    changes = _array(entry, "changes", f"{path}.")
    return WebhookEntry(
        id=_string(entry, "id", f"{path}."),
        changes=tuple(_change(c, f"{path}.changes[{i}]") for i, c in enumerate(changes)),
        raw=entry,
    )


def parse_webhook(body: bytes, headers: Headers, *, app_secret: str | None = None) -> Webhook:
    """Parse one webhook delivery, after checking its signature when ``app_secret`` is given.

    Works with any web framework: pass the raw body (before any JSON decoding, so that the
    signature can be checked) and the request's headers.

    Args:
        body: The raw request body.
        headers: The request headers (needed only for the signature).
        app_secret: Your Meta app secret: when given, ``X-Hub-Signature-256`` must be there and
            match. A hop that re-sends Meta's webhooks (360dialog) may not sign them: check
            before turning this on.

    Returns:
        The parsed ``Webhook``. Changes of a ``field`` other than ``messages`` are kept with
        their ``raw`` JSON; unknown fields anywhere are ignored by the typed attributes.

    Raises:
        WebhookSignatureError: ``app_secret`` given and the signature is missing or wrong.
        WebhookError: The body is not a WhatsApp Business Account webhook; the error names
            where (``entry[0].changes[0].value.statuses[2].timestamp: expected Unix seconds``).
        ValidationError: ``body`` is not bytes, ``app_secret`` is empty, or ``headers`` is
            neither a mapping nor (name, value) pairs.

    Example:
        >>> body = b'''{"object": "whatsapp_business_account", "entry": [{"id": "1029",
        ...   "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp",
        ...     "statuses": [{"id": "wamid.X", "status": "read", "timestamp": "1767312000",
        ...                   "recipient_id": "4915112345678"}]}}]}]}'''
        >>> status = parse_webhook(body, {}).statuses[0]
        >>> (status.id, status.status, status.timestamp.isoformat())
        ('wamid.X', <DeliveryStatus.READ: 'read'>, '2026-01-02T00:00:00+00:00')
    """
    body = _body_bytes(body)
    if app_secret is not None:
        verify_signature(body, headers, app_secret)
    if not body.strip():
        raise WebhookError("body", "empty")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise WebhookError("body", "not valid JSON") from None
    envelope = _object(data, "body")
    kind = _string(envelope, "object", "")
    if kind != WABA_OBJECT:
        raise WebhookError("object", f"expected {WABA_OBJECT!r}")
    entries = _array(envelope, "entry", "")
    return Webhook(
        object=kind,
        entry=tuple(_entry(e, f"entry[{i}]") for i, e in enumerate(entries)),
        raw=envelope,
    )
