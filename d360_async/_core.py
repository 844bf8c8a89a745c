"""What every ``D360Client`` has besides its operations: its configuration (checked), its
session's lifecycle (closed, event loop), per-call options and raw responses."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final, Self, TypeVar

import aiohttp
import cattrs
import orjson
from aiolimiter import AsyncLimiter
from yarl import URL

from ._concurrency import AdaptiveConcurrency, auto_concurrency, default_pool
from ._converter import structure
from ._errors import APIResponseError, ClientClosedError, ValidationError, safe_location
from ._hooks import Hooks, WithRawResponse
from ._limits import RateLimiter, Scope, make_limiter
from ._redact import scrub, sensitive_strings
from ._retry import RetryPolicy, Safety
from ._session import SharedSession
from ._timeouts import DEFAULT_TIMEOUT, Timeout, as_timeout
from ._transport import Transport

__all__ = ["DEFAULT_BASE_URL", "ClientCore", "parse", "run_concurrency"]

DEFAULT_BASE_URL: Final = "https://waba-v2.360dialog.io"
_MAX_CONNECTIONS: Final = 10_000

M = TypeVar("M")


class ClientCore:
    """Configuration, lifecycle and options of a client; ``D360Client`` adds the operations."""

    __slots__ = (
        "_base_url",
        "_closed",
        "_hooks",
        "_key",
        "_limiter",
        "_owner",
        "_retry",
        "_shared",
        "_timeout",
        "_transport",
    )

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | Timeout | aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
        rate_limit: float | AsyncLimiter | RateLimiter | None = 80.0,
        retry: RetryPolicy | None = None,
        max_connections: int | None = None,
        session: aiohttp.ClientSession | None = None,
        hooks: Hooks | None = None,
    ) -> None:
        self._key = _api_key(api_key)
        self._base_url = _base_url(base_url)
        self._timeout = as_timeout(timeout)
        self._retry = _retry_policy(retry)
        if max_connections is not None and (
            isinstance(max_connections, bool)
            or not isinstance(max_connections, int)
            or not 1 <= max_connections <= _MAX_CONNECTIONS
        ):
            raise ValidationError(
                "max_connections", f"must be a whole number from 1 to {_MAX_CONNECTIONS:,}"
            )
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise ValidationError("session", "must be an aiohttp.ClientSession or None")
        if hooks is not None and not isinstance(hooks, Hooks):
            raise ValidationError("hooks", "must be a d360_async.Hooks or None")
        self._hooks = hooks
        self._limiter = make_limiter(rate_limit)
        if max_connections is None:  # enough for concurrency="auto" at the limiter's rate
            max_connections = default_pool(self._limiter)
        self._shared = SharedSession(session, max_connections)
        self._owner = True
        self._transport: Transport | None = None
        self._closed = False

    def __repr__(self) -> str:
        base = safe_location(getattr(self, "_base_url", None))  # never raises, even half-built
        return f"{type(self).__name__}(base_url={base!r}, closed={self.is_closed})"

    @property
    def base_url(self) -> str:
        """The API root requests go to."""
        return self._base_url

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy."""
        return self._retry

    @property
    def timeout(self) -> Timeout | aiohttp.ClientTimeout:
        """The timeouts of every attempt."""
        return self._timeout

    @property
    def limiter(self) -> RateLimiter:
        """The rate limiter every request goes through (its pauses included)."""
        return self._limiter

    @property
    def is_closed(self) -> bool:
        """True once this client (or the client it was copied from) was closed."""
        shared = getattr(self, "_shared", None)
        return bool(getattr(self, "_closed", True)) or shared is None or shared.closed

    @property
    def with_raw_response(self) -> WithRawResponse:
        """The same calls, returning a ``RawResult``: the value with HTTP status and headers.

        Example:
            >>> async def status_of(client: D360Client) -> int:
            ...     result = await client.with_raw_response.get_message_template("1029384756")
            ...     return result.status  # and result.headers, result.value
        """
        return WithRawResponse(self)

    def with_options(
        self,
        *,
        timeout: float | Timeout | aiohttp.ClientTimeout | None = None,
        retry: RetryPolicy | None = None,
        hooks: Hooks | None = None,
    ) -> Self:
        """A copy of this client with other timeouts, retries or hooks, for some calls.

        The copy shares this client's session (its connection pool), rate limiter and pauses;
        nothing new is opened. Closing the copy closes only the copy; closing this client
        closes both.

        Example:
            >>> async def quick_check(client: D360Client) -> None:
            ...     fast = client.with_options(timeout=2.0, retry=RetryPolicy.never())
            ...     await fast.get_message_templates(limit=1)
        """
        if hooks is not None and not isinstance(hooks, Hooks):
            raise ValidationError("hooks", "must be a d360_async.Hooks or None")
        copy = object.__new__(type(self))
        copy._key = self._key
        copy._base_url = self._base_url
        copy._timeout = self._timeout if timeout is None else as_timeout(timeout)
        copy._retry = self._retry if retry is None else _retry_policy(retry)
        copy._hooks = self._hooks if hooks is None else hooks
        copy._limiter = self._limiter
        copy._shared = self._shared
        copy._owner = False
        copy._transport = None
        copy._closed = False
        return copy

    async def __aenter__(self) -> Self:
        self._get_transport()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the client's own aiohttp session (an injected one is left open).

        Requests still running end with ``ClientClosedError``; later calls raise it at once.
        """
        self._closed = True
        if self._owner:
            await self._shared.close()

    def _get_transport(self) -> Transport:
        """The transport, after checking that the client may be used here and now.

        Raises:
            ClientClosedError: The client is closed.
            EventLoopError: Not inside the event loop the client belongs to.
        """
        if self._closed:
            raise ClientClosedError("this D360Client is closed", maybe_sent=False)
        session = self._shared.get()
        if self._transport is None:
            self._transport = Transport(
                session=session,
                base_url=self._base_url,
                api_key=self._key,
                timeout=self._timeout,
                limiter=self._limiter,
                retry=self._retry,
                hooks=self._hooks,
                loop=self._shared.loop,
            )
        return self._transport

    async def _call(
        self,
        method: str,
        path: str,
        cls: type[M],
        *,
        safety: Safety = Safety.IDEMPOTENT,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> M:
        data = await self._get_transport().request(
            method, path, safety=safety, params=params, json_body=json_body
        )
        return parse(data, cls, sent=json_body, key=self._key)


def run_concurrency(
    client: ClientCore, concurrency: object, scope: Scope
) -> int | AdaptiveConcurrency:
    """A run's ``concurrency`` on ``client``: an int as given, or ``"auto"`` made an
    ``AdaptiveConcurrency`` for the limiter's rate of ``scope`` (see ``_concurrency``)."""
    transport = client._get_transport()
    connector = transport.session.connector
    return auto_concurrency(
        concurrency,
        limiter=client._limiter,
        scope=scope,
        pool=connector.limit if connector is not None else 0,
        throttled=lambda: transport.throttled,
    )


