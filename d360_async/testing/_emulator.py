"""The :class:`Emulator`: an aiohttp server emulating the MM Lite API on loopback."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from . import (
    _analytics,
    _control,
    _events,
    _insights,
    _quality,
    _send,
    _templates_api,
    _webhooks,
)
from ._config import DEFAULT_API_KEY, DEFAULT_WABA_ID, EmulatorConfig
from ._faults import DEFAULT_RATE_KINDS, OK, STATUS_FAULTS, drop, fault_response, write_slowly
from ._ratelimit import retry_after_header
from ._records import Dataset, RecordedEvent, RecordedSend
from ._responses import API_KEY_HEADER, unauthorized
from ._state import State
from ._templates import Template
from ._webhook_plan import WebhookSettings

Handler = Callable[[State, web.Request, str], Awaitable[web.StreamResponse]]

_log = logging.getLogger("d360_async.testing")

# (method, path, operationId, handler, faultable, throttled). Fixed paths come before
# ``/marketing/{template_id}`` so they win.
_ROUTES: tuple[tuple[str, str, str, Handler, bool, bool], ...] = (
    ("POST", "/marketing_messages", "send-marketing-message", _send.handle_send, True, True),
    (
        "POST",
        "/marketing/marketing_messages",
        "send-marketing-message-alt",
        _send.handle_send,
        True,
        True,
    ),
    (
        "GET",
        "/marketing/message_templates",
        "get-mmlite-message-templates",
        _templates_api.list_templates,
        False,
        False,
    ),
    (
        "GET",
        "/marketing/template_analytics",
        "get-template-analytics",
        _analytics.get_template_analytics,
        False,
        False,
    ),
    (
        "POST",
        "/marketing/template_analytics",
        "enable-template-analytics",
        _analytics.enable_template_analytics,
        False,
        False,
    ),
    (
        "GET",
        "/marketing/dataset_quality",
        "get-dataset-quality",
        _quality.get_dataset_quality,
        False,
        False,
    ),
    (
        "GET",
        "/marketing/{ad_object_id}/insights",
        "get-ad-object-insights",
        _insights.get_insights,
        False,
        False,
    ),
    (
        "GET",
        "/marketing/{meta_node_id}/dataset",
        "get-conversion-dataset",
        _events.get_dataset,
        False,
        False,
    ),
    (
        "POST",
        "/marketing/{meta_node_id}/dataset",
        "post-conversion-dataset",
        _events.post_dataset,
        False,
        False,
    ),
    (
        "POST",
        "/marketing/{meta_node_id}/events",
        "post-conversion-events",
        _events.post_events,
        True,
        False,
    ),
    (
        "GET",
        "/marketing/{template_id}",
        "get-message-template",
        _templates_api.get_template,
        False,
        False,
    ),
)

#: Largest request body accepted (1,000 rich events fit; aiohttp's default is 1 MiB).
MAX_BODY = 16 * 1024 * 1024

#: operationId of every emulated operation, keyed by (method, path template).
OPERATIONS: dict[tuple[str, str], str] = {(m, p): op for m, p, op, *_ in _ROUTES}


Endpoint = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _quiet_disconnects(handler: Endpoint) -> Endpoint:
    """``handler``, except that a client gone mid-request is one DEBUG line without a
    traceback (aiohttp would log its ``ConnectionResetError`` as an error): routine for a
    test server whose clients time out and retry."""

    async def quiet(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ConnectionError as exc:
            _log.debug(
                "%s %s: client disconnected (%s)", request.method, request.path, type(exc).__name__
            )
            return drop(request)

    return quiet


class Emulator:
    """A local, stateful emulator of 360dialog's MM Lite API, served over loopback.

    Args:
        host: Interface to bind (loopback by default).
        port: TCP port; 0 picks a free one (see :attr:`url`).
        api_key: The main API key (:attr:`api_key`).
        api_keys: More accepted keys; each has its own token bucket.
        rate: Sends per second per key before 429/130429 (``None``: unlimited).
        burst: Token-bucket capacity (default: ``rate``, i.e. one second's worth).
        pair_rate_limit: Max accepted messages per recipient per ``pair_window`` before
            400/131056 (``True`` = 1, ``False``/0 = off).
        pair_window: The pair limit's sliding window, seconds.
        fault_rate: Probability that a send/events request gets a fault from ``fault_kinds``.
        fault_kinds: Kinds drawn by ``fault_rate`` (``"500"``, ``"502"``, ``"503"``, ``"429"``,
            ``"drop_before"``, ``"drop_after"``, ``"slow"``).
        faults: An explicit schedule consumed per send/events request before ``fault_rate``
            applies (``"ok"`` = no fault).
        seed: Makes the rate draws and the latency jitter reproducible.
        latency_ms: Delay added before every API request.
        latency_jitter_ms: Extra uniform random delay (seeded) before every API request.
        slow_body_chunks: Pieces a ``"slow"`` response is written in.
        slow_body_delay_ms: Pause between those pieces.
        retry_after: ``Retry-After`` seconds of an injected ``"429"``.
        wrap_errors: Answer Meta errors in 360dialog's ``{"detail": {"error": ...}}`` wrapper.
        seed_templates: Start with the built-in template catalogue.
        waba_id: The WABA id reported by template analytics.
        analytics_enabled: Whether template analytics start enabled.
        analytics_shape: How template analytics are answered: ``"spec"`` (the spec's
            ``{id, template_analytics: [...]}``), ``"meta"`` (Meta's ``{data: [{data_points:
            [...]}]}``) or ``"expanded"`` (Graph field expansion: ``{id, template_analytics:
            {data: [...]}}``).
        clock: Monotonic clock for the limiters (default: the running loop's ``time``).
        wall_clock: Unix-time clock for timestamps, event age and analytics days.
        webhook_url: Where to deliver status webhooks (also settable over HTTP, or with
            ``webhooks.configure``); None: no webhooks until configured.
        webhooks: Ratios, delays, duplicates, reordering, batching and retries of the
            status webhooks (``WebhookSettings``).

    Example:
        In process (``rate=None`` lifts the 80 messages/s limit)::

            async with Emulator(rate=None, seed=1) as emu:
                async with D360Client(emu.api_key, base_url=emu.url) as client:
                    await run_campaign(client)
                assert not emu.duplicate_recipients()
                emu.set_template_status("summer_sale", "en_US", "PAUSED")

        Out of process: ``python -m d360_async.testing --port 8360 --api-key KEY``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = DEFAULT_API_KEY,
        api_keys: Iterable[str] = (),
        rate: float | None = 80.0,
        burst: float | None = None,
        pair_rate_limit: bool | int = False,
        pair_window: float = 6.0,
        fault_rate: float = 0.0,
        fault_kinds: Iterable[str] = DEFAULT_RATE_KINDS,
        faults: Iterable[str] = (),
        seed: int | None = None,
        latency_ms: float = 0.0,
        latency_jitter_ms: float = 0.0,
        slow_body_chunks: int = 4,
        slow_body_delay_ms: float = 50.0,
        retry_after: int = 1,
        wrap_errors: bool = False,
        seed_templates: bool = True,
        waba_id: str = DEFAULT_WABA_ID,
        analytics_enabled: bool = True,
        analytics_shape: str = "spec",
        clock: Callable[[], float] | None = None,
        wall_clock: Callable[[], float] | None = None,
        webhook_url: str | None = None,
        webhooks: WebhookSettings | None = None,
    ) -> None:
        extra: dict[str, Any] = {} if wall_clock is None else {"wall_clock": wall_clock}
        if webhooks is not None:
            extra["webhooks"] = webhooks
        self.config = EmulatorConfig(
            host=host,
            port=port,
            api_key=api_key,
            api_keys=tuple(api_keys),
            rate=rate,
            burst=burst,
            pair_rate_limit=pair_rate_limit,
            pair_window=pair_window,
            fault_rate=fault_rate,
            fault_kinds=tuple(fault_kinds),
            faults=tuple(faults),
            seed=seed,
            latency_ms=latency_ms,
            latency_jitter_ms=latency_jitter_ms,
            slow_body_chunks=slow_body_chunks,
            slow_body_delay_ms=slow_body_delay_ms,
            retry_after=retry_after,
            wrap_errors=wrap_errors,
            seed_templates=seed_templates,
            waba_id=waba_id,
            analytics_enabled=analytics_enabled,
            analytics_shape=analytics_shape,
            clock=clock,
            webhook_url=webhook_url,
            **extra,
        )
        self._state = State(self.config)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, handler_args={"max_field_size": 16384})
        for method, path, operation, handler, faultable, throttled in _ROUTES:
            endpoint = self._endpoint(operation, handler, faultable=faultable, throttled=throttled)
            app.router.add_route(method, path, endpoint)
        control = [
            *_control.routes(self._state),
            *_webhooks.routes(self._state.webhooks, self._state.api_keys),
        ]
        for route in control:
            app.router.add_route(route.method, route.path, _quiet_disconnects(route.handler))
        return app

    def _endpoint(
        self, operation: str, handler: Handler, *, faultable: bool, throttled: bool
    ) -> Endpoint:
        state = self._state
        config = self.config

        async def endpoint(request: web.Request) -> web.StreamResponse:
            state.requests[operation] += 1
            if request.body_exists:
                # Read (and keep) the body first: a request written in full is handled even if
                # its client goes away during the latency, as by a server that does not watch
                # its clients; only a request cut short is not.
                await request.read()
            if state.latency.enabled:
                await asyncio.sleep(state.latency.next_delay())
            fault = OK
            if faultable and state.faults.active:
                fault = state.faults.decide(operation, await request.read())
                if fault in STATUS_FAULTS:
                    return fault_response(fault, state.errors, config.retry_after)
                if fault == "drop_before":
                    return drop(request)
            api_key = request.headers.get(API_KEY_HEADER)
            response: web.StreamResponse
            if api_key is None or api_key not in state.api_keys:
                response = unauthorized()
            elif throttled and (bucket := state.bucket(api_key)) and (wait := bucket.acquire()):
                state.rate_limited += 1
                response = state.errors.throttled(retry_after_header(wait))
            else:
                response = await handler(state, request, api_key)
            if fault == OK:
                return response
            if fault == "drop_after":
                return drop(request)
            assert isinstance(response, web.Response)
            return await write_slowly(
                request,
                response,
                chunks=config.slow_body_chunks,
                delay=config.slow_body_delay_ms / 1000.0,
            )

        return _quiet_disconnects(endpoint)

    async def start(self) -> Self:
        """Bind and serve; returns ``self``. Prefer ``async with``."""
        if self._runner is not None:
            raise RuntimeError("emulator already started")
        if self.config.clock is None:
            self._state.set_clock(asyncio.get_running_loop().time)
        runner = web.AppRunner(self._app(), access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.config.host, self.config.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        return self

    async def close(self) -> None:
        """Stop serving (idempotent). Records stay readable."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        await self._state.webhooks.close()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- addressing ----------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError("emulator not started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL to give the client, e.g. ``http://127.0.0.1:54321``."""
        host = self.config.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def api_key(self) -> str:
        """The main API key."""
        return self.config.api_key

    @property
    def api_keys(self) -> frozenset[str]:
        """Every key currently accepted."""
        return frozenset(self._state.api_keys)

    def add_api_key(self, key: str) -> None:
        """Accept another key."""
        self._state.api_keys.add(key)

    def remove_api_key(self, key: str) -> None:
        """Stop accepting ``key`` (its requests get 401)."""
        self._state.api_keys.discard(key)

    # -- records and counters --------------------------------------------------------------

    @property
    def webhooks(self) -> _webhooks.WebhookSender:
        """The status webhooks: ``configure(url)``, ``generated``, ``counts()``,
        ``final_statuses()``, ``await drain()``... (see ``docs/emulator.md``)."""
        return self._state.webhooks

    @property
    def sent_messages(self) -> list[RecordedSend]:
        """Accepted sends, in acceptance order (the live list)."""
        return self._state.sent

    @property
    def events(self) -> dict[str, list[RecordedEvent]]:
        """Accepted, de-duplicated events per ``meta_node_id`` (the live dict)."""
        return self._state.events

    @property
    def duplicate_events(self) -> int:
        """Events dropped as duplicates of an earlier (event_name, event_id)."""
        return self._state.duplicate_events

    @property
    def datasets(self) -> dict[str, Dataset]:
        """Datasets per ``meta_node_id``."""
        return self._state.datasets

    @property
    def requests(self) -> Counter[str]:
        """Requests received per operationId (``"send-marketing-message"``, ...)."""
        return self._state.requests

    @property
    def faults_injected(self) -> Counter[str]:
        """Faults injected per kind (``"500"``, ``"drop_after"``, ...)."""
        return self._state.faults.injected

    @property
    def fault_log(self) -> list[tuple[str, str]]:
        """(operationId, kind) per request that went through fault selection (``"ok"`` too)."""
        return self._state.faults.log

    @property
    def rate_limited(self) -> int:
        """Sends refused by the token bucket (429, code 130429)."""
        return self._state.rate_limited

    @property
    def pair_rate_limited(self) -> int:
        """Sends refused by the per-recipient limit (code 131056)."""
        return self._state.pair_rate_limited

    def accepted_counts(self) -> dict[str, int]:
        """Accepted sends per recipient ``wa_id``."""
        return dict(self._state.recipients)

    def duplicate_recipients(self) -> dict[str, int]:
        """Recipients accepted more than once, with their counts (empty when none)."""
        return {wa_id: n for wa_id, n in self._state.recipients.items() if n > 1}

    def messages_to(self, to: str) -> list[RecordedSend]:
        """Accepted sends to ``to`` (any formatting of the number)."""
        wa_id = _send.wa_id_of(to) or to
        return [m for m in self._state.sent if m.wa_id == wa_id]

    def snapshot(self) -> dict[str, Any]:
        """The same JSON summary as ``GET /_emulator/state``."""
        return self._state.snapshot()

    def reset(self, *, templates: bool = True) -> None:
        """Forget records and counters, restart the fault schedule and draws and the limiters;
        restore the seeded templates unless ``templates=False``."""
        self._state.reset(templates=templates)

    # -- templates ------------------------------------------------------------------------

    @property
    def templates(self) -> list[Template]:
        """All templates in listing order (live objects)."""
        return self._state.templates.ordered()

    def get_template(self, name: str, language: str) -> Template:
        """The template ``name`` in ``language``; ``KeyError`` when absent."""
        return self._state.templates.get(name, language)

    def add_template(
        self,
        name: str,
        language: str = "en_US",
        *,
        status: str = "APPROVED",
        category: str = "MARKETING",
        body_text: str | None = None,
        components: list[dict[str, Any]] | None = None,
        template_id: str | None = None,
        parameter_format: str | None = None,
    ) -> Template:
        """Add a template (``body_text`` is a shortcut for one BODY component).

        ``parameter_format`` is ``"POSITIONAL"`` (``{{1}}``) or ``"NAMED"``
        (``{{first_name}}``); by default, what the placeholders are.
        """
        return self._state.templates.add(
            name,
            language,
            status=status,
            category=category,
            components=components,
            body_text=body_text,
            template_id=template_id,
            parameter_format=parameter_format,
        )

    def set_template_status(self, name: str, language: str, status: str) -> Template:
        """Change a template's status (e.g. ``"PAUSED"`` mid-campaign)."""
        return self._state.templates.set_status(name, language, status)

    def remove_template(self, name: str, language: str) -> Template:
        """Delete a template; later sends get 132001."""
        return self._state.templates.remove(name, language)

    # -- behaviour switches -----------------------------------------------------------------

    def add_faults(self, faults: Iterable[str]) -> None:
        """Append kinds to the fault schedule (consumed by the next send/events requests)."""
        self._state.faults.extend(faults)

    def set_recipient_error(self, to: str, code: int | None) -> None:
        """Make sends to ``to`` fail with Meta ``code`` (131050, 131026, ...); None clears."""
        wa_id = _send.wa_id_of(to)
        if wa_id is None:
            raise ValueError(f"not a phone number: {to!r}")
        if code is None:
            self._state.recipient_errors.pop(wa_id, None)
        else:
            self._state.recipient_errors[wa_id] = code

    def create_dataset(self, node_id: str, name: str | None = None) -> Dataset:
        """Create (or return) the dataset of ``node_id`` without a request."""
        return self._state.dataset_for(node_id, name)

    @property
    def analytics_enabled(self) -> bool:
        """Whether template analytics are enabled (POST ``?enable=true`` turns them on)."""
        return self._state.analytics_enabled
