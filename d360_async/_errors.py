"""The exception tree and the parsing of every error body the service returns.

```
D360Error
├── ValidationError (also a ValueError)      bad input caught before sending
├── WebhookError                              a request body that is not a webhook
│   └── WebhookSignatureError                 X-Hub-Signature-256 missing or wrong
├── LimiterUnavailableError                   the rate limiter could not decide (nothing sent)
├── EventLoopError                            the client is used from another event loop
├── PreflightError                            a campaign's templates do not fit its messages
├── BulkRunError, EventsRunError (RuntimeError) a run used out of order, or stopped early
├── JournalError                              a campaign journal that cannot be used
│   ├── JournalUnavailableError               its store (Redis) is unreachable or too slow
│   └── ClaimLostError                        another worker took the message over
└── APIError
    ├── APIStatusError                        the server answered with an error status
    │   ├── RedirectError            3xx (never followed)
    │   ├── BadRequestError          400
    │   ├── AuthenticationError      401
    │   ├── PermissionDeniedError    403
    │   ├── NotFoundError            404
    │   ├── RateLimitError           429, or a Meta throttling code in a 4xx
    │   └── InternalServerError      5xx
    ├── APIConnectionError                    no usable answer (connection failed or dropped)
    │   ├── APITimeoutError
    │   └── ClientClosedError                 the client was closed (before or during the call)
    └── APIResponseError                      a 2xx whose body is not the JSON we expect
```
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from yarl import URL

from ._redact import scrub

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "D360Error",
    "EventLoopError",
    "InternalServerError",
    "LimiterUnavailableError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RedirectError",
    "ValidationError",
    "WebhookError",
    "WebhookSignatureError",
]

#: Meta error codes that mean "slow down", whatever HTTP status carries them.
THROTTLING_CODES = frozenset({4, 17, 613, 130429, 131056, 131057, *range(80000, 80009)})
#: Throttling codes limited to one recipient: they must not pause the whole client.
PER_RECIPIENT_THROTTLING_CODES = frozenset({131056})

_USAGE_LIMIT = re.compile(r"exceeded the limit of \d+ requests? every (\d+(?:\.\d+)?) seconds?")
_TAGS = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")
_MAX_MESSAGE = 300


class D360Error(Exception):
    """Root of every exception this SDK raises on purpose.

    Example:
        >>> try:
        ...     raise ValidationError("to", "must not be empty")
        ... except D360Error as exc:
        ...     print(exc)
        to: must not be empty
    """


class ValidationError(D360Error, ValueError):
    """Input rejected before any request was sent.

    Attributes:
        field: The offending field, as a dotted path (``"template.language.code"``).
        reason: What is wrong with it.

    Example:
        >>> err = ValidationError("time_range", "since is after until")
        >>> (err.field, str(err))
        ('time_range', 'time_range: since is after until')
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class WebhookError(D360Error):
    """A request body that is not a WhatsApp Business Account webhook.

    The message names where the body is wrong, never a value from it (it may hold phone
    numbers). A receiver answers it with a 4xx.

    Attributes:
        path: Where the body is wrong (``"entry[0].changes[1].value.statuses[3].timestamp"``,
            ``"body"`` for the body as a whole).
        reason: What is wrong there.

    Example:
        >>> err = WebhookError("entry[0].id", "missing")
        >>> (err.path, str(err))
        ('entry[0].id', 'entry[0].id: missing')
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class WebhookSignatureError(WebhookError):
    """``X-Hub-Signature-256`` is missing, malformed or does not match the body.

    Attributes:
        missing: True when the header is absent (a receiver answers 401), False when it is
            there but wrong (403).

    Example:
        >>> WebhookSignatureError("does not match the body", missing=False).path
        'X-Hub-Signature-256'
    """

    def __init__(self, reason: str, *, missing: bool) -> None:
        super().__init__("X-Hub-Signature-256", reason)
        self.missing = missing


class LimiterUnavailableError(D360Error):
    """The rate limiter could not decide whether a request may start (e.g. its shared store is
    unreachable). Limiters fail closed: this attempt was not sent.

    Attributes:
        maybe_sent_before: True when an earlier attempt of the same request (retried because
            of ``RetryPolicy(retry_ambiguous_sends=True)``) may have been acted upon.

    Example:
        >>> isinstance(LimiterUnavailableError("redis: connection refused"), D360Error)
        True
    """

    maybe_sent_before: bool = False


class EventLoopError(D360Error):
    """The client is used from an event loop other than the one it started in.

    An aiohttp session (and so a client) belongs to the event loop of its first request; a
    client kept across two ``asyncio.run()`` calls would hang or fail. Create one client per
    event loop, inside the coroutine that ``asyncio.run()`` runs.

    Example:
        >>> issubclass(EventLoopError, D360Error)
        True
    """


class APIError(D360Error):
    """A request was made and did not succeed.

    Attributes:
        maybe_sent_before: True when an earlier attempt of the same request (retried because
            ``RetryPolicy(retry_ambiguous_sends=True)`` or an idempotent operation allows it)
            may have been acted upon, whatever this last attempt says.

    Example:
        >>> issubclass(RateLimitError, APIError)
        True
    """

    maybe_sent_before: bool = False


class APIResponseError(APIError):
    """The server said 2xx but its body is not the JSON document we expect.

    Attributes:
        status: The HTTP status.
        body: The raw body, decoded as text.

    Example:
        >>> APIResponseError(200, "<html>").status
        200
    """

    def __init__(self, status: int, body: str, reason: str = "response is not valid JSON") -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.body = body


class APIConnectionError(APIError):
    """No usable answer: the connection failed, was dropped, or the body was cut off.

    Attributes:
        maybe_sent: False when the request certainly never reached the server (the connection
            could not be opened), True when it may have been received and acted upon. A
            marketing message whose send raised with ``maybe_sent=True`` has an unknown outcome.

    Example:
        >>> APIConnectionError("connection refused", maybe_sent=False).maybe_sent
        False
    """

    def __init__(self, message: str, *, maybe_sent: bool) -> None:
        super().__init__(message)
        self.maybe_sent = maybe_sent


class APITimeoutError(APIConnectionError):
    """The request timed out (connecting: ``maybe_sent=False``; reading: ``maybe_sent=True``).

    Example:
        >>> isinstance(APITimeoutError("read timed out", maybe_sent=True), APIConnectionError)
        True
    """


class ClientClosedError(APIConnectionError):
    """The client was closed: before the call (``maybe_sent=False``), or while it ran (then
    ``maybe_sent`` says whether the request had been written).

    Example:
        >>> ClientClosedError("this D360Client is closed", maybe_sent=False).maybe_sent
        False
    """


class APIStatusError(APIError):
    """The server answered with an error status (or a throttling code).

    Attributes:
        status: HTTP status code.
        message: The parsed, human-readable message.
        code: Meta's error code (``132001``), when the body carries one.
        error_subcode: Meta's error subcode, when present.
        error_type: Meta's error type (``OAuthException``), when present.
        details: ``error_data.details``, when present.
        fbtrace_id: Meta's trace id, to quote to support.
        body: The body: parsed JSON, or the text when it is not JSON.
        retry_after: Seconds to wait as the server asked (``Retry-After`` header or a
            360dialog usage-limit message), else None.

    Example:
        >>> err = make_status_error(400, b'{"error": {"message": "bad", "code": 132000}}', {})
        >>> (type(err).__name__, err.code, err.message)
        ('BadRequestError', 132000, 'bad')
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: int | None = None,
        error_subcode: int | None = None,
        error_type: str | None = None,
        details: str | None = None,
        fbtrace_id: str | None = None,
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.message = message
        self.code = code
        self.error_subcode = error_subcode
        self.error_type = error_type
        self.details = details
        self.fbtrace_id = fbtrace_id
        self.body = body
        self.retry_after = retry_after
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [f"{self.status} {self.message}"]
        extra = [
            f"{name}={value}"
            for name, value in (
                ("code", self.code),
                ("subcode", self.error_subcode),
                ("fbtrace_id", self.fbtrace_id),
            )
            if value is not None
        ]
        if extra:
            parts.append(f"({', '.join(extra)})")
        if self.details:
            parts.append(f"- {self.details}")
        return " ".join(parts)


