"""WebhookReceiver: 200 once handled, 4xx for bad bodies, 5xx (so that the sender retries) when
the user's code fails; callback and async-iterator modes; the aiohttp app and sub-app."""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import aclosing
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from d360_async import JournalUnavailableError, ValidationError
from d360_async.webhooks import Webhook, WebhookAnswer, WebhookReceiver

from . import samples
from .conftest import serving
from .samples import PHONE

BODY = samples.statuses_body(samples.SENT, samples.DELIVERED)


class Collector:
    """An ``on_webhook`` that records deliveries and raises for the first ``failures`` ones."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls = 0
        self.webhooks: list[Webhook] = []

    async def __call__(self, webhook: Webhook) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError("database is down")
        self.webhooks.append(webhook)


def answer_json(answer: WebhookAnswer) -> Any:
    return json.loads(answer.body)


# --- the policy, framework-neutral ----------------------------------------------------------


async def test_a_handled_delivery_is_answered_200_after_the_callback_ran() -> None:
    collector = Collector()
    receiver = WebhookReceiver(collector)

    answer = await receiver.receive(BODY, {})

    assert (answer.status, answer_json(answer), answer.content_type) == (
        200,
        {"status": "ok"},
        "application/json",
    )
    (webhook,) = collector.webhooks
    assert [s.status for s in webhook.statuses] == ["sent", "delivered"]
    assert (receiver.accepted, receiver.rejected, receiver.failed) == (1, 0, 0)


@pytest.mark.parametrize(
    "body", [b"", b"nope", b"[]", b'{"object": "page", "entry": []}', b'{"object": null}']
)
async def test_a_malformed_body_is_a_400_and_never_reaches_the_callback(body: bytes) -> None:
    collector = Collector()
    receiver = WebhookReceiver(collector)

    answer = await receiver.receive(body, {})

    assert answer.status == 400
    assert answer_json(answer)["error"]
    assert collector.calls == 0
    assert (receiver.accepted, receiver.rejected, receiver.failed) == (0, 1, 0)


async def test_an_error_code_outside_64_bits_is_a_400_and_never_reaches_the_callback() -> None:
    """User review F6: such a code is not Meta's; refused before any journal sees it."""
    collector = Collector()
    receiver = WebhookReceiver(collector)
    failed = {**samples.FAILED, "errors": [{"code": 2**63, "title": "x"}]}
    answer = await receiver.receive(
        json.dumps(samples.envelope(samples.messages_change(statuses=[failed]))).encode(), {}
    )
    assert answer.status == 400
    assert "errors[0].code" in answer_json(answer)["error"]
    assert collector.calls == 0


async def test_a_callback_that_raises_gets_500_and_the_redelivery_is_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    collector = Collector(failures=2)
    receiver = WebhookReceiver(collector)

    with caplog.at_level(logging.DEBUG, logger="d360_async"):
        first = await receiver.receive(BODY, {})
        second = await receiver.receive(BODY, {})  # the sender retries...
        third = await receiver.receive(BODY, {})

    assert [first.status, second.status, third.status] == [500, 500, 200]
    assert len(collector.webhooks) == 1  # ...and nothing is lost
    assert (receiver.accepted, receiver.failed) == (1, 2)
    failures = [r for r in caplog.records if "answered 500" in r.getMessage()]
    assert len(failures) == 2
    assert "RuntimeError" in failures[0].getMessage()
    assert failures[0].exc_info is not None  # the traceback, for the developer
    assert PHONE not in caplog.text


