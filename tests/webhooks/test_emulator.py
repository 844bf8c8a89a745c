"""The emulator sends status webhooks: configured like 360dialog, seeded plans, duplicates and
reordering, Meta-like retries, signatures; what it generated equals what a receiver gets."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from d360_async import APIConnectionError, D360Client, MessageBuilder, RetryPolicy
from d360_async.testing import Emulator, WebhookSettings
from d360_async.testing._cli import build_parser, emulator_from_args, main
from d360_async.testing._webhook_plan import plan_statuses
from d360_async.webhooks import (
    SIGNATURE_HEADER,
    StatusUpdate,
    Webhook,
    WebhookReceiver,
    parse_webhook,
)

from .conftest import serving

WELCOME = MessageBuilder(name="welcome_offer", language="en_US")
RANK = {"sent": 0, "delivered": 1, "read": 2, "failed": 3}


def number(i: int) -> str:
    return f"49152{i:08d}"


def messages(n: int, start: int = 0) -> Iterable[Any]:
    return (WELCOME.build(number(i), body=[f"friend {i}"]) for i in range(start, start + n))


class Inbox:
    """An ``on_webhook`` collecting statuses; raises for deliveries listed in ``fail``."""

    def __init__(self, fail: Iterable[int] = ()) -> None:
        self.fail = set(fail)
        self.deliveries = 0
        self.statuses: list[StatusUpdate] = []

    async def __call__(self, webhook: Webhook) -> None:
        self.deliveries += 1
        if self.deliveries in self.fail:
            raise RuntimeError("receiver's database is down")
        self.statuses.extend(webhook.statuses)

    def final(self) -> dict[str, str]:
        """The most advanced status per message id (failed wins), as tracking would keep it."""
        best: dict[str, str] = {}
        for status in self.statuses:
            if RANK[str(status.status)] >= RANK[best.get(status.id, "sent")]:
                best[status.id] = str(status.status)
        return best

    def unique(self) -> Counter[str]:
        return Counter(str(s.status) for s in {(s.id, s.status): s for s in self.statuses}.values())


@asynccontextmanager
async def receiver_at(
    inbox: Inbox, *, app_secret: str | None = None
) -> AsyncIterator[tuple[WebhookReceiver, str]]:
    receiver = WebhookReceiver(inbox, app_secret=app_secret)
    async with serving(receiver.app(path="/webhooks")) as url:
        yield receiver, f"{url}/webhooks"


@asynccontextmanager
async def campaign_client(emu: Emulator) -> AsyncIterator[D360Client]:
    async with D360Client(
        emu.api_key, base_url=emu.url, rate_limit=None, retry=RetryPolicy(wait=False)
    ) as client:
        yield client


async def send(emu: Emulator, n: int, start: int = 0) -> None:
    async with campaign_client(emu) as client:
        report = await client.send_bulk(messages(n, start), concurrency=20).run()
    assert report.sent == n


async def drained(emu: Emulator, seconds: float = 60) -> None:
    async with asyncio.timeout(seconds):
        await emu.webhooks.drain()


async def campaign(
    inbox: Inbox,
    n: int,
    *,
    seed: int,
    settings: WebhookSettings | None = None,
    app_secret: str | None = None,
) -> tuple[WebhookReceiver, Emulator]:
    """Send ``n`` messages through an emulator delivering webhooks to ``inbox``; wait for all."""
    async with (
        receiver_at(inbox, app_secret=app_secret) as (receiver, url),
        Emulator(rate=None, seed=seed, webhook_url=url, webhooks=settings) as emu,
    ):
        await send(emu, n)
        await drained(emu)
    return receiver, emu


# --- configuration, as 360dialog's endpoints do it ----------------------------------------------


@pytest.mark.parametrize("path", ["/v1/configs/webhook", "/waba_webhook"])
async def test_the_webhook_url_is_configured_like_360dialog(
    http: aiohttp.ClientSession, path: str
) -> None:
    async with Emulator(rate=None, seed=1) as emu:
        key = {"D360-API-KEY": emu.api_key}
        config = {"url": "http://127.0.0.1:9/hook", "headers": {"Authorization": "Basic dDpw"}}
        async with http.post(emu.url + path, json=config) as response:
            assert response.status == 401
        async with http.post(emu.url + path, json={"url": "ftp://x/"}, headers=key) as response:
            body = await response.json()
            assert response.status == 400 and body["meta"]["http_code"] == 400
        async with http.post(emu.url + path, json={"headers": {}}, headers=key) as response:
            assert response.status == 400
        async with http.get(emu.url + path, headers=key) as response:
            assert await response.json() == {"url": None, "headers": {}}
        async with http.post(emu.url + path, json=config, headers=key) as response:
            assert (response.status, await response.json()) == (200, config)
        async with http.post(emu.url + path, headers=key) as response:  # no body: read it
            assert await response.json() == config
        assert (emu.webhooks.url, emu.webhooks.headers) == (config["url"], config["headers"])
        assert emu.snapshot()["webhooks"]["url"] == config["url"]


def test_bad_webhook_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="at most 1"):
        WebhookSettings(delivered=0.6, read=0.6)
    with pytest.raises(ValueError, match="failed_codes"):
        WebhookSettings(failed_codes=(1,))
    with pytest.raises(ValueError, match="batch_size"):
        WebhookSettings(batch_size=0)
    with pytest.raises(ValueError, match="duplicates"):
        WebhookSettings(duplicates=1.5)
    with pytest.raises(ValueError, match="http"):
        Emulator(webhook_url="not a url")


# --- the plan: seeded, and the ratios hold -------------------------------------------------------


def test_plans_follow_the_ratios_and_depend_only_on_seed_and_recipient() -> None:
    settings = WebhookSettings(delivered=0.3, read=0.5, failed=0.1, read_without_delivered=0.5)
    plans = [
        plan_statuses(settings, seed=7, wa_id=number(i), nth=0, accepted_at=1767312000.0)
        for i in range(4000)
    ]
    last = Counter(max((p for p in plan), key=lambda p: p.step).status for plan in plans)
    assert 0.08 < last["failed"] / 4000 < 0.12
    assert 0.47 < last["read"] / 4000 < 0.53
    assert 0.27 < last["delivered"] / 4000 < 0.33
    assert 0.08 < last["sent"] / 4000 < 0.12
    read_plans = [[p.status for p in plan] for plan in plans if plan[-1].status == "read"]
    skipped = sum("delivered" not in statuses for statuses in read_plans)
    assert 0.45 < skipped / len(read_plans) < 0.55
    assert all(plan[0].status == "sent" for plan in plans)  # no reordering asked
    again = plan_statuses(settings, seed=7, wa_id=number(3), nth=0, accepted_at=1767312000.0)
    assert again == plans[3]
    others = [
        plan_statuses(settings, seed=8, wa_id=number(i), nth=0, accepted_at=0) for i in range(50)
    ]
    assert [[p.status for p in a] for a in others] != [[p.status for p in a] for a in plans[:50]]


def test_a_plan_has_timestamps_in_life_order_and_reorders_delivery_on_request() -> None:
    settings = WebhookSettings(delivered=0, read=1, failed=0, reorder=1, delay_ms=1500)
    plan = plan_statuses(settings, seed=1, wa_id="491511", nth=0, accepted_at=1767312000.0)
    assert [(p.status, p.timestamp, p.step) for p in plan] == [
        ("read", 1767312004, 2),
        ("delivered", 1767312003, 1),
        ("sent", 1767312001, 0),
    ]
    assert [p.offset for p in plan] == [1.5, 3.0, 4.5]


# --- end to end --------------------------------------------------------------------------------


async def test_nothing_is_sent_before_a_url_is_configured() -> None:
    inbox = Inbox()
    async with receiver_at(inbox) as (_, url), Emulator(rate=None, seed=2) as emu:
        await send(emu, 5)
        emu.webhooks.configure(url)
        await send(emu, 5, start=5)
        await drained(emu)
    assert {s.recipient_id for s in inbox.statuses} == {number(i) for i in range(5, 10)}
    assert len(emu.webhooks.final_statuses()) == 5


async def test_every_generated_status_arrives_with_duplicates_and_reordering() -> None:
    inbox = Inbox()
    settings = WebhookSettings(duplicates=0.3, reorder=0.5, read_without_delivered=0.2)
    receiver, emu = await campaign(inbox, 300, seed=3, settings=settings)
    sender = emu.webhooks
    assert inbox.final() == sender.final_statuses()
    assert inbox.unique() == sender.counts()
    assert len(inbox.statuses) == len(sender.generated) + sender.duplicates == sender.delivered
    assert sender.duplicates > 0
    pairs = Counter((s.id, s.status) for s in inbox.statuses)
    assert sum(n - 1 for n in pairs.values()) == sender.duplicates
    arrival: dict[str, list[str]] = {}
    for status in inbox.statuses:
        arrival.setdefault(status.id, []).append(str(status.status))
    assert any(order[0] != "sent" for order in arrival.values())  # reordered
    assert any("read" in o and "delivered" not in o for o in arrival.values())
    assert receiver.accepted == sender.attempts == sender.responses["200"]
    assert sender.pending == 0 and sender.given_up == 0


async def test_failures_carry_meta_errors_and_the_payload_fields() -> None:
    inbox = Inbox()
    settings = WebhookSettings(delivered=0, read=0, failed=1, failed_codes=(131050,))
    _, emu = await campaign(inbox, 3, seed=4, settings=settings)
    failed = [s for s in inbox.statuses if s.status == "failed"]
    assert len(failed) == 3
    assert {s.error_code for s in failed} == {131050}
    assert failed[0].errors[0].title == "User has stopped receiving marketing messages"
    assert failed[0].errors[0].details
    sent = next(s for s in inbox.statuses if s.status == "sent")
    assert sent.pricing is not None and sent.pricing.category == "marketing_lite"
    assert sent.raw["timestamp"].isdigit()
    generated = emu.webhooks.generated
    assert {(g.wamid, g.status, g.error_code) for g in generated if g.status == "failed"} == {
        (s.id, "failed", 131050) for s in failed
    }


async def test_a_failing_receiver_is_retried_with_backoff_until_it_accepts() -> None:
    inbox = Inbox(fail={1, 2, 3})
    settings = WebhookSettings(batch_size=50, batch_window_ms=50, retry_base_ms=10)
    receiver, emu = await campaign(inbox, 20, seed=5, settings=settings)
    assert receiver.failed == 3
    assert emu.webhooks.responses["500"] == 3
    assert inbox.final() == emu.webhooks.final_statuses()  # nothing lost
    assert emu.webhooks.given_up == 0


async def test_a_receiver_that_times_out_is_retried() -> None:
    calls: list[bytes] = []
    release = asyncio.Event()

    async def slow_then_fine(request: web.Request) -> web.Response:
        calls.append(await request.read())
        if len(calls) == 1:
            await release.wait()  # never answers the first attempt in time
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/", slow_then_fine)
    settings = WebhookSettings(delivered=0, read=0, failed=0, timeout=0.2, retry_base_ms=10)
    async with (
        serving(app) as url,
        Emulator(rate=None, seed=6, webhook_url=url + "/", webhooks=settings) as emu,
    ):
        await send(emu, 1)
        await drained(emu)
        release.set()
    assert emu.webhooks.responses == Counter({"timeout": 1, "200": 1})
    assert calls[0] == calls[1]  # the same delivery, again
    assert emu.webhooks.delivered == 1


async def test_retries_are_bounded_and_what_is_given_up_is_counted() -> None:
    settings = WebhookSettings(max_attempts=3, retry_base_ms=5, delivered=0, read=0, failed=0)
    async with Emulator(
        rate=None, seed=7, webhook_url="http://127.0.0.1:9/nobody", webhooks=settings
    ) as emu:
        await send(emu, 2)
        await drained(emu)
    assert emu.webhooks.responses == Counter({"connection_error": 6})
    assert (emu.webhooks.given_up, emu.webhooks.delivered, emu.webhooks.pending) == (2, 0, 0)
    assert emu.snapshot()["webhooks"]["given_up"] == 2


async def test_deliveries_are_signed_and_carry_the_configured_headers() -> None:
    seen_headers: list[dict[str, str]] = []

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        seen_headers.append(dict(request.headers))
        response: web.StreamResponse = await handler(request)
        return response

    inbox = Inbox()
    receiver = WebhookReceiver(inbox, app_secret="meta-app-secret")
    app = web.Application(middlewares=[record])
    app.router.add_post("/hook", receiver.handle)
    settings = WebhookSettings(app_secret="meta-app-secret", delivered=1, read=0, failed=0)
    async with serving(app) as url, Emulator(rate=None, seed=8, webhooks=settings) as emu:
        emu.webhooks.configure(url + "/hook", {"Authorization": "Bearer t0ken"})
        await send(emu, 2)
        await drained(emu)
    assert receiver.rejected == 0 and len(inbox.statuses) == 4
    assert all(h[SIGNATURE_HEADER].startswith("sha256=") for h in seen_headers)
    assert all(h["Authorization"] == "Bearer t0ken" for h in seen_headers)


async def test_a_receiver_with_another_secret_refuses_them_all() -> None:
    inbox = Inbox()
    settings = WebhookSettings(app_secret="right", max_attempts=2, retry_base_ms=5)
    _, emu = await campaign(inbox, 1, seed=9, settings=settings, app_secret="wrong")
    assert inbox.statuses == []
    assert set(emu.webhooks.responses) == {"403"}
    assert emu.webhooks.given_up == len(emu.webhooks.generated)


async def test_an_accepted_send_whose_answer_was_lost_still_gets_its_statuses() -> None:
    """The evidence that settles an ``unknown`` outcome later (issue #15, item 4)."""
    inbox = Inbox()
    async with (
        receiver_at(inbox) as (_, url),
        Emulator(rate=None, seed=10, webhook_url=url, faults=["drop_after"]) as emu,
    ):
        async with campaign_client(emu) as client:
            with pytest.raises(APIConnectionError) as info:
                await client.send_marketing_message(next(iter(messages(1))))
        assert info.value.maybe_sent
        await drained(emu)
    (accepted,) = emu.sent_messages
    assert {s.id for s in inbox.statuses} == {accepted.wamid}
    assert "sent" in {s.status for s in inbox.statuses}


async def test_the_opaque_callback_data_of_a_send_is_echoed(http: aiohttp.ClientSession) -> None:
    inbox = Inbox()
    body = {
        "messaging_product": "whatsapp",
        "to": number(1),
        "type": "template",
        "template": {
            "name": "welcome_offer",
            "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ada"}]}],
        },
        "biz_opaque_callback_data": "campaign-42",
    }
    async with receiver_at(inbox) as (_, url), Emulator(rate=None, seed=11, webhook_url=url) as emu:
        async with http.post(
            emu.url + "/marketing_messages", json=body, headers={"D360-API-KEY": emu.api_key}
        ) as response:
            assert response.status == 200
        await drained(emu)
    assert {s.biz_opaque_callback_data for s in inbox.statuses} == {"campaign-42"}