class RedirectError(APIStatusError):
    """HTTP 3xx: the server redirected the request. Redirects are never followed: the API key
    goes only to the configured base URL's origin.

    Attributes:
        location: Where the server pointed, without query string, fragment or credentials
            (None when it sent no ``Location``).

    Example:
        >>> err = make_status_error(301, b"", {"Location": "https://x.example/a?token=s3cret"})
        >>> (type(err).__name__, err.location)
        ('RedirectError', 'https://x.example/a')
    """

    def __init__(self, status: int, message: str, *, location: str | None = None, **kw: Any):
        self.location = location
        super().__init__(status, message, **kw)


class BadRequestError(APIStatusError):
    """HTTP 400: the request is invalid (Meta codes 100, 132000, 132001, ...).

    Example:
        >>> make_status_error(400, b'{"error": "bad"}', {}).__class__.__name__
        'BadRequestError'
    """


class AuthenticationError(APIStatusError):
    """HTTP 401: the API key is missing or wrong.

    Example:
        >>> make_status_error(401, b'{"error": "Invalid api token."}', {}).message
        'Invalid api token.'
    """


class PermissionDeniedError(APIStatusError):
    """HTTP 403: not allowed (a template not approved, missing permissions).

    Example:
        >>> make_status_error(403, b'{"error": "forbidden"}', {}).status
        403
    """


class NotFoundError(APIStatusError):
    """HTTP 404.

    Example:
        >>> make_status_error(404, b"Not Found", {}).message
        'Not Found'
    """


