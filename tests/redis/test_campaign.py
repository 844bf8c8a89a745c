"""A campaign kept in Redis: enqueued once, sent by several workers, reported from anywhere
(a real valkey-server, the emulator on loopback)."""

from __future__ import annotations

import asyncio
import decimal
from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from d360_async import D360Client, JournalError, RetryPolicy, SendStatus, ValidationError
from d360_async.redis import campaign_report, delete_campaign, enqueue_campaign, run_worker
from d360_async.redis._layout import STATUS_OF, campaign_keys
from d360_async.testing import Emulator

from .campaigns import client_of, message, messages, number, queue_length, raw, states
from .conftest import RedisProcess


class Died(Exception):
    """The producer's input failing half way."""


def dying(n: int, after: int) -> Iterator[dict[str, Any]]:
    for i, item in enumerate(messages(n)):
        if i == after:
            raise Died
        yield item


async def test_a_producer_that_died_half_way_adds_only_what_is_missing(
    redis_server: RedisProcess,
) -> None:
    url = redis_server.url
    with pytest.raises(Died):
        await enqueue_campaign(dying(3000, after=1234), "spring", redis=url, batch=500)
    assert await queue_length(url, "spring") == 1000  # two whole batches, not a third's part
    report = await campaign_report(url, "spring")
    assert (report.total, report.sealed) == (1000, False)

    again = await enqueue_campaign(messages(3000), "spring", redis=url, batch=400)
    assert (again.messages, again.added, again.present) == (3000, 2000, 1000)
    once_more = await enqueue_campaign(messages(3000), "spring", redis=url)
    assert (once_more.added, once_more.present) == (0, 3000)
    assert await queue_length(url, "spring") == 3000
    assert sorted(await states(url, "spring")) == list(range(3000))
    report = await campaign_report(url, "spring")
    assert (report.total, report.queued, report.sealed, report.done) == (3000, 3000, True, False)


async def test_another_campaign_under_the_same_id_is_refused(redis_server: RedisProcess) -> None:
    url = redis_server.url
    await enqueue_campaign(messages(50), "spring", redis=url)
    with pytest.raises(JournalError, match="another message at position 0"):
        await enqueue_campaign(messages(50, template="weekly_digest"), "spring", redis=url)
    with pytest.raises(JournalError, match="sealed with fewer messages: message 50 is new"):
        await enqueue_campaign(messages(60), "spring", redis=url)
    assert await queue_length(url, "spring") == 50
    other = await enqueue_campaign(messages(60), "summer", redis=url)
    assert other.added == 60


async def test_bad_and_repeated_messages_are_decided_at_enqueue(
    redis_server: RedisProcess,
) -> None:
    url = redis_server.url
    batch = [message(i) for i in range(10)]
    batch[3]["template"]["components"][0]["parameters"][0]["text"] = decimal.Decimal("1.5")
    batch[7]["to"] = batch[2]["to"]  # the same recipient again
    result = await enqueue_campaign(batch, "spring", redis=url)
    assert (result.added, result.refused, result.duplicates) == (10, 1, 1)
    assert await queue_length(url, "spring") == 8
    found = await states(url, "spring")
    assert (found[3], found[7]) == ("failed", "skipped")
    report = await campaign_report(url, "spring")
    assert (report.total, report.queued, report.failed, report.skipped) == (10, 8, 1, 1)
    assert report.failed_by_error == {"ValidationError": 1}


async def test_bad_arguments_are_refused_naming_them(redis_server: RedisProcess) -> None:
    url = redis_server.url
    for kwargs, field in (
        ({"batch": 0}, "batch"),
        ({"keep_for": -1}, "keep_for"),
        ({"dedupe": "yes"}, "dedupe"),
        ({"redis": 42}, "redis"),
        ({"redis": "http://x"}, "redis"),
    ):
        settings: dict[str, Any] = {"redis": url, **kwargs}
        with pytest.raises(ValidationError) as caught:
            await enqueue_campaign(messages(1), "spring", **settings)
        assert caught.value.field == field
    with pytest.raises(ValidationError) as caught:
        await enqueue_campaign(messages(1), " ", redis=url)
    assert caught.value.field == "campaign_id"
    async with Emulator(rate=None) as emu, client_of(emu) as client:
        with pytest.raises(ValidationError) as caught:
            await run_worker(client, url, "spring", idle_timeout=0)
        assert caught.value.field == "idle_timeout"
        with pytest.raises(JournalError, match="no campaign 'nowhere'"):
            await run_worker(client, url, "nowhere")
    assert emu.sent_messages == []


