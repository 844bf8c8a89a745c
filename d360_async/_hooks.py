"""Observability: hooks called for every attempt, and the HTTP status and headers of any call.

Hooks get small frozen events: method, path *template* (``/marketing/{template_id}``, never an
id or a phone number), scope, attempt, status, elapsed time, Meta's error code and
``fbtrace_id``. Never the API key, a request body or a response body.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import attrs
from multidict import CIMultiDict, CIMultiDictProxy

from ._errors import ValidationError
from ._limits import Scope

__all__ = [
    "CAPTURE",
    "Hooks",
    "RawResult",
    "RequestEvent",
    "ResponseEvent",
    "RetryEvent",
    "WithRawResponse",
    "emit",
    "path_template",
    "redacted_headers",
]

logger = logging.getLogger("d360_async")

T = TypeVar("T")

_FIXED = frozenset(
    {
        "/marketing_messages",
        "/marketing/marketing_messages",
        "/marketing/message_templates",
        "/marketing/template_analytics",
        "/marketing/dataset_quality",
    }
)
_TEMPLATES = (
    (re.compile(r"^/marketing/[^/]+/insights$"), "/marketing/{ad_object_id}/insights"),
    (re.compile(r"^/marketing/[^/]+/dataset$"), "/marketing/{meta_node_id}/dataset"),
    (re.compile(r"^/marketing/[^/]+/events$"), "/marketing/{meta_node_id}/events"),
    (re.compile(r"^/marketing/[^/]+$"), "/marketing/{template_id}"),
)


def path_template(path: str) -> str:
    """The documented path a request went to, ids replaced by their names.

    Example:
        >>> path_template("/marketing/act_1/insights"), path_template("/marketing_messages")
        ('/marketing/{ad_object_id}/insights', '/marketing_messages')
    """
    if path in _FIXED:
        return path
    for pattern, template in _TEMPLATES:
        if pattern.match(path):
            return template
    return "/{other}"


@attrs.frozen(kw_only=True)
class RequestEvent:
    """An attempt is about to be handed to aiohttp (its limiter slot taken).

    Attributes:
        request_id: The same for every attempt of one request; unique within a client.
        method: HTTP method.
        path: Path template, e.g. ``/marketing/{template_id}``.
        scope: The limiter scope.
        attempt: 1 for the first attempt.
    """

    request_id: int
    method: str
    path: str
    scope: Scope
    attempt: int


@attrs.frozen(kw_only=True)
class ResponseEvent:
    """An attempt ended: with an HTTP status, or without one (``status`` None, ``error`` set).

    Attributes:
        request_id: As in ``RequestEvent``.
        method: HTTP method.
        path: Path template.
        scope: The limiter scope.
        attempt: 1 for the first attempt.
        status: The HTTP status, or None when no response came.
        elapsed: Seconds from the attempt's start (after the limiter) to its end.
        error: The class name of the error this attempt ended with, or None on success.
        error_code: Meta's error code from an error body, when there is one.
        fbtrace_id: Meta's trace id from an error body, when there is one.
        maybe_sent: False when the attempt certainly was not acted upon.
    """

    request_id: int
    method: str
    path: str
    scope: Scope
    attempt: int
    status: int | None
    elapsed: float
    error: str | None = None
    error_code: int | None = None
    fbtrace_id: str | None = None
    maybe_sent: bool = True


@attrs.frozen(kw_only=True)
class RetryEvent:
    """An attempt failed and the request will be tried again after ``delay`` seconds.

    Attributes:
        request_id: As in ``RequestEvent``.
        method: HTTP method.
        path: Path template.
        scope: The limiter scope.
        attempt: The attempt that failed.
        delay: Seconds until the next attempt (a 429's pause included).
        status: The failed attempt's HTTP status, or None.
        error: The class name of the error.
        error_code: Meta's error code, when there is one.
        fbtrace_id: Meta's trace id, when there is one.
    """

    request_id: int
    method: str
    path: str
    scope: Scope
    attempt: int
    delay: float
    status: int | None
    error: str
    error_code: int | None = None
    fbtrace_id: str | None = None


Hook = Callable[[Any], Awaitable[None] | None]


def _hooks(value: object) -> tuple[Hook, ...]:
    if value is None:
        return ()
    items = (value,) if callable(value) else value
    if not isinstance(items, Sequence) or not all(callable(item) for item in items):
        raise ValidationError("hooks", "expected a callable or a sequence of callables")
    return tuple(items)


@attrs.frozen(kw_only=True)
class Hooks:
    """Callables run for every attempt of every request; each may be sync or async.

    A hook that raises is logged once at WARNING (its class name only) and ignored: a metrics
    bug never fails a request.

    Args:
        on_request: Called with a ``RequestEvent`` before each attempt.
        on_response: Called with a ``ResponseEvent`` after each attempt.
        on_retry: Called with a ``RetryEvent`` before the wait that precedes a retry.

    Example:
        >>> seen = []
        >>> hooks = Hooks(on_response=lambda event: seen.append((event.path, event.status)))
        >>> len(hooks.on_response)
        1
    """

    on_request: tuple[Callable[[RequestEvent], Awaitable[None] | None], ...] = attrs.field(
        default=(), converter=_hooks
    )
    on_response: tuple[Callable[[ResponseEvent], Awaitable[None] | None], ...] = attrs.field(
        default=(), converter=_hooks
    )
    on_retry: tuple[Callable[[RetryEvent], Awaitable[None] | None], ...] = attrs.field(
        default=(), converter=_hooks
    )


_warned: set[int] = set()


async def emit(hooks: Sequence[Callable[[T], Awaitable[None] | None]], event: T) -> None:
    """Run each hook with ``event``; one that raises is logged (once) and skipped."""
    for hook in hooks:
        try:
            result = hook(event)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            if id(hook) not in _warned:
                _warned.add(id(hook))
                logger.warning(
                    "hook %s raised %s; ignored",
                    getattr(hook, "__qualname__", "?"),
                    type(exc).__name__,
                )


@attrs.frozen(kw_only=True)
class RawResult(Generic[T]):
    """A call's parsed result with the HTTP status and headers of its response.

    Attributes:
        value: What the method returns.
        status: The HTTP status of the (last) response.
        headers: Its headers (case-insensitive; an echoed API key is redacted).
        responses: ``(status, headers)`` of every HTTP response of the call, retries and
            chunked requests included, in order.
    """

    value: T
    status: int
    headers: Mapping[str, str] = attrs.field(repr=False)
    responses: tuple[tuple[int, Mapping[str, str]], ...] = attrs.field(repr=False)


#: Where the transport reports each response while a ``with_raw_response`` call runs.
CAPTURE: contextvars.ContextVar[list[tuple[int, Mapping[str, str]]] | None] = (
    contextvars.ContextVar("d360_async_capture", default=None)
)


def redacted_headers(headers: CIMultiDictProxy[str], secret: str) -> CIMultiDictProxy[str]:
    """``headers`` with ``secret`` replaced wherever a server echoed it."""
    if not any(secret in value for value in headers.values()):
        return headers
    clean = CIMultiDict((k, v.replace(secret, "[redacted]")) for k, v in headers.items())
    return CIMultiDictProxy(clean)


class WithRawResponse:
    """``client.with_raw_response.<method>(...)``: the call, returning a ``RawResult``.

    Works for every coroutine method of the client that makes requests (not for the
    iterators, ``send_bulk`` or ``send_conversion_events``: use hooks there).
    """

    __slots__ = ("_client",)

    def __init__(self, client: object) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Callable[..., Awaitable[RawResult[Any]]]:
        method = None if name.startswith("_") or name == "close" else getattr(self._client, name)
        if not inspect.iscoroutinefunction(method):
            raise AttributeError(f"with_raw_response has no method {name!r}")

        async def call(*args: Any, **kwargs: Any) -> RawResult[Any]:
            captured: list[tuple[int, Mapping[str, str]]] = []
            token = CAPTURE.set(captured)
            try:
                value = await method(*args, **kwargs)
            finally:
                CAPTURE.reset(token)
            status, headers = captured[-1]
            return RawResult(value=value, status=status, headers=headers, responses=tuple(captured))

        return call
