"""``D360Client``: one async method per MM Lite operation."""

from __future__ import annotations

import functools
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ._admission import encode_message
from ._concurrency import AdaptiveConcurrency, Concurrency, check_concurrency
from ._core import DEFAULT_BASE_URL, ClientCore, parse, run_concurrency
from ._errors import ValidationError
from ._limits import Scope
from ._models_analytics import (
    EnableTemplateAnalyticsResponse,
    MetricType,
    TemplateAnalyticsResponse,
)
from ._models_events import ConversionDataset, ConversionEventsResponse
from ._models_insights import DatasetQuality, InsightsPage, InsightsRow
from ._models_messages import MarketingMessageResponse
from ._models_templates import MessageTemplate, MessageTemplatePage
from ._pagination import iterate_pages
from ._params import (
    Fields,
    analytics_params,
    clean_template_ids,
    compact_json,
    encode_fields,
    flag,
    insights_options,
    insights_params,
    nonempty,
    optional_text,
    path_id,
    streamed,
    template_params,
    whole,
)
from ._payloads import EventInput, MessageInput, prepare_events, prepare_message
from ._retry import Safety
from ._timeouts import DEFAULT_TIMEOUT

if TYPE_CHECKING:
    from ._builder import MessageBuilder  # noqa: F401 (docstring example)
    from ._bulk import BulkReport, BulkRun
    from ._campaign_journal import CampaignJournal
    from ._events import EventsRun
    from ._transport import Transport

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_TIMEOUT", "MM_LITE_PRODUCT_TYPE", "D360Client"]

#: ``product_type`` that makes template analytics count MM Lite traffic.
MM_LITE_PRODUCT_TYPE: Final = "MARKETING_MESSAGES_LITE_API"
#: Meta's limit of template ids in one analytics request.
MAX_ANALYTICS_TEMPLATE_IDS: Final = 10