def _api_key(value: object) -> str:
    key = value if value is not None else os.environ.get("D360_API_KEY")
    if key is not None and not isinstance(key, str):
        raise ValidationError("api_key", f"must be a string, got {type(key).__name__}")
    if not key or not key.strip():
        raise ValidationError(
            "api_key", "no API key: pass api_key= or set the D360_API_KEY environment variable"
        )
    key = key.strip()
    if not (key.isascii() and key.isprintable()) or any(c.isspace() for c in key):
        raise ValidationError("api_key", "must be printable ASCII without spaces")
    return key


def _base_url(value: object) -> str:
    if value is None:
        value = os.environ.get("D360_BASE_URL") or DEFAULT_BASE_URL
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ValidationError("base_url", "must start with http:// or https://")
    if not value.isprintable() or any(c.isspace() for c in value):
        raise ValidationError("base_url", "must not contain spaces or control characters")
    try:
        url = URL(value.rstrip("/"))
        valid = bool(url.host) and not url.query_string and not url.fragment
    except (ValueError, TypeError):
        valid = False
    if not valid:
        raise ValidationError("base_url", "must be an http(s) URL with a host, no query")
    return value.rstrip("/")


def _retry_policy(value: object) -> RetryPolicy:
    if value is None:
        return RetryPolicy()
    if not isinstance(value, RetryPolicy):
        raise ValidationError("retry", "must be a RetryPolicy or None")
    return value


def parse(data: Any, cls: type[M], *, sent: Any = None, key: str = "") -> M:
    """``data`` (a decoded 2xx body) as a ``cls``.

    Args:
        data: The decoded JSON.
        cls: The model.
        sent: The request body (or its JSON bytes), whose personal data must not show in an
            error.
        key: The API key, likewise.

    Raises:
        APIResponseError: ``data`` is not an object of that shape; the message says where
            (cattrs' field paths, without values; a model's own check as it says it), with the
            key and the request's personal data redacted.
    """
    if not isinstance(data, Mapping):
        reason = f"expected a JSON object for {cls.__name__}"
        raise APIResponseError(200, _text(data, _secrets(sent, key)), reason)
    try:
        return structure(data, cls)
    except Exception as exc:  # cattrs raises several types; all mean "unexpected shape"
        if isinstance(exc, cattrs.BaseValidationError):  # field paths, no values
            where = "; ".join(cattrs.transform_error(exc))
        else:  # a model's own check, which says what is wrong
            where = f"{type(exc).__name__}: {exc}"
        secrets = _secrets(sent, key)
        reason = scrub(f"unexpected {cls.__name__} shape: {where}", secrets)[:300]
        raise APIResponseError(200, _text(data, secrets), reason) from None


def _secrets(sent: Any, key: str) -> tuple[str, ...]:
    if isinstance(sent, bytes):
        sent = orjson.loads(sent)
    return (key, *sensitive_strings(sent))


def _text(data: Any, secrets: tuple[str, ...]) -> str:
    """Decoded JSON back to compact text, the secrets scrubbed first (as the strings they
    are: once written as JSON, a non-ASCII one would be escaped and no longer match)."""
    return json.dumps(scrub(data, secrets), separators=(",", ":"), ensure_ascii=True)