async def test_reset_forgets_webhook_records_but_keeps_the_url() -> None:
    inbox = Inbox()
    async with receiver_at(inbox) as (_, url), Emulator(rate=None, seed=12, webhook_url=url) as emu:
        await send(emu, 3)
        await drained(emu)
        emu.reset()
        assert (emu.webhooks.generated, emu.webhooks.delivered, emu.webhooks.url) == ([], 0, url)
        assert emu.snapshot()["webhooks"]["generated"] == {}


@examples(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    answers=st.lists(st.sampled_from([200, 200, 204, 400, 500, 503]), min_size=1, max_size=10),
    duplicates=st.sampled_from([0.0, 0.5]),
    batch_size=st.integers(1, 4),
)
async def test_whatever_the_receiver_answers_every_status_is_delivered_or_given_up(
    answers: list[int], duplicates: float, batch_size: int
) -> None:
    script = iter(answers)
    acknowledged: list[str] = []
    answered: list[int] = []

    async def scripted(request: web.Request) -> web.Response:
        body = await request.read()
        status = next(script, 200)  # then 200 for ever
        answered.append(status)
        if status < 300:
            acknowledged.extend(s.id for s in parse_webhook(body, {}).statuses)
        return web.Response(status=status)

    app = web.Application()
    app.router.add_post("/", scripted)
    webhooks = WebhookSettings(
        duplicates=duplicates, batch_size=batch_size, max_attempts=3, retry_base_ms=1
    )
    async with serving(app) as url, Emulator(rate=None, seed=14, webhooks=webhooks) as emu:
        emu.webhooks.configure(url + "/")
        await send(emu, 4)
        await drained(emu)
    sender = emu.webhooks
    copies = len(sender.generated) + sender.duplicates
    assert sender.delivered + sender.given_up == copies
    assert sender.delivered == len(acknowledged)
    assert sender.pending == 0
    assert sender.responses == Counter(str(status) for status in answered)
    assert sender.attempts == len(answered)