class D360Client(ClientCore):
    """Async client for 360dialog's Marketing Messages Lite API.

    Use it inside a running event loop, preferably as an ``async with`` block; it opens its
    aiohttp session on first use and closes it on exit (a ``session`` you pass in is used as
    is and left open). Like an aiohttp session, a client belongs to the event loop of its
    first request: use one client per loop (another loop gets an ``EventLoopError``).

    Requests go to ``base_url``'s origin only: redirects are never followed (a 3xx is a
    ``RedirectError``), so the API key never travels anywhere else.

    Args:
        api_key: Your 360dialog API key; defaults to the ``D360_API_KEY`` environment variable.
        base_url: The API root; defaults to the ``D360_BASE_URL`` environment variable, else
            ``https://waba-v2.360dialog.io``.
        timeout: A ``Timeout`` (seconds per phase: waiting for a pooled connection, opening
            one, the request itself), a number of seconds (each phase, at most 10 s of it to
            open a connection), or an ``aiohttp.ClientTimeout`` used as is. A timeout before
            the request was written is ``maybe_sent=False``.
        rate_limit: Marketing message sends per second for this client (a token bucket
            holding an eighth of a second's worth); a ``RateLimiter`` (``LocalLimiter`` with
            rates per scope, or a limiter shared between processes) to share between clients;
            an ``aiolimiter.AsyncLimiter`` that every request takes a slot of; or None for no
            client-side rate. Acquired before every attempt, retries included. The pause after
            a 429 lives in the limiter, per scope (sends, events, reads): clients sharing a
            limiter share its pauses, and a throttled read does not pause sends.
        retry: When to retry; see ``RetryPolicy``.
        max_connections: Size of the connection pool (ignored with ``session``). By default
            1.25 s of requests at the limiter's rate for sends or events, at least 100 (1,250
            at 1,000/s): what ``concurrency="auto"`` needs at up to about 1 s of latency.
        session: An aiohttp session to use instead of the client's own.
        hooks: Callables run for every attempt (metrics, tracing); see ``Hooks``.

    Raises:
        ValidationError: No API key was given or found in the environment, or an argument
            has the wrong type or value.

    Example:
        >>> import asyncio
        >>> from d360_async import D360Client
        >>> async def main() -> None:
        ...     async with D360Client("my-key") as client:
        ...         response = await client.send_marketing_message({
        ...             "to": "4915112345678",
        ...             "template": {"name": "spring_sale", "language": {"code": "en"}},
        ...         })
        ...         print(response.message_id)
    """

    __slots__ = ()

    # --- dataset quality ----------------------------------------------------------------------

    async def get_dataset_quality(
        self, dataset_id: str, *, agent_name: str | None = None, fields: Fields | None = None
    ) -> DatasetQuality:
        """Event match quality and coverage of a dataset (GET /marketing/dataset_quality).

        Args:
            dataset_id: The dataset (pixel) id.
            agent_name: Only data sent by this partner agent.
            fields: Graph fields, as a string or a structure, e.g.
                ``{"web": ["event_name", {"event_match_quality": ["composite_score"]}]}``.
        """
        params = {"dataset_id": nonempty("dataset_id", dataset_id)}
        if agent_name is not None:
            params["agent_name"] = nonempty("agent_name", agent_name)
        if fields is not None:
            params["fields"] = encode_fields(fields)
        return await self._call("GET", "/marketing/dataset_quality", DatasetQuality, params=params)

    # --- sending ------------------------------------------------------------------------------

    async def send_marketing_message(self, message: MessageInput) -> MarketingMessageResponse:
        """Send one marketing template message (POST /marketing_messages).

        Retried only when the message was certainly not accepted (see ``RetryPolicy``).

        Args:
            message: A ``MarketingMessageRequest`` or a dict of the same shape; missing
                ``messaging_product``, ``recipient_type`` and ``type`` are filled in.
        """
        return await self._send("/marketing_messages", message)

    async def send_marketing_message_alt(self, message: MessageInput) -> MarketingMessageResponse:
        """Like ``send_marketing_message``, through POST /marketing/marketing_messages."""
        return await self._send("/marketing/marketing_messages", message)

    async def _send(self, path: str, message: MessageInput) -> MarketingMessageResponse:
        payload = prepare_message(message)
        body = encode_message(payload)  # names the field the API would not take
        data = await self._get_transport().request(
            "POST", path, safety=Safety.SEND, encoded=body, recipient=payload["to"]
        )
        return parse(data, MarketingMessageResponse, sent=body, key=self._key)

    # --- templates ----------------------------------------------------------------------------

    async def get_message_templates(
        self,
        *,
        limit: int | None = None,
        after: str | None = None,
        before: str | None = None,
        **filters: str,
    ) -> MessageTemplatePage:
        """One page of message templates (GET /marketing/message_templates).

        Args:
            limit: Templates per page.
            after: Cursor of the page after (from ``page.paging.cursors.after``).
            before: Cursor of the page before.
            **filters: Any of ``name``, ``status``, ``category``, ``language``, ``content``,
                ``name_or_content``, ``quality_score``.
        """
        if after is not None and before is not None:
            raise ValidationError("after", "give either 'after' or 'before', not both")
        params = template_params(limit, filters)
        if after is not None:
            params["after"] = nonempty("after", after)
        if before is not None:
            params["before"] = nonempty("before", before)
        return await self._call(
            "GET", "/marketing/message_templates", MessageTemplatePage, params=params
        )

    def iter_message_templates(
        self, *, limit: int | None = None, **filters: str
    ) -> AsyncIterator[MessageTemplate]:
        """Every template, page after page, as an async iterator.

        Example:
            >>> async def names(client: D360Client) -> list[str | None]:
            ...     return [t.name async for t in client.iter_message_templates(status="APPROVED")]
        """
        template_params(limit, filters)  # fail now, not at the first ``async for`` step

        async def fetch(after: str | None) -> MessageTemplatePage:
            return await self.get_message_templates(limit=limit, after=after, **filters)

        return iterate_pages(fetch, limit)

    async def get_message_template(self, template_id: str) -> MessageTemplate:
        """One template by id (GET /marketing/{template_id})."""
        path = f"/marketing/{path_id('template_id', template_id)}"
        return await self._call("GET", path, MessageTemplate)

    # --- template analytics -------------------------------------------------------------------

    async def get_template_analytics(
        self,
        *,
        start: datetime | date | int,
        end: datetime | date | int,
        template_ids: Sequence[str],
        metric_types: Sequence[MetricType | str] | None = None,
        granularity: str = "DAILY",
        product_type: str | None = MM_LITE_PRODUCT_TYPE,
    ) -> TemplateAnalyticsResponse:
        """Sent/delivered/read/clicked/cost per template (GET /marketing/template_analytics).

        More than 10 template ids are split into several requests (Meta's limit) and the
        results merged into one response. Meta's shape, the spec's and Graph field expansion
        are all read: ``result.data_points`` has one point per template and day, and
        ``result.by_template()`` / ``result.total()`` add them up.

        Args:
            start: Start of the range: aware ``datetime``, ``date`` (UTC) or Unix seconds.
            end: End of the range, after ``start``.
            template_ids: The templates (at least one).
            metric_types: Metrics to return (all when None).
            granularity: ``"DAILY"``, the only value Meta supports.
            product_type: ``MARKETING_MESSAGES_LITE_API`` by default, so MM Lite traffic is
                counted; None leaves it out.
        """
        params = analytics_params(start, end, metric_types, granularity, product_type)
        ids = clean_template_ids(template_ids)
        chunks = [
            ids[i : i + MAX_ANALYTICS_TEMPLATE_IDS]
            for i in range(0, len(ids), MAX_ANALYTICS_TEMPLATE_IDS)
        ]
        raws: list[Any] = []
        for chunk in chunks:
            raws.append(
                await self._get_transport().request(
                    "GET",
                    "/marketing/template_analytics",
                    safety=Safety.IDEMPOTENT,
                    params={**params, "template_ids": compact_json(chunk)},
                )
            )
        # Several responses are parsed together, whatever shape each came in.
        data = raws[0] if len(raws) == 1 else {"responses": raws}
        return parse(data, TemplateAnalyticsResponse)

    async def enable_template_analytics(self) -> EnableTemplateAnalyticsResponse:
        """Turn template analytics on for the account (one-way; safe to repeat)."""
        return await self._call(
            "POST",
            "/marketing/template_analytics",
            EnableTemplateAnalyticsResponse,
            params={"enable": "true"},
            json_body={},
        )

    # --- ads insights -------------------------------------------------------------------------

    async def get_ad_object_insights(
        self,
        ad_object_id: str,
        *,
        fields: Fields | None = None,
        date_preset: str | None = None,
        time_range: Mapping[str, Any] | Sequence[date | str] | None = None,
        level: str | None = None,
        filtering: Sequence[Mapping[str, Any]] | None = None,
        sort: str | Sequence[str] | None = None,
        breakdowns: str | Sequence[str] | None = None,
        action_breakdowns: str | Sequence[str] | None = None,
        action_attribution_windows: str | Sequence[str] | None = None,
        use_unified_attribution_setting: bool | None = None,
        limit: int | None = None,
        after: str | None = None,
    ) -> InsightsPage:
        """One page of insights of an ad account, campaign, ad set or ad.

        GET /marketing/{ad_object_id}/insights. Parameters are encoded as the Graph API
        expects: ``fields`` in field-expansion syntax, ``time_range`` and ``filtering`` as
        JSON, lists comma-separated, ``action_attribution_windows`` as a JSON array;
        ``date_preset``, ``level`` and the attribution windows are checked against Meta's values.
        """
        path = f"/marketing/{path_id('ad_object_id', ad_object_id)}/insights"
        params = insights_params(
            fields=fields,
            date_preset=date_preset,
            time_range=time_range,
            level=level,
            filtering=filtering,
            sort=sort,
            breakdowns=breakdowns,
            action_breakdowns=action_breakdowns,
            action_attribution_windows=action_attribution_windows,
            use_unified_attribution_setting=use_unified_attribution_setting,
            limit=limit,
        )
        if after is not None:
            params["after"] = nonempty("after", after)
        return await self._call("GET", path, InsightsPage, params=params)

    def iter_ad_object_insights(
        self, ad_object_id: str, *, limit: int | None = None, **options: Any
    ) -> AsyncIterator[InsightsRow]:
        """Every insights row, page after page; takes the options of ``get_ad_object_insights``.

        Example:
            >>> async def spend(client: D360Client) -> list[str | None]:
            ...     rows = client.iter_ad_object_insights("act_1", date_preset="last_7d")
            ...     return [row.spend async for row in rows]
        """
        path_id("ad_object_id", ad_object_id)
        if "after" in options:
            raise ValidationError("after", "the iterator follows the cursors itself")
        insights_params(limit=limit, **insights_options(options))  # fail now, not later

        async def fetch(after: str | None) -> InsightsPage:
            return await self.get_ad_object_insights(
                ad_object_id, limit=limit, after=after, **options
            )

        return iterate_pages(fetch, limit)

    # --- conversions --------------------------------------------------------------------------

    async def get_conversion_dataset(self, meta_node_id: str) -> ConversionDataset:
        """The conversion dataset of a business node (GET /marketing/{meta_node_id}/dataset)."""
        path = f"/marketing/{path_id('meta_node_id', meta_node_id)}/dataset"
        return await self._call("GET", path, ConversionDataset)

    async def post_conversion_dataset(
        self, meta_node_id: str, *, name: str | None = None
    ) -> ConversionDataset:
        """Create the node's conversion dataset, or get the existing one (safe to repeat)."""
        path = f"/marketing/{path_id('meta_node_id', meta_node_id)}/dataset"
        body = {} if name is None else {"name": nonempty("name", name)}
        return await self._call("POST", path, ConversionDataset, json_body=body)

    async def post_conversion_events(
        self,
        meta_node_id: str,
        events: Sequence[EventInput],
        *,
        test_event_code: str | None = None,
        partner_agent: str | None = None,
    ) -> ConversionEventsResponse:
        """Post up to 1,000 Conversions API events in one request.

        Retried like a read only when every event has an ``event_id`` (Meta de-duplicates
        by ``event_name`` + ``event_id``); otherwise like a send.

        Raises:
            ValidationError: No events, more than 1,000, or an event without ``event_name``.
        """
        path_id("meta_node_id", meta_node_id)  # a clear error for any type
        path = _events_path(meta_node_id)
        data, all_ids = prepare_events(events)
        body: dict[str, Any] = {"data": data}
        if test_event_code is not None:
            body["test_event_code"] = nonempty("test_event_code", test_event_code)
        if partner_agent is not None:
            body["partner_agent"] = nonempty("partner_agent", partner_agent)
        safety = Safety.IDEMPOTENT if all_ids else Safety.SEND
        return await self._call(
            "POST", path, ConversionEventsResponse, safety=safety, json_body=body
        )

    def send_bulk(
        self,
        messages: Iterable[MessageInput] | AsyncIterable[MessageInput],
        *,
        concurrency: Concurrency = "auto",
        journal: str | Path | CampaignJournal | None = None,
        on_progress: Callable[[BulkReport], object] | None = None,
        preflight: bool = True,
        dedupe: bool = True,
        resend_unknown: bool = False,
        resend_unknown_after: float | timedelta | None = None,
        preflight_window: int = 1000,
        progress_interval: float = 0.25,
        campaign_id: str | None = None,
    ) -> BulkRun:
        """Send a campaign of any size: streamed, concurrent, resumable, at most one send per
        recipient.

        ``messages`` is consumed lazily; iterate the returned run for one ``SendResult`` per
        message, or ``await run.run()`` for the final ``BulkReport``. Sends go through this
        client's rate limiter, cool-down and safe-send retries.

        The guarantee, with a journal: each recipient is sent at most one message per campaign,
        across interruptions, crashes and re-runs; a message is ``unknown`` only when its
        request was written and no usable answer came back (it may have been accepted, so it
        is not sent again unless ``resend_unknown=True``); every other message not accepted is
        sent by a plain re-run. Without a journal the same holds within one run.

        Args:
            messages: Any iterable or async iterable of ``MarketingMessageRequest`` or dicts.
            concurrency: Sends in flight at once: ``"auto"`` (the default) follows the rate
                limit and the measured latency (rate x latency x 1.25, within the connection
                pool; 50 without a rate limit); an int fixes it.
            journal: A SQLite file (or any ``CampaignJournal``) recording every message's
                state. Re-running the same campaign with it sends only what was not sent; a
                journal of another campaign is refused (``JournalError``) before anything is
                sent.
            on_progress: Called with a ``BulkReport`` at most every ``progress_interval``
                seconds, and once at the end.
            preflight: Before the first send, check that every template of the first
                ``preflight_window`` messages exists and is APPROVED and that their body
                parameters fit; raise ``PreflightError`` (nothing sent) if not. Templates first
                seen later are checked when first seen; their messages fail if they do not pass.
            dedupe: Send to each recipient once; repeats are ``skipped``. With a journal,
                across runs too: a recipient an earlier run messaged (or may have) at
                another position is ``skipped`` (a rejected row fixed and re-run).
            resend_unknown: Re-send messages whose outcome an earlier run left unknown.
            resend_unknown_after: Seconds (or a ``timedelta``): re-send only the unknown
                messages that no status webhook settled (``DeliveryTracker``) although their
                request was written at least that long ago. Never by default. The risk: a
                message the API accepted but whose webhooks were lost, or came later than the
                window, is sent twice; choose a window well past your webhooks' usual delay
                (Meta retries a webhook for days). Needs ``journal``; excludes
                ``resend_unknown``; refused (``JournalError``) while the journal holds no
                delivery status at all (no tracker recorded the campaign's webhooks).
            preflight_window: How many messages preflight looks at before the first send.
            progress_interval: Seconds between ``on_progress`` calls.
            campaign_id: The campaign's name; binds the journal to it (another
                ``campaign_id`` is refused). Without it, a journal is still bound to what its
                messages send: the recipient, template, language and parameters at each
                position.

        Example:
            >>> async def campaign(client: D360Client, numbers: list[str]) -> BulkReport:
            ...     promo = MessageBuilder(name="spring_sale", language="en")
            ...     messages = (promo.build(n, body=["20%"]) for n in numbers)
            ...     return await client.send_bulk(messages, journal="spring.sqlite").run()
        """
        from ._bulk import BulkRun

        return BulkRun(
            _CampaignPort(self, self._get_transport()),  # a closed client fails here
            messages,
            concurrency=concurrency,
            journal=journal,
            campaign_id=campaign_id,
            on_progress=on_progress,
            preflight=preflight,
            dedupe=dedupe,
            resend_unknown=resend_unknown,
            resend_unknown_after=resend_unknown_after,
            preflight_window=preflight_window,
            progress_interval=progress_interval,
        )

    def _post_events_payload(
        self, meta_node_id: str, body: Mapping[str, Any]
    ) -> Awaitable[ConversionEventsResponse]:
        """POST a ready events body. Internal: the caller guarantees every event has an
        ``event_id``, which makes the request safe to retry. The caller awaits the request
        (no coroutine of its own: one less frame held by each request in flight)."""
        return self._call(
            "POST",
            _events_path(meta_node_id),
            ConversionEventsResponse,
            safety=Safety.IDEMPOTENT,
            json_body=body,
        )

    def send_conversion_events(
        self,
        meta_node_id: str,
        events: Iterable[EventInput] | AsyncIterable[EventInput],
        *,
        batch_size: int = 1000,
        concurrency: Concurrency = "auto",
        test_event_code: str | None = None,
        partner_agent: str | None = None,
        hash_pii: bool = True,
        default_country_code: str | int | None = None,
        hash_external_id: bool = True,
    ) -> EventsRun:
        """Send any number of events: normalised, hashed, validated, batched, posted concurrently.

        Consumes ``events`` lazily. Iterate the returned run for one result per batch (``async
        for batch in run``), then read ``run.report``; or ``report = await run.run()``.

        Args:
            meta_node_id: The dataset (or business node) the events belong to.
            events: Any iterable or async iterable of ``ConversionEvent`` or dicts.
            batch_size: Events per request, at most 1,000.
            concurrency: Requests in flight at once: ``"auto"`` (the default) follows the
                limiter's rate for Conversions API posts and the measured latency; 4 when that
                scope has no rate limit (the default client's); an int fixes it.
            test_event_code: Route the events to Events Manager's test tab.
            partner_agent: Partner attribution string.
            hash_pii: Normalise and SHA-256 hash ``user_data`` PII (already hashed values
                pass through); a value that breaks its key's rule is left out and reported
                in ``BatchResult.dropped``.
            default_country_code: Country calling code that turns national phone numbers
                (``0151 ...``) into international ones.
            hash_external_id: Hash ``external_id`` (Meta recommends it); False sends it as is.
        """
        from ._events import EventsRun

        # Types first (EventsRun checks the events, the ranges and the strings).
        path_id("meta_node_id", meta_node_id)
        streamed("events", events)
        whole("batch_size", batch_size, minimum=1)
        check_concurrency(concurrency)
        optional_text("test_event_code", test_event_code)
        optional_text("partner_agent", partner_agent)
        flag("hash_pii", hash_pii)
        flag("hash_external_id", hash_external_id)
        if default_country_code is not None and not isinstance(default_country_code, (str, int)):
            raise ValidationError("default_country_code", "must be a calling code or None")
        return EventsRun(
            functools.partial(self._post_events_payload, meta_node_id),
            meta_node_id,
            events,
            batch_size=batch_size,
            concurrency=concurrency,
            test_event_code=test_event_code,
            partner_agent=partner_agent,
            hash_pii=hash_pii,
            default_country_code=default_country_code,
            hash_external_id=hash_external_id,
            pace=functools.partial(run_concurrency, self, scope=Scope.EVENTS),
        )


