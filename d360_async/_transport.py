"""One request, done right: throttled, retried when safe, logged without secrets, errors mapped."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson
from yarl import URL

from ._concurrency import WIRE_START
from ._errors import (
    APIConnectionError,
    APIError,
    APIResponseError,
    APITimeoutError,
    D360Error,
    LimiterUnavailableError,
    RateLimitError,
    make_status_error,
)
from ._limits import LocalLimiter, RateLimiter, Scope, recipient_digest
from ._outcome import may_have_been_acted_upon
from ._retry import RetryPolicy, Safety
from ._version import __version__
from ._wire import CURRENT, OnWire, Phase, WireConnector, WireState

__all__ = ["Transport", "dumps", "logger", "scope_for"]

logger = logging.getLogger("d360_async")


def dumps(value: Any) -> str:
    """Compact JSON text (no spaces, UTF-8 characters kept), as request bodies are sent."""
    return orjson.dumps(value).decode()


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


def connection_error(exc: BaseException, where: str, phase: Phase) -> APIConnectionError:
    """Wrap a transport exception; ``maybe_sent`` is False only when nothing left this host.

    ``phase`` says how far the attempt got (see ``_wire``): still waiting for or opening its
    connection means not sent, whatever the exception (a total timeout that fires while waiting
    for the pool is as harmless as a connect timeout). Without that knowledge (a session whose
    connector is not a ``WireConnector``) the exception type decides.
    """
    text = f"{where}: {type(exc).__name__}: {exc}".rstrip(": ")
    cls = APITimeoutError if isinstance(exc, TimeoutError) else APIConnectionError
    if phase is Phase.CONNECTING:
        maybe_sent = False
    elif phase is Phase.WIRE:
        maybe_sent = True
    else:
        maybe_sent = not isinstance(
            exc, (aiohttp.ConnectionTimeoutError, aiohttp.ClientConnectorError)
        )
    return cls(text, maybe_sent=maybe_sent)


class Transport:
    """Sends requests for one client: rate limit and pauses, retries, error mapping, logging.

    Internal: the public face is ``D360Client``.
    """

    __slots__ = (
        "_base",
        "_headers",
        "_json_headers",
        "_keyed",
        "_limiter",
        "_loop",
        "_retry",
        "_seam",
        "_secret",
        "_timeout",
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
        timeout: aiohttp.ClientTimeout,
        limiter: RateLimiter,
        retry: RetryPolicy,
    ) -> None:
        self.session = session
        self._base = base_url.rstrip("/")
        self._headers = {
            "D360-API-KEY": api_key,
            "User-Agent": f"d360-async/{__version__}",
        }
        self._json_headers = {**self._headers, **_JSON_HEADERS}
        self._urls: dict[str, URL] = {}
        self._secret = api_key.encode()
        self._timeout = timeout
        self._limiter = limiter
        # The in-process limiter has no use for per-recipient keys: none are computed for it.
        self._keyed = not isinstance(limiter, LocalLimiter)
        self._retry = retry
        self._loop: asyncio.AbstractEventLoop | None = None
        # Whether the session's pool reports the moment a request gets its connection.
        self._seam = isinstance(session.connector, WireConnector)
        #: How many times the server throttled a request (429 or a throttling code).
        self.throttled = 0

    async def request(
        self,
        method: str,
        path: str,
        *,
        safety: Safety,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        on_wire: OnWire | None = None,
        scope: Scope | None = None,
    ) -> Any:
        """Send one request (with its retries) and return the decoded JSON body.

        Args:
            method: HTTP method.
            path: Path below the base URL, already escaped.
            safety: Which failures may be retried.
            params: Query parameters, already encoded as strings.
            json_body: A JSON-ready body, or None for no body.
            on_wire: Awaited at most once per request, the first time an attempt has waited
                out the cool-down, taken its rate-limit slot and obtained a connection, right
                before the request starts to be written (see ``_wire``). If it raises, the
                request is not written and the exception propagates unchanged. Anything that
                ends the request before it ran (cancellation while waiting, a failed connect,
                a pool-wait or connect timeout) left the request certainly not sent. With a
                session whose connector is not the client's own, it runs just before the
                request is handed to aiohttp (before aiohttp's pool wait).
            scope: What the request counts against in the limiter (default: ``scope_for``).

        Raises:
            APIStatusError: The server answered with an error (after any retries).
            APIConnectionError: No answer (after any retries); ``maybe_sent`` is False when no
                attempt reached the wire.
            APIResponseError: A 2xx whose body is not JSON.
            LimiterUnavailableError: The limiter failed (the request was not sent).
        """
        if json_body is None:
            body, headers = None, self._headers
        else:
            body, headers = orjson.dumps(json_body), self._json_headers
        url = self._urls.get(path)
        if url is None:
            url = URL(self._base + path, encoded=True)
            if len(self._urls) < _URL_CACHE_SIZE:
                self._urls[path] = url
        loop = self._loop
        if loop is None:  # the session's loop; asking asyncio each time costs a getpid() call
            loop = self._loop = asyncio.get_running_loop()
        retry = self._retry
        limiter = self._limiter
        if scope is None:
            scope = scope_for(method, path)
        key = (
            recipient_digest(self._secret, json_body)
            if self._keyed and scope is Scope.MESSAGES
            else None
        )
        debug = logger.isEnabledFor(logging.DEBUG)
        started = 0.0
        attempt = 0
        wire = WireState(on_wire)
        maybe_sent_before = False  # an earlier attempt may have been acted upon
        while True:
            attempt += 1
            try:  # waits out the scope's pause, then takes a slot
                await limiter.acquire(scope, key=key)
            except D360Error:
                raise
            except Exception as exc:  # fail closed: nothing unlimited goes out
                raise LimiterUnavailableError(
                    f"the rate limiter failed: {type(exc).__name__}: {exc}"
                ) from exc
            sent_at = loop.time()  # an attempt's timing starts when it goes out
            WIRE_START.set(sent_at)  # for concurrency="auto": the latency without the limiter
            if attempt == 1:
                started = sent_at
            if wire.on_wire is not None and not self._seam:
                await wire.run_on_wire()
            wire.phase = Phase.BEFORE
            error: APIError
            try:
                token = CURRENT.set(wire)
                try:
                    async with self.session.request(
                        method,
                        url,
                        params=params,
                        data=body,
                        headers=headers,
                        timeout=self._timeout,
                    ) as response:
                        raw = await response.read()
                        status = response.status
                finally:
                    CURRENT.reset(token)
            except (TimeoutError, aiohttp.ClientError) as exc:
                if wire.hook_error is not None:  # on_wire raised; aiohttp may have wrapped it
                    raise wire.hook_error from None
                error = connection_error(exc, f"{method} {path}", wire.phase)
                error.__cause__ = exc
                outcome: object = type(exc).__name__
            else:
                if 200 <= status < 300:
                    if debug:
                        logger.debug(
                            _ATTEMPT_LOG, method, path, status, attempt, loop.time() - sent_at
                        )
                    if not raw:
                        return {}
                    try:
                        return orjson.loads(raw)
                    except orjson.JSONDecodeError as exc:
                        raise APIResponseError(status, raw.decode("utf-8", "replace")) from exc
                if self._secret in raw:  # a server echoing the key must not put it in our errors
                    raw = raw.replace(self._secret, b"[redacted]")
                error = make_status_error(status, raw, response.headers, reason=response.reason)
                outcome = status
            if debug:
                logger.debug(_ATTEMPT_LOG, method, path, outcome, attempt, loop.time() - sent_at)
            delay = retry.next_delay(error, safety, attempt=attempt, elapsed=loop.time() - started)
            wait_here = delay or 0.0
            if isinstance(error, RateLimitError) and not error.per_recipient:
                self.throttled += 1
                # One pause for the whole scope, in the limiter: every request of the scope
                # through it (other clients' included) waits it out, this one's retry too.
                try:
                    await limiter.pause(scope, retry.delay_for(error, attempt))
                except Exception as exc:  # the retry still waits; acquire() will fail closed
                    logger.warning("the rate limiter could not record a pause: %r", exc)
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
            maybe_sent_before = maybe_sent_before or may_have_been_acted_upon(error)
            logger.info(
                "%s %s attempt %d failed after %.3fs (%s); retrying in %.2fs",
                method,
                path,
                attempt,
                loop.time() - sent_at,
                error,
                delay,
            )
            if wait_here > 0:
                await asyncio.sleep(wait_here)