async def test_three_workers_send_every_message_once(redis_server: RedisProcess) -> None:
    """3 workers, 1,500 messages, a server failing 10 % of sends (503: Meta's refusal,
    retried; drop_after: the request was processed, the answer lost: unknown)."""
    url = redis_server.url
    n = 1500
    await enqueue_campaign(messages(n), "spring", redis=url)
    async with Emulator(
        rate=None, seed=5, fault_rate=0.1, fault_kinds=("503", "drop_after")
    ) as emu:
        async with client_of(emu) as a, client_of(emu) as b, client_of(emu) as c:
            reports = await asyncio.gather(
                *(run_worker(x, url, "spring", concurrency=8, poll=0.01) for x in (a, b, c))
            )
        accepted = emu.accepted_counts()
    assert all(r.total > 0 for r in reports)  # every worker had its share
    assert sum(r.total for r in reports) == n
    assert max(accepted.values()) == 1  # nobody twice
    report = await campaign_report(url, "spring")
    assert report.done and report.total == n and report.pending == report.queued == 0
    assert report.sent == sum(r.sent for r in reports) == len(accepted) - report.unknown
    assert report.unknown == sum(r.unknown for r in reports) > 0  # the dropped answers
    found = await states(url, "spring")
    sent = {number(i) for i, status in found.items() if status == "sent"}
    unknown = {number(i) for i, status in found.items() if status == "unknown"}
    assert set(accepted) == sent | unknown  # unknown: processed, answer lost
    assert sent | unknown == {number(i) for i in range(n)}
    assert await queue_length(url, "spring") == 0


async def test_a_stopped_worker_gives_its_messages_back(redis_server: RedisProcess) -> None:
    """The template is paused mid-campaign (132015: every further send would fail): the
    worker stops, the messages it did not send go back to the queue untouched; once the
    template is back, a new worker sends them, nobody twice."""
    url = redis_server.url
    n = 300
    await enqueue_campaign(messages(n), "spring", redis=url)
    async with Emulator(rate=None, latency_ms=10) as emu, client_of(emu) as client:

        def progress(report: Any) -> None:  # called every 0.25 s
            if report.sent >= 20:
                emu.set_template_status("welcome_offer", "en_US", "PAUSED")

        first = await run_worker(
            client, url, "spring", concurrency=4, on_progress=progress, idle_timeout=30
        )
        assert first.stopped is not None and "132015" in first.stopped
        middle = await campaign_report(url, "spring")
        assert not middle.done and middle.queued > 0 and middle.pending == 0
        assert middle.failed == first.failed >= 1  # the sends the server refused
        emu.set_template_status("welcome_offer", "en_US", "APPROVED")
        second = await run_worker(client, url, "spring", concurrency=4, idle_timeout=30)
        accepted = emu.accepted_counts()
    assert second.stopped is None and second.sent == middle.queued
    report = await campaign_report(url, "spring")
    assert report.done and report.sent == len(accepted) == n - report.failed
    assert max(accepted.values()) == 1


async def test_a_finished_campaign_expires_or_is_deleted(redis_server: RedisProcess) -> None:
    url = redis_server.url
    await enqueue_campaign(messages(20), "kept", redis=url, keep_for=3600)
    await enqueue_campaign(messages(20), "forever", redis=url, keep_for=None)
    async with Emulator(rate=None) as emu, client_of(emu) as client:
        for campaign in ("kept", "forever"):
            report = await run_worker(client, url, campaign, concurrency=4)
            assert report.sent == 20
    async with raw(url) as client:
        ttls = [await client.ttl(key) for key in campaign_keys("kept").all]
        forever = [await client.ttl(key) for key in campaign_keys("forever").all]
    # absent: the statuses and their evidence (no webhooks here)
    assert all(3500 < ttl <= 3600 for ttl in ttls if ttl != -2) and ttls.count(-2) <= 2
    assert all(ttl == -1 for ttl in forever if ttl != -2)
    assert await delete_campaign(url, "forever")
    assert not await delete_campaign(url, "forever")
    with pytest.raises(JournalError, match="no campaign 'forever'"):
        await campaign_report(url, "forever")