@functools.lru_cache(maxsize=64)
def _events_path(meta_node_id: str | int) -> str:
    """The Conversions API path of a node (checked; the same few nodes post again and again)."""
    return f"/marketing/{path_id('meta_node_id', meta_node_id)}/events"


class _CampaignPort:
    """The client as the bulk sender sees it (``_bulk.CampaignAPI``): one send, one lookup.

    It keeps the client's transport: a run lives in one loop, and a client closed meanwhile is
    still noticed by the transport (``ClientClosedError``), without checking the loop per send.
    """

    __slots__ = ("_client", "_transport")

    def __init__(self, client: D360Client, transport: Transport) -> None:
        self._client = client
        self._transport = transport

    def send(
        self,
        body: bytes,
        to: str,
        *,
        on_wire: Callable[[], Awaitable[None]],
        on_refused: Callable[[], Awaitable[None]],
        hold: bool = True,
    ) -> Awaitable[Any]:
        """POST one checked marketing message, its bytes as they are; ``on_wire``,
        ``on_refused`` and ``hold`` are the transport's seam."""
        return self._transport.request(
            "POST",
            "/marketing_messages",
            safety=Safety.SEND,
            encoded=body,
            recipient=to,
            on_wire=on_wire,
            on_refused=on_refused,
            hold=hold,
        )

    def concurrency(self, concurrency: Concurrency, scope: Scope) -> int | AdaptiveConcurrency:
        """A run's concurrency (see ``run_concurrency``)."""
        return run_concurrency(self._client, concurrency, scope)

    async def find_template(self, name: str, language: str) -> MessageTemplate | None:
        """The template ``name`` in ``language`` (listing filtered by both), or None."""
        async for template in self._client.iter_message_templates(name=name, language=language):
            if template.name == name and template.language == language:
                return template
        return None