class RateLimitError(APIStatusError):
    """Throttled: HTTP 429, or a throttling code (130429, 131056, 4, 17, 613, 8000x) in a 4xx.

    A throttled request was not acted upon. A throttling code in a 5xx body does not make a
    ``RateLimitError``: a 5xx may come from a proxy after the request was handed on.

    Example:
        >>> err = make_status_error(429, b'{"error": "slow down"}', {"Retry-After": "3"})
        >>> (err.status, err.retry_after)
        (429, 3.0)
    """

    @property
    def per_recipient(self) -> bool:
        """True when only one recipient is throttled (131056), not the whole account."""
        return self.code in PER_RECIPIENT_THROTTLING_CODES


class InternalServerError(APIStatusError):
    """HTTP 5xx.

    Example:
        >>> make_status_error(503, b"<html><body>Service Unavailable</body></html>", {}).message
        'Service Unavailable'
    """


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _as_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _clip(text: str) -> str:
    text = _SPACES.sub(" ", text).strip()
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    Args:
        value: The header value, or None.
        now: The current Unix time, for HTTP dates (defaults to the wall clock).

    Returns:
        A non-negative number of seconds, or None when absent or unparseable.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _parse_body(raw: bytes) -> tuple[Any, dict[str, Any]]:
    """Returns (body as JSON or text, fields for APIStatusError)."""
    text = raw.decode("utf-8", errors="replace")
    try:
        body: Any = json.loads(text) if text else None
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python recurses
        plain = _clip(_TAGS.sub(" ", text))
        return text, {"message": plain}
    if not isinstance(body, Mapping):
        return body, {}
    error: Any = body.get("error")
    detail = body.get("detail")
    if error is None and isinstance(detail, Mapping):
        error = detail.get("error")
    elif error is None and isinstance(detail, str):
        error = detail
    if isinstance(error, str):
        return body, {"message": _clip(error)}
    if isinstance(error, Mapping):
        data = error.get("error_data")
        details = data.get("details") if isinstance(data, Mapping) else None
        user_msg = _as_str(error.get("error_user_msg"))
        return body, {
            "message": _clip(_as_str(error.get("message")) or user_msg or ""),
            "code": _as_int(error.get("code")),
            "error_subcode": _as_int(error.get("error_subcode")),
            "error_type": _as_str(error.get("type")),
            "details": _as_str(details),
            "fbtrace_id": _as_str(error.get("fbtrace_id")),
        }
    meta = body.get("meta")
    if isinstance(meta, Mapping):
        return body, {
            "message": _clip(
                _as_str(meta.get("developerMessage")) or _as_str(meta.get("message")) or ""
            ),
            "code": _as_int(meta.get("code")),
        }
    message = _as_str(body.get("message")) or _as_str(body.get("detail"))
    return body, {"message": _clip(message)} if message else {}


def safe_location(value: str | None) -> str | None:
    """A ``Location`` fit to show: no query string, fragment, user or password.

    Example:
        >>> safe_location("https://u:p@x.example/next?key=abc#top")
        'https://x.example/next'
    """
    if value is None:
        return None
    try:
        url = URL(value.strip())
        url = url.with_query(None).with_fragment(None)
        if url.is_absolute():
            url = url.with_user(None)
        text = str(url)
    except (ValueError, TypeError):
        return "[unparseable]"
    return _clip(text)


def make_status_error(
    status: int,
    raw: bytes,
    headers: Mapping[str, str],
    *,
    reason: str | None = None,
    secrets: tuple[str, ...] = (),
) -> APIStatusError:
    """Build the right ``APIStatusError`` subclass from a response.

    Args:
        status: HTTP status.
        raw: The raw body.
        headers: The response headers (for ``Retry-After`` and ``Location``).
        reason: The HTTP reason phrase, used when the body says nothing.
        secrets: Strings that must not appear in the error (the API key, the personal data
            the request carried): replaced by ``[redacted]`` wherever the server echoed them.

    Returns:
        The error to raise.
    """
    body, fields = _parse_body(raw)
    if secrets:
        body = scrub(body, secrets)
        fields = {k: scrub(v, secrets) for k, v in fields.items()}
        reason = scrub(reason, secrets)
    if not fields.get("message"):
        fields["message"] = reason or f"HTTP {status}"
    retry_after = parse_retry_after(headers.get("Retry-After"))
    if 300 <= status < 400:
        location = scrub(safe_location(headers.get("Location")), secrets)
        fields["message"] = (
            f"redirected to {location or 'nowhere'}; not followed "
            "(the API key is sent only to the configured base URL)"
        )
        return RedirectError(status, body=body, location=location, **fields)
    usage = _USAGE_LIMIT.search(fields["message"])
    cls: type[APIStatusError]
    if status == 429 or (400 <= status < 500 and (fields.get("code") in THROTTLING_CODES or usage)):
        cls = RateLimitError
        if retry_after is None and usage:
            retry_after = float(usage.group(1))
    elif status >= 500:
        cls = InternalServerError
    else:
        cls = _BY_STATUS.get(status, APIStatusError)
    return cls(status, body=body, retry_after=retry_after, **fields)