async def test_a_reset_in_the_middle_of_deliveries_leaves_no_stale_counts() -> None:
    arrived = asyncio.Event()
    release = asyncio.Event()
    bodies: list[bytes] = []

    async def slow(request: web.Request) -> web.Response:
        bodies.append(await request.read())
        arrived.set()
        await release.wait()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/", slow)
    settings = WebhookSettings(delivered=0, read=0, failed=0, concurrency=1)
    async with serving(app) as url, Emulator(rate=None, seed=13, webhooks=settings) as emu:
        emu.webhooks.configure(url + "/")
        await send(emu, 3)
        await arrived.wait()  # one delivery in flight, two waiting
        emu.reset()
        release.set()
        await drained(emu)
        assert (emu.webhooks.delivered, emu.webhooks.attempts, emu.webhooks.pending) == (0, 0, 0)
        await send(emu, 1, start=10)
        await drained(emu)
    assert emu.webhooks.delivered == 1 and len(emu.webhooks.generated) == 1
    assert len(bodies) == 2  # the two deliveries scheduled before the reset were never sent


async def test_a_10000_message_campaign_with_webhooks_and_a_receiver_in_the_same_test() -> None:
    """Issue #15's acceptance scale: the counts the receiver sees equal what was generated,
    with duplicates, reordering and a receiver failing now and then."""
    inbox = Inbox(fail={3, 10, 40, 90})
    settings = WebhookSettings(
        duplicates=0.1,
        reorder=0.2,
        read_without_delivered=0.1,
        batch_size=200,
        batch_window_ms=20,
        concurrency=8,
        retry_base_ms=10,
    )
    async with (
        receiver_at(inbox) as (receiver, url),
        Emulator(rate=None, seed=15, webhook_url=url, webhooks=settings) as emu,
    ):
        async with campaign_client(emu) as client:
            report = await client.send_bulk(messages(10_000), concurrency=50).run()
        await drained(emu, 120)
    sender = emu.webhooks
    assert report.sent == 10_000
    assert len(sender.final_statuses()) == 10_000
    assert inbox.final() == sender.final_statuses()
    assert inbox.unique() == sender.counts()
    assert Counter(inbox.final().values()) == Counter(sender.final_statuses().values())
    assert receiver.failed == sender.responses["500"] == 4
    assert sender.given_up == 0 and sender.duplicates > 500


def test_the_command_line_takes_a_webhook_url(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["--webhook-url", "http://127.0.0.1:9/hook"])
    assert emulator_from_args(args).webhooks.url == "http://127.0.0.1:9/hook"
    assert build_parser().parse_args([]).webhook_url is None
    assert main(["--webhook-url", "mailto:x"]) == 2
    assert "http" in capsys.readouterr().err