async def test_what_reaches_redis_holds_no_key_and_no_state_holds_a_number(
    redis_server: RedisProcess,
) -> None:
    url = redis_server.url
    await enqueue_campaign(messages(30), "spring", redis=url)
    async with Emulator(rate=None) as emu, client_of(emu) as client:
        await run_worker(client, url, "spring", concurrency=4)
    keys = campaign_keys("spring")
    async with raw(url) as client:
        names = [k.decode() for k in await client.keys("*")]
        state = b"".join(v for kv in (await client.hgetall(keys.state)).items() for v in kv)
        meta = await client.hgetall(keys.meta)
    assert names and all(name.startswith("d360:{c:") for name in names)
    assert not any(emu.api_key in name or "spring" in name for name in names)
    assert b"49151" not in state and emu.api_key.encode() not in state
    assert meta[b"id"] == b"spring"


@pytest.mark.parametrize("status", [SendStatus.SENT])
async def test_the_report_is_the_same_from_any_host(
    redis_server: RedisProcess, status: SendStatus
) -> None:
    url = redis_server.url
    await enqueue_campaign(messages(40), "spring", redis=url)
    async with Emulator(rate=None) as emu, client_of(emu) as client:
        await run_worker(client, url, "spring", concurrency=4)
    reports = await asyncio.gather(*(campaign_report(url, "spring") for _ in range(3)))
    assert len({str(r) for r in reports}) == 1
    assert (
        str(reports[0])
        == "campaign 'spring': 40 messages, done: sent=40 failed=0 skipped=0 unknown=0"
    )
    assert getattr(reports[0], status.value) == 40


async def test_every_request_finds_its_message_pending_in_redis(
    redis_server: RedisProcess,
) -> None:
    """A proxy in front of the server looks each send's message up in Redis the moment the
    request arrives: it is always ``pending`` already (the state is recorded before the first
    byte), retries after Meta's own refusal (503) included."""
    url = redis_server.url
    n = 300
    await enqueue_campaign(messages(n), "spring", redis=url)
    seen: list[str | None] = []
    async with (
        Emulator(rate=None, seed=3, fault_rate=0.1, fault_kinds=("503",)) as emu,
        raw(url) as redis,
        aiohttp.ClientSession() as upstream,
    ):
        keys = campaign_keys("spring")

        async def forward(request: web.Request) -> web.Response:
            body = await request.read()
            position = int(orjson.loads(body)["to"][5:])
            state = await redis.hget(keys.state, str(position))
            seen.append(None if state is None else STATUS_OF[state.decode()[0]])
            headers = {k: v for k, v in request.headers.items() if k.lower() == "d360-api-key"}
            headers["Content-Type"] = "application/json"
            async with upstream.post(emu.url + request.path, data=body, headers=headers) as r:
                return web.Response(
                    status=r.status, body=await r.read(), content_type="application/json"
                )

        app = web.Application()
        app.router.add_post("/marketing_messages", forward)
        app.router.add_route("*", "/{tail:.*}", forward_get(emu, upstream))
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with (
                D360Client(
                    emu.api_key,
                    base_url=f"http://127.0.0.1:{port}",
                    rate_limit=None,
                    retry=RetryPolicy(wait=False),
                ) as a,
                D360Client(
                    emu.api_key,
                    base_url=f"http://127.0.0.1:{port}",
                    rate_limit=None,
                    retry=RetryPolicy(wait=False),
                ) as b,
            ):
                await asyncio.gather(
                    *(run_worker(c, url, "spring", concurrency=8, poll=0.01) for c in (a, b))
                )
        finally:
            await runner.cleanup()
    assert emu.faults_injected["503"] > 0
    assert len(seen) == n + emu.faults_injected["503"]
    assert set(seen) == {"pending"}
    assert (await campaign_report(url, "spring")).sent == n


def forward_get(emu: Emulator, upstream: aiohttp.ClientSession) -> Any:
    """Template lookups pass through unchanged."""

    async def handler(request: web.Request) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() == "d360-api-key"}
        async with upstream.get(emu.url + request.path_qs, headers=headers) as r:
            return web.Response(
                status=r.status, body=await r.read(), content_type="application/json"
            )

    return handler
