"""``WebhookReceiver``: answers webhook deliveries and hands them to your code.

One policy for every framework (``receive`` is framework-neutral; ``handle`` and ``app`` wrap it
for aiohttp):

- A body that is not a webhook gets 400, a missing signature 401, a wrong one 403 (when an
  app secret is set). Never a 500.
- A webhook is acknowledged (200) only once your code has handled it: ``on_webhook`` returned,
  or the consumer of ``async for webhook in receiver`` came back for the next one. If your code
  raises, the answer is 500; if it takes longer than ``timeout``, or nobody consumes, or the
  receiver is closed, 503. The sender then delivers the webhook again later (Meta retries with
  backoff for up to 7 days), so a webhook is never lost because your code failed; the cost is
  that some webhooks arrive twice, which they may anyway.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Final

import attrs
import orjson

from ._errors import D360Error, ValidationError, WebhookError, WebhookSignatureError
from ._models_webhooks import Webhook
from ._webhook_parse import Headers, parse_webhook

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["DEFAULT_HANDLER_TIMEOUT", "WebhookAnswer", "WebhookReceiver"]

logger = logging.getLogger("d360_async.webhooks")

#: Seconds a delivery may wait for your code before the receiver answers 503.
DEFAULT_HANDLER_TIMEOUT: Final = 10.0
#: Largest webhook body the aiohttp app accepts (Meta batches up to 1,000 changes).
DEFAULT_MAX_BODY: Final = 8 * 1024 * 1024

OnWebhook = Callable[[Webhook], Awaitable[object]]


@attrs.frozen(kw_only=True)
class WebhookAnswer:
    """The HTTP answer to give the sender of a delivery.

    Example:
        >>> WebhookAnswer(status=200, body=b'{"status":"ok"}').ok
        True
    """

    status: int
    body: bytes
    content_type: str = "application/json"

    @property
    def ok(self) -> bool:
        """Whether the delivery was accepted (2xx)."""
        return 200 <= self.status < 300


def _answer(status: int, key: str, text: str) -> WebhookAnswer:
    return WebhookAnswer(status=status, body=orjson.dumps({key: text}))


class _Unavailable(Exception):
    """Nobody took the delivery (receiver closed, or its consumer stopped)."""


@attrs.define
class _Delivery:
    webhook: Webhook
    handled: asyncio.Future[None]

    def settle(self, error: BaseException | None = None) -> None:
        if self.handled.done():
            return
        if error is None:
            self.handled.set_result(None)
        else:
            self.handled.set_exception(error)


class WebhookReceiver:
    """Receives webhook deliveries and hands each one, parsed, to your code.

    Give it an ``on_webhook`` coroutine function, or iterate it (``async for webhook in
    receiver``). Each delivery is one ``Webhook`` (one HTTP request, possibly carrying many
    statuses: see ``Webhook.statuses``). Deliveries are at least once and unordered: the same
    status may arrive twice, ``read`` before (or without) ``delivered``; make your handling
    idempotent (keep the most advanced status per message id).

    Args:
        on_webhook: ``async def on_webhook(webhook: Webhook) -> None``; when None, iterate the
            receiver instead.
        app_secret: Your Meta app secret: when set, deliveries must carry a valid
            ``X-Hub-Signature-256``.
        timeout: Seconds a delivery may wait for your code before the answer is 503.

    Raises:
        ValidationError: ``app_secret`` empty or ``timeout`` not positive.

    Example:
        >>> async def on_webhook(webhook: Webhook) -> None:
        ...     for status in webhook.statuses:
        ...         print(status.id, status.status)
        >>> receiver = WebhookReceiver(on_webhook)
        >>> app = receiver.app()  # an aiohttp application: run it, or add it as a sub-app
    """

    def __init__(
        self,
        on_webhook: OnWebhook | None = None,
        *,
        app_secret: str | None = None,
        timeout: float = DEFAULT_HANDLER_TIMEOUT,
    ) -> None:
        if app_secret is not None and (not isinstance(app_secret, str) or not app_secret):
            raise ValidationError("app_secret", "must be a non-empty string or None")
        if not (isinstance(timeout, int | float) and timeout > 0):
            raise ValidationError("timeout", "must be a positive number of seconds")
        if on_webhook is not None and not callable(on_webhook):
            raise ValidationError("on_webhook", "must be an async function or None")
        self._on_webhook = on_webhook
        self._app_secret = app_secret
        self._timeout = float(timeout)
        self._queue: asyncio.Queue[_Delivery | None] = asyncio.Queue()
        self._closed = False
        self._accepted = 0
        self._rejected = 0
        self._failed = 0

    def __repr__(self) -> str:
        mode = "callback" if self._on_webhook is not None else "iterator"
        signed = self._app_secret is not None
        return (
            f"WebhookReceiver({mode}, signed={signed}, accepted={self._accepted}, "
            f"rejected={self._rejected}, failed={self._failed})"
        )

    # -- counters ------------------------------------------------------------------------

    @property
    def accepted(self) -> int:
        """Deliveries handled and answered 200."""
        return self._accepted

    @property
    def rejected(self) -> int:
        """Deliveries answered 4xx: not a webhook, or a bad signature."""
        return self._rejected

    @property
    def failed(self) -> int:
        """Well-formed deliveries answered 5xx (your code raised or was too slow): the sender
        delivers them again."""
        return self._failed

    # -- the policy ----------------------------------------------------------------------

    async def receive(self, body: bytes, headers: Headers) -> WebhookAnswer:
        """Handle one delivery and say what to answer; works with any web framework.

        Args:
            body: The raw request body.
            headers: The request headers: any mapping, or (name, value) pairs.

        Returns:
            The answer to send: 200 once your code has handled the webhook; 400 for a body
            that is not a webhook, 401/403 for a missing/wrong signature; 500 when your code
            raised, 503 when it was too slow or nobody consumes (the sender retries both).
        """
        try:
            webhook = parse_webhook(body, headers, app_secret=self._app_secret)
        except WebhookSignatureError as exc:
            self._rejected += 1
            logger.warning("webhook rejected: %s", exc)
            return _answer(401 if exc.missing else 403, "error", str(exc))
        except (WebhookError, ValidationError) as exc:
            self._rejected += 1
            logger.warning("webhook rejected: %s", exc)
            return _answer(400, "error", str(exc))
        try:
            async with asyncio.timeout(self._timeout):
                await self._hand_over(webhook)
        except (TimeoutError, _Unavailable) as exc:
            self._failed += 1
            why = "receiver closed or no consumer" if isinstance(exc, _Unavailable) else "too slow"
            logger.error("webhook not handled (%s); answered 503 so that the sender retries", why)
            return _answer(503, "error", "webhook not handled, deliver it again later")
        except Exception as exc:
            self._failed += 1
            # One of ours (a journal or Redis away, a bad argument) says what it is in one
            # line, webhook after webhook; anything else gets its traceback, for the developer.
            known = isinstance(exc, D360Error)
            logger.error(
                "webhook handler raised %s%s; answered 500 so that the sender retries",
                type(exc).__name__,
                f": {exc}" if known else "",
                exc_info=None if known else exc,
            )
            return _answer(500, "error", "webhook handler failed, deliver it again later")
        self._accepted += 1
        return _answer(200, "status", "ok")

    async def _hand_over(self, webhook: Webhook) -> None:
        if self._closed:
            raise _Unavailable
        if self._on_webhook is not None:
            result = self._on_webhook(webhook)
            if not inspect.isawaitable(result):
                raise ValidationError("on_webhook", "must be an async function")
            await result
            return
        delivery = _Delivery(webhook, asyncio.get_running_loop().create_future())
        self._queue.put_nowait(delivery)
        await delivery.handled  # cancelled by the timeout: the consumer then skips it

    # -- the async iterator ----------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Webhook]:
        if self._on_webhook is not None:
            raise ValidationError("on_webhook", "this receiver calls on_webhook; not iterable")
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Webhook]:
        while True:
            delivery = await self._queue.get()
            if delivery is None:  # closed: let the other consumers see it too
                self._queue.put_nowait(None)
                return
            if delivery.handled.done():  # answered 503 already; the sender retries it
                continue
            try:
                yield delivery.webhook
            except BaseException:  # closed or thrown into while the consumer held it
                delivery.settle(_Unavailable())
                raise
            delivery.settle()

    def close(self) -> None:
        """Stop taking deliveries (503 from now on) and end every ``async for`` over it.

        Deliveries waiting for a consumer are answered 503, so the sender retries them.
        """
        if self._closed:
            return
        self._closed = True
        while not self._queue.empty():
            waiting = self._queue.get_nowait()
            if waiting is not None:
                waiting.settle(_Unavailable())
        self._queue.put_nowait(None)

    # -- aiohttp -----------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        """An ``aiohttp.web`` handler: ``app.router.add_post("/webhooks", receiver.handle)``."""
        from aiohttp import web

        answer = await self.receive(await request.read(), request.headers)
        return web.Response(
            status=answer.status, body=answer.body, content_type=answer.content_type
        )

    def app(self, *, path: str = "/", max_body: int = DEFAULT_MAX_BODY) -> web.Application:
        """An ``aiohttp.web`` application that answers ``POST path`` with this receiver.

        Run it as it is, or mount it with ``main_app.add_subapp("/webhooks/", receiver.app())``
        (a sub-app's body limit is the main app's ``client_max_size``). Shutting the
        application down closes the receiver.

        Args:
            path: The route inside the application.
            max_body: Largest body accepted (larger ones get 413).
        """
        from aiohttp import web

        async def on_shutdown(_: web.Application) -> None:
            self.close()

        app = web.Application(client_max_size=max_body)
        app.router.add_post(path, self.handle)
        app.on_shutdown.append(on_shutdown)
        return app
