"""One request, done right: throttled, retried when safe, logged without secrets, errors mapped.

Origin pinning: requests go to the configured base URL only (every URL is checked against its
origin) and redirects are never followed: a 3xx is a ``RedirectError``. Timeouts by phase:
aiohttp bounds the pool wait and the connect, the transport's own deadline the request itself,
from the moment it goes on the wire (``_wire``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson
from yarl import URL

from ._concurrency import WIRE_START
from ._deadlines import Deadlines
from ._errors import (
    APIConnectionError,
    APIError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    ClientClosedError,
    D360Error,
    LimiterUnavailableError,
    RateLimitError,
    ValidationError,
    make_status_error,
)
from ._hooks import (
    CAPTURE,
    Hooks,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
    emit,
    path_template,
    redacted_headers,
)
from ._limits import LocalLimiter, RateLimiter, Scope, recipient_digest
from ._outcome import may_have_been_acted_upon
from ._redact import scrub, sensitive_strings
from ._retry import RetryPolicy, Safety
from ._timeouts import Timeout
from ._version import __version__
from ._wire import CURRENT, HeldBody, OnWire, Phase, WireConnector, WireState

__all__ = ["Transport", "logger", "scope_for"]

logger = logging.getLogger("d360_async")


_JSON_HEADERS = {"Content-Type": "application/json"}
_URL_CACHE_SIZE = 64
_ATTEMPT_LOG = "%s %s -> %s attempt=%d elapsed=%.3fs"
_SEND_PATHS = frozenset({"/marketing_messages", "/marketing/marketing_messages"})


def scope_for(method: str, path: str) -> Scope:
    """The limiter scope of a request: sends, Conversions API posts, or anything else."""
    if path in _SEND_PATHS:
        return Scope.MESSAGES
    if method == "POST" and path.endswith("/events"):
        return Scope.EVENTS
    return Scope.READS


def connection_error(
    exc: BaseException,
    where: str,
    phase: Phase,
    *,
    closed: bool = False,
    secrets: tuple[str, ...] = (),
) -> APIConnectionError:
    """Wrap a transport exception; ``maybe_sent`` is False only when the request certainly
    was not acted upon.

    ``phase`` says how far the attempt got (see ``_wire``): still waiting for or opening its
    connection, or written short of its last byte (held), means not sent, whatever the
    exception (a timeout that fires while waiting for the pool is as harmless as a connect
    timeout). Without that knowledge (a session whose connector is not a ``WireConnector``,
    a request not held) the exception type decides. ``closed``: the client
    was closed meanwhile. ``secrets`` are scrubbed from aiohttp's text (a parser error may
    quote what the server sent), and aiohttp's exception is chained only if it had none and
    does not carry the request (its headers).
    """
    if phase is Phase.CONNECTING or phase is Phase.HELD:
        maybe_sent = False
    elif phase is Phase.WIRE:
        maybe_sent = True
    else:
        maybe_sent = not isinstance(
            exc, (aiohttp.ConnectionTimeoutError, aiohttp.ClientConnectorError)
        )
    cls: type[APIConnectionError]
    if closed:
        cls, what = ClientClosedError, "the client was closed during the request"
    elif isinstance(exc, TimeoutError):
        cls = APITimeoutError
        if maybe_sent:
            what = "timed out before the whole response was read"
        elif phase is Phase.HELD:
            what = "timed out before the request was written in full"
        else:
            what = "timed out waiting for or opening a connection"
    else:
        cls, what = APIConnectionError, "no usable answer"
    text = f"{type(exc).__name__}: {exc}".rstrip(": ")
    detail = scrub(text, secrets)
    error = cls(f"{where}: {what} ({detail})", maybe_sent=maybe_sent)
    # Chain aiohttp's exception only when it shows nothing secret: not when its text did,
    # nor when it carries the request (``request_info``: its headers hold the key).
    if detail == text and getattr(exc, "request_info", None) is None:
        error.__cause__ = exc
    return error


class Transport:
    """Sends requests for one client: rate limit and pauses, retries, error mapping, logging,
    hooks. Internal: the public face is ``D360Client``.
    """

    __slots__ = (
        "_aiohttp_timeout",
        "_base",
        "_deadlines",
        "_fallback_budget",
        "_headers",
        "_hooks",
        "_ids",
        "_json_headers",
        "_key",
        "_keyed",
        "_limiter",
        "_local",
        "_loop",
        "_origin",
        "_request_timeout",
        "_retry",
        "_seam",
        "_urls",
        "session",
        "throttled",
    )

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        base_url: str,
        api_key: str,
        timeout: Timeout | aiohttp.ClientTimeout,
        limiter: RateLimiter,
        retry: RetryPolicy,
        hooks: Hooks | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.session = session
        self._base = base_url.rstrip("/")
        self._origin = URL(self._base).origin()
        self._key = api_key
        self._headers = {
            "D360-API-KEY": api_key,
            "User-Agent": f"d360-async/{__version__}",
        }
        self._json_headers = {**self._headers, **_JSON_HEADERS}
        self._urls: dict[str, URL] = {}
        self._limiter = limiter
        # The in-process limiter has no use for per-recipient keys: none are computed for it;
        # and when it has neither rate nor pause for a scope, acquire() need not be awaited.
        self._local = limiter if isinstance(limiter, LocalLimiter) else None
        self._keyed = self._local is None
        self._retry = retry
        active = hooks is not None and (hooks.on_request or hooks.on_response or hooks.on_retry)
        self._hooks = hooks if active else None
        self._ids = itertools.count(1)
        self._loop = loop
        self._deadlines: Deadlines | None = None  # made in the loop, on first use
        # Whether the session's pool reports the moment a request gets its connection.
        self._seam = isinstance(session.connector, WireConnector)
        #: How many times the server throttled a request (429 or a throttling code).
        self.throttled = 0
        if isinstance(timeout, Timeout):
            self._aiohttp_timeout = timeout.for_aiohttp()
            self._request_timeout = timeout.request
            phases = (timeout.pool, timeout.connect, timeout.request)
            # Without the seam the wire moment is unknown: one deadline for all three phases.
            self._fallback_budget = (
                None if self._seam or None in phases else sum(p for p in phases if p)
            )
        else:  # an aiohttp.ClientTimeout: aiohttp's phases, as given
            self._aiohttp_timeout = timeout
            self._request_timeout = None
            self._fallback_budget = None

    def _url(self, path: str) -> URL:
        url = self._urls.get(path)
        if url is None:
            url = URL(self._base + path, encoded=True)
            if url.origin() != self._origin:  # the key goes to the configured origin only
                raise ValidationError("path", "does not stay on the configured base URL")
            if len(self._urls) < _URL_CACHE_SIZE:
                self._urls[path] = url
        return url

    async def request(
        self,
        method: str,
        path: str,
        *,
        safety: Safety,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        encoded: bytes | None = None,
        recipient: str | None = None,
        on_wire: OnWire | None = None,
        on_refused: OnWire | None = None,
        hold: bool = True,
        scope: Scope | None = None,
    ) -> Any:
        """Send one request (with its retries) and return the decoded JSON body.

        Args:
            method: HTTP method.
            path: Path below the base URL, already escaped.
            safety: Which failures may be retried.
            params: Query parameters, already encoded as strings.
            json_body: A JSON-ready body, or None for no body.
            encoded: A JSON body already encoded, sent as is (instead of ``json_body``): what
                was checked is what goes out, and it is not serialised twice.
            recipient: The ``to`` of a send given as ``encoded`` (the limiter's
                per-recipient key); with ``json_body``, its ``to`` is used.
            on_wire: Awaited once before the request may be acted upon: the first time an
                attempt has waited out the cool-down, taken its rate-limit slot and obtained
                a connection (see ``_wire``), and again only after ``on_refused`` (or when
                it was cancelled before it returned). With ``hold`` and a body, the request
                is written up to its body's last byte first, and that byte goes once
                ``on_wire`` returned. If it raises, the request is never written in full (its
                connection is closed) and the exception propagates unchanged. Anything that
                ends the request before it returned (cancellation while waiting, a failed
                connect, a pool-wait or connect timeout) left the request certainly not
                acted upon.
            hold: Hold the body's last byte back until ``on_wire`` returned (see ``_wire``):
                for an ``on_wire`` whose effect must be durable before the server can act on
                the request (a journal's ``pending`` row). False: ``on_wire`` runs as soon as
                the connection is obtained and the body goes in one write (one write less;
                for a callback that only notes the moment); with a session whose connector
                is not the client's own, just before the request is handed to aiohttp.
            on_refused: Awaited when an attempt that ran ``on_wire`` was certainly not acted
                upon (throttled, or Meta's own 503) and is about to be retried, before the
                wait: the request is not on the wire during the pause (a caller that marked it
                "may have been written" in ``on_wire`` can take the mark back); the retry runs
                ``on_wire`` again. Not awaited when no retry follows.
            scope: What the request counts against in the limiter (default: ``scope_for``).

        Raises:
            APIStatusError: The server answered with an error (after any retries).
            APIConnectionError: No answer (after any retries); ``maybe_sent`` is False when no
                attempt reached the wire. ``ClientClosedError`` when the client was closed.
            APIResponseError: A 2xx whose body is not JSON.
            LimiterUnavailableError: The limiter failed (the request was not sent).
            ValidationError: ``json_body`` cannot be serialised.
        """
        session = self.session
        if session.closed:
            raise ClientClosedError("this D360Client is closed", maybe_sent=False)
        body: bytes | None
        if encoded is not None:
            body, headers = encoded, self._json_headers
        elif json_body is None:
            body, headers = None, self._headers
        else:
            try:
                body, headers = orjson.dumps(json_body), self._json_headers
            except orjson.JSONEncodeError as exc:  # Decimal, bytes, sets, huge ints, bad UTF-8
                raise ValidationError("body", f"cannot be sent as JSON: {exc}") from None
            if isinstance(json_body, Mapping):
                recipient = json_body.get("to")
        url = self._url(path)
        loop = self._loop
        if loop is None:  # the session's loop; asking asyncio each time costs a getpid() call
            loop = self._loop = asyncio.get_running_loop()
        deadlines = self._deadlines
        if deadlines is None:
            seconds = self._fallback_budget if not self._seam else self._request_timeout
            if seconds is not None:
                deadlines = self._deadlines = Deadlines(loop, seconds)
        task = asyncio.current_task() if deadlines is not None else None
        retry = self._retry
        limiter = self._limiter
        local = self._local
        hooks = self._hooks
        if scope is None:
            scope = scope_for(method, path)
        key = (
            recipient_digest(self._key.encode(), recipient)
            if self._keyed and scope is Scope.MESSAGES
            else None
        )
        request_id = next(self._ids)
        template = path_template(path) if hooks is not None else path
        debug = logger.isEnabledFor(logging.DEBUG)
        # An attempt's time runs from the moment it goes on the wire (the pool reports it);
        # without the seam, from its start.
        wire = WireState(on_wire, deadlines if self._seam else None)
        from_start = None if self._seam else deadlines
        started = 0.0
        attempt = 0
        maybe_sent_before = False  # an earlier attempt may have been acted upon
        while True:
            attempt += 1
            try:  # waits out the scope's pause, then takes a slot
                if local is None or not local.is_open(scope):
                    await limiter.acquire(scope, key=key)
            except D360Error as exc:
                if isinstance(exc, LimiterUnavailableError):
                    exc.maybe_sent_before = maybe_sent_before
                raise
            except Exception as exc:  # fail closed: nothing unlimited goes out
                failed = LimiterUnavailableError(
                    f"the rate limiter failed: {type(exc).__name__}: {scrub(str(exc), [self._key])}"
                )
                failed.maybe_sent_before = maybe_sent_before
                raise failed from exc
            if session.closed:
                raise ClientClosedError("this D360Client is closed", maybe_sent=maybe_sent_before)
            sent_at = loop.time()  # an attempt's timing starts when it goes out
            WIRE_START.set(sent_at)  # for concurrency="auto": the latency without the limiter
            if attempt == 1:
                started = sent_at
            if hooks is not None and hooks.on_request:
                await emit(
                    hooks.on_request,
                    RequestEvent(
                        request_id=request_id,
                        method=method,
                        path=template,
                        scope=scope,
                        attempt=attempt,
                    ),
                )
            data: bytes | HeldBody | None = body
            wire.held = hold and wire.on_wire is not None and bool(body)
            if wire.held:
                assert body is not None
                data = HeldBody(body, wire)
            elif wire.on_wire is not None and not self._seam:
                await wire.run_on_wire()
            wire.phase = Phase.BEFORE
            error: APIError
            status: int | None = None
            try:
                token = CURRENT.set(wire)
                if task is not None:
                    wire.start_clock(task)
                    if from_start is not None:
                        from_start.start(wire)
                try:
                    async with session.request(
                        method,
                        url,
                        params=params,
                        data=data,
                        headers=headers,
                        timeout=self._aiohttp_timeout,
                        allow_redirects=False,
                    ) as response:
                        raw = await response.read()
                        status = response.status
                except asyncio.CancelledError:
                    if wire.stop_clock():  # its deadline expired it
                        raise TimeoutError from None
                    raise
                finally:
                    CURRENT.reset(token)
                    wire.stop_clock()
            except (TimeoutError, aiohttp.ClientError, RuntimeError) as exc:
                if wire.hook_error is not None:  # on_wire raised; aiohttp may have wrapped it
                    raise wire.hook_error from None
                error = connection_error(
                    exc,
                    f"{method} {path}",
                    wire.phase,
                    closed=session.closed,
                    secrets=self._secrets(body),
                )
                outcome: object = type(exc).__name__
            except asyncio.CancelledError as exc:
                # Closing the session cancels the requests waiting for its pool: that is no
                # cancellation of this task, and must not look like one.
                current = asyncio.current_task()
                if not session.closed or current is None or current.cancelling():
                    raise
                error = connection_error(exc, f"{method} {path}", wire.phase, closed=True)
                outcome = "closed"
            else:
                capture = CAPTURE.get()
                if capture is not None:
                    capture.append((status, redacted_headers(response.headers, self._key)))
                if 200 <= status < 300:
                    if debug:
                        logger.debug(
                            _ATTEMPT_LOG, method, path, status, attempt, loop.time() - sent_at
                        )
                    if hooks is not None and hooks.on_response:
                        await self._responded(
                            hooks, request_id, method, template, scope, attempt, status, sent_at
                        )
                    if not raw:
                        return {}
                    try:
                        return orjson.loads(raw)
                    except orjson.JSONDecodeError as exc:
                        text = raw.decode("utf-8", "replace")
                        raise APIResponseError(status, scrub(text, self._secrets(body))) from exc
                error = make_status_error(
                    status,
                    raw,
                    redacted_headers(response.headers, self._key),
                    reason=response.reason,
                    secrets=self._secrets(body),
                )
                outcome = status
            if debug:
                logger.debug(_ATTEMPT_LOG, method, path, outcome, attempt, loop.time() - sent_at)
            if hooks is not None and hooks.on_response:
                await self._responded(
                    hooks, request_id, method, template, scope, attempt, status, sent_at, error
                )
            delay = retry.next_delay(error, safety, attempt=attempt, elapsed=loop.time() - started)
            wait_here = delay or 0.0
            if isinstance(error, RateLimitError) and not error.per_recipient:
                self.throttled += 1
                # One pause for the whole scope, in the limiter: every request of the scope
                # through it (other clients' included) waits it out, this one's retry too.
                try:
                    pause = delay if delay is not None else retry.delay_for(error, attempt)
                    await limiter.pause(scope, pause)
                except Exception as exc:  # the retry still waits; acquire() will fail closed
                    logger.warning("the rate limiter could not record a pause: %s", type(exc))
                else:
                    wait_here = 0.0
            if delay is None:
                error.maybe_sent_before = maybe_sent_before
                if debug:
                    logger.debug(
                        "%s %s failed for good after %d attempt(s) in %.3fs: %s",
                        method,
                        path,
                        attempt,
                        loop.time() - started,
                        type(error).__name__,
                    )
                raise error
            if may_have_been_acted_upon(error):
                maybe_sent_before = True
            elif not maybe_sent_before and on_refused is not None and wire.ran():
                # refused, and no earlier attempt may have been acted upon: not written
                await on_refused()
                wire.rearm()
            logger.info(
                "%s %s attempt %d failed after %.3fs (%s); retrying in %.2fs",
                method,
                path,
                attempt,
                loop.time() - sent_at,
                error,
                delay,
            )
            if hooks is not None and hooks.on_retry:
                code, trace = _codes(error)
                await emit(
                    hooks.on_retry,
                    RetryEvent(
                        request_id=request_id,
                        method=method,
                        path=template,
                        scope=scope,
                        attempt=attempt,
                        delay=delay,
                        status=status,
                        error=type(error).__name__,
                        error_code=code,
                        fbtrace_id=trace,
                    ),
                )
            if wait_here > 0:
                await asyncio.sleep(wait_here)

    def _secrets(self, body: bytes | None) -> tuple[str, ...]:
        """What must not show in an error about a request: the key, and the personal data of
        the body that was sent (decoded again only now, on an error)."""
        return (self._key, *sensitive_strings(None if body is None else orjson.loads(body)))

    async def _responded(
        self,
        hooks: Hooks,
        request_id: int,
        method: str,
        path: str,
        scope: Scope,
        attempt: int,
        status: int | None,
        sent_at: float,
        error: APIError | None = None,
    ) -> None:
        code, trace = _codes(error)
        loop = self._loop
        await emit(
            hooks.on_response,
            ResponseEvent(
                request_id=request_id,
                method=method,
                path=path,
                scope=scope,
                attempt=attempt,
                status=status,
                elapsed=(loop.time() if loop is not None else sent_at) - sent_at,
                error=None if error is None else type(error).__name__,
                error_code=code,
                fbtrace_id=trace,
                maybe_sent=error is None or may_have_been_acted_upon(error),
            ),
        )


def _codes(error: APIError | None) -> tuple[int | None, str | None]:
    if isinstance(error, APIStatusError):
        return error.code, error.fbtrace_id
    return None, None