async def test_an_sdk_error_of_the_callback_is_one_line_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A journal away (Redis down) fails every webhook until it is back: one line each, what
    it is, no traceback flooding the log; the sender retries as for any failure."""

    async def away(webhook: Webhook) -> None:
        raise JournalUnavailableError("the campaign store at redis://127.0.0.1:1 is unreachable")

    receiver = WebhookReceiver(away)
    with caplog.at_level(logging.ERROR, logger="d360_async"):
        answers = [await receiver.receive(BODY, {}) for _ in range(3)]
    assert [answer.status for answer in answers] == [500, 500, 500]
    assert [r.getMessage() for r in caplog.records] == [
        "webhook handler raised JournalUnavailableError: the campaign store at "
        "redis://127.0.0.1:1 is unreachable; answered 500 so that the sender retries"
    ] * 3
    assert all(r.exc_info is None for r in caplog.records)


@pytest.mark.looptime
async def test_a_callback_slower_than_the_timeout_gets_503() -> None:
    never = asyncio.Event()

    async def stuck(webhook: Webhook) -> None:
        await never.wait()

    receiver = WebhookReceiver(stuck, timeout=5)
    loop = asyncio.get_running_loop()
    start = loop.time()

    answer = await receiver.receive(BODY, {})

    assert answer.status == 503
    assert loop.time() - start == pytest.approx(5)
    assert receiver.failed == 1


async def test_a_callback_that_is_not_async_gets_500_with_a_clear_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def not_async(webhook: Webhook) -> None:
        return None

    receiver = WebhookReceiver(not_async)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger="d360_async"):
        answer = await receiver.receive(BODY, {})
    assert answer.status == 500
    assert "ValidationError" in caplog.text and "must be an async function" in caplog.text


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"app_secret": ""}, "app_secret"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1.0}, "timeout"),
        ({"on_webhook": "print"}, "on_webhook"),
    ],
)
def test_bad_settings_are_validation_errors(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        WebhookReceiver(**kwargs)
    assert info.value.field == field


# --- the async iterator ------------------------------------------------------------------------


async def test_iterator_acknowledges_a_delivery_once_the_consumer_asks_for_the_next() -> None:
    receiver = WebhookReceiver()
    seen: list[Webhook] = []
    handled = asyncio.Event()
    took_one = asyncio.Event()

    async def consumer() -> None:
        async for webhook in receiver:
            seen.append(webhook)
            took_one.set()
            await handled.wait()  # the consumer's own work, e.g. a database write

    consuming = asyncio.create_task(consumer())
    delivery = asyncio.create_task(receiver.receive(BODY, {}))
    await took_one.wait()
    for _ in range(5):
        await asyncio.sleep(0)
    assert not delivery.done()  # not acknowledged while the consumer works on it

    handled.set()
    answer = await delivery

    assert answer.status == 200
    assert [s.id for s in seen[0].statuses] == [samples.SENT["id"]] * 2
    receiver.close()
    await consuming  # close() ends the iteration


async def test_a_consumer_that_stops_holding_a_delivery_answers_it_503_and_it_is_kept() -> None:
    receiver = WebhookReceiver()

    async def crashing_consumer() -> None:
        async with aclosing(aiter(receiver)) as webhooks:
            async for _ in webhooks:
                raise RuntimeError("bug in the consumer")

    consuming = asyncio.create_task(crashing_consumer())
    first = await receiver.receive(BODY, {})
    with pytest.raises(RuntimeError):
        await consuming
    assert first.status == 503
    assert receiver.failed == 1

    seen: list[Webhook] = []

    async def fixed_consumer() -> None:
        async for webhook in receiver:
            seen.append(webhook)

    consuming = asyncio.create_task(fixed_consumer())
    redelivery = await receiver.receive(BODY, {})
    assert redelivery.status == 200
    assert len(seen) == 1
    receiver.close()
    await consuming


@pytest.mark.looptime
async def test_nobody_consuming_means_503_after_the_timeout_and_no_leftovers() -> None:
    receiver = WebhookReceiver(timeout=3)

    answer = await receiver.receive(BODY, {})
    assert answer.status == 503

    seen: list[Webhook] = []

    async def consumer() -> None:
        async for webhook in receiver:
            seen.append(webhook)

    consuming = asyncio.create_task(consumer())
    assert (await receiver.receive(BODY, {})).status == 200
    assert len(seen) == 1  # the abandoned delivery was skipped, not handed out late
    receiver.close()
    await consuming


async def test_close_answers_waiting_deliveries_503_and_ends_every_iteration() -> None:
    receiver = WebhookReceiver()
    waiting = asyncio.create_task(receiver.receive(BODY, {}))
    await asyncio.sleep(0)

    receiver.close()

    assert (await waiting).status == 503
    assert [w async for w in receiver] == []
    assert (await receiver.receive(BODY, {})).status == 503
    receiver.close()  # idempotent


def test_a_callback_receiver_is_not_iterable() -> None:
    with pytest.raises(ValidationError):
        aiter(WebhookReceiver(Collector()))


def test_repr_shows_mode_and_counts_not_the_secret() -> None:
    text = repr(WebhookReceiver(app_secret="s3cr3t-app-secret"))
    assert "iterator" in text and "signed=True" in text and "s3cr3t" not in text


# --- aiohttp -------------------------------------------------------------------------------------


async def test_the_aiohttp_app_answers_over_loopback(http: aiohttp.ClientSession) -> None:
    collector = Collector()
    receiver = WebhookReceiver(collector)
    async with serving(receiver.app(path="/webhooks")) as url:
        async with http.post(f"{url}/webhooks", data=BODY) as response:
            assert (response.status, await response.json()) == (200, {"status": "ok"})
        async with http.post(f"{url}/webhooks", data=b"{") as response:
            assert response.status == 400
            assert (await response.json())["error"] == "body: not valid JSON"
        async with http.get(f"{url}/webhooks") as response:
            assert response.status == 405
    assert len(collector.webhooks) == 1
    assert (await receiver.receive(BODY, {})).status == 503  # shutting the app down closed it


async def test_the_app_mounts_as_a_sub_app_next_to_other_routes(
    http: aiohttp.ClientSession,
) -> None:
    collector = Collector(failures=1)
    receiver = WebhookReceiver(collector)
    main = web.Application()

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    main.router.add_get("/health", health)
    main.add_subapp("/whatsapp/", receiver.app())
    async with serving(main) as url:
        async with http.get(f"{url}/health") as response:
            assert response.status == 200
        statuses = []
        for _ in range(2):
            async with http.post(f"{url}/whatsapp/", data=BODY) as response:
                statuses.append(response.status)
    assert statuses == [500, 200]
    assert len(collector.webhooks) == 1


async def test_a_handler_on_any_route_of_your_own_app(http: aiohttp.ClientSession) -> None:
    seen: list[Webhook] = []

    async def on_webhook(webhook: Webhook) -> None:
        seen.append(webhook)

    receiver = WebhookReceiver(on_webhook)
    app = web.Application()
    app.router.add_post("/hooks/360dialog", receiver.handle)
    async with serving(app) as url, http.post(f"{url}/hooks/360dialog", data=BODY) as response:
        assert response.status == 200
    assert len(seen) == 1


async def test_an_iterating_consumer_behind_the_aiohttp_app(http: aiohttp.ClientSession) -> None:
    receiver = WebhookReceiver()
    seen: list[str] = []

    async def consumer() -> None:
        async for webhook in receiver:
            seen.extend(s.id for s in webhook.statuses)

    async with serving(receiver.app()) as url:
        consuming = asyncio.create_task(consumer())
        async with http.post(url + "/", data=BODY) as response:
            assert response.status == 200
    await consuming  # the app's shutdown closed the receiver, which ended the iteration
    assert seen == [samples.SENT["id"]] * 2
