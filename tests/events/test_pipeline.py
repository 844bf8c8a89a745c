"""send_conversion_events against the emulator: batching, validation, hashing on the wire,
faults, accounting, laziness, and the shape of a run."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from d360_async import (
    AuthenticationError,
    ConversionEvent,
    CustomData,
    D360Client,
    EventsRunError,
    InternalServerError,
    RetryPolicy,
    UserData,
    ValidationError,
)
from d360_async._events import EventsRun
from d360_async._models_events import BatchResult, EventsReport
from d360_async.testing import Emulator

from .conftest import NODE, PostTracker, events_run, raw_event

SEVEN_DAYS = 7 * 24 * 3600


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def collect(run: EventsRun) -> list[BatchResult]:
    return [batch async for batch in run]


def assert_balanced(report: EventsReport) -> None:
    """Every input event is accounted for exactly once."""
    assert report.total == report.received + report.rejected + report.failed


async def test_2500_events_go_in_requests_of_1000_1000_500(
    d360_client: D360Client, d360_emulator: Emulator, posts: PostTracker
) -> None:
    run = d360_client.send_conversion_events(NODE, (raw_event(i) for i in range(2500)))
    batches = await collect(run)
    assert sorted(posts.sizes) == [500, 1000, 1000]
    assert sorted(b.events_sent for b in batches) == [500, 1000, 1000]
    assert all(b.ok and b.events_received == b.events_sent and b.fbtrace_id for b in batches)
    assert sorted(b.batch_index for b in batches) == [0, 1, 2]
    assert d360_emulator.requests["post-conversion-events"] == 3
    recorded = d360_emulator.events[NODE]
    assert sorted(e.event_id for e in recorded) == sorted(f"order-{i}" for i in range(2500))
    report = run.report
    assert (report.total, report.sent, report.received, report.batches) == (2500, 2500, 2500, 3)
    assert (report.rejected, report.failed, report.requests) == (0, 0, 3)
    assert report.elapsed > 0 and report.rate > 0


async def test_what_reaches_the_wire_is_hashed_and_complete(
    d360_client: D360Client, d360_emulator: Emulator
) -> None:
    moment = datetime.now(UTC).replace(microsecond=0)
    events: list[Any] = [
        {
            "event_name": "LeadSubmitted",
            "event_time": moment,
            "user_data": {"em": " John_Smith@gmail.com", "ph": "(650)555-1212", "ctwa_clid": "c"},
        },
        ConversionEvent(
            event_name="Purchase",
            event_time=moment,
            event_id="order-9",
            user_data=UserData(fn="Valéry", country="United States", ctwa_clid="c9"),
            custom_data=CustomData(currency="EUR", value=12.5),
        ),
        {
            "event_name": "Purchase",
            "event_time": time.time(),
            "action_source": "website",
            "custom_data": {"currency": "USD", "value": Decimal("9.99")},
        },
    ]
    report = await events_run(  # what send_conversion_events builds, plus a hashing option
        d360_client,
        events,
        test_event_code="TEST42",
        partner_agent="d360-async",
        default_country_code="1",
    ).run()
    assert (report.received, report.rejected, report.failed) == (3, 0, 0)
    first, second, third = (e.data for e in d360_emulator.events[NODE])
    assert first["user_data"] == {
        "em": ["62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"],
        "ph": ["e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"],
        "ctwa_clid": "c",
    }
    assert first["event_time"] == int(moment.timestamp())
    assert (first["action_source"], first["messaging_channel"]) == (
        "business_messaging",
        "whatsapp",
    )
    assert len(first["event_id"]) == 36  # a UUID was added
    assert second["event_id"] == "order-9"
    assert second["user_data"] == {
        "fn": ["08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c"],
        "country": ["79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621"],
        "ctwa_clid": "c9",
    }
    assert second["custom_data"] == {"currency": "EUR", "value": 12.5}
    assert third["action_source"] == "website" and "messaging_channel" not in third
    assert third["custom_data"]["value"] == 9.99
    assert isinstance(third["event_time"], int)
    recorded = d360_emulator.events[NODE]
    assert {(e.test_event_code, e.partner_agent) for e in recorded} == {("TEST42", "d360-async")}


async def test_hash_pii_off_sends_user_data_as_given(
    d360_client: D360Client, d360_emulator: Emulator
) -> None:
    hashed = {"em": [sha("mary@example.com")], "ctwa_clid": "c"}
    report = await d360_client.send_conversion_events(
        NODE, [raw_event(0, user_data=hashed)], hash_pii=False
    ).run()
    assert report.received == 1
    assert d360_emulator.events[NODE][0].data["user_data"] == hashed


async def test_10000_events_with_3_invalid_ones_caught_locally(
    d360_client: D360Client, d360_emulator: Emulator, posts: PostTracker
) -> None:
    bad = {
        1234: {"event_time": int(time.time()) - SEVEN_DAYS - 3600},
        5000: {"user_data": {"em": "not-an-email-Qz7"}},
        9876: {"custom_data": {"currency": "EURO", "value": 3}},
    }

    def events() -> Iterator[dict[str, Any]]:
        for i in range(10_000):
            yield raw_event(i, **bad.get(i, {}))

    run = d360_client.send_conversion_events(NODE, events())
    batches = await collect(run)
    assert len(d360_emulator.events[NODE]) == 9_997
    rejected = sorted((r for b in batches for r in b.rejected), key=lambda r: r.index)
    assert [(r.index, r.field, r.from_server) for r in rejected] == [
        (1234, "event_time", False),
        (5000, "user_data", False),  # its only value is invalid: nothing left to match on
        (9876, "custom_data.currency", False),
    ]
    assert [r.reason for r in rejected] == [
        "is older than 7 days",
        "has no customer information left: every value was invalid (em)",
        "must be a 3-letter ISO 4217 code ('USD')",
    ]
    (dropped,) = [d for b in batches for d in b.dropped]
    assert (dropped.index, dropped.key, dropped.reason) == (5000, "em", "is not an e-mail address")
    assert [r.event_id for r in rejected] == ["order-1234", "order-5000", "order-9876"]
    assert all(b.events_sent == 0 for b in batches if b.rejected)  # reported, never sent
    assert sum(posts.sizes) == 9_997 and len(posts.sizes) == 10
    report = run.report
    assert (report.total, report.received, report.rejected, report.failed) == (10_000, 9_997, 3, 0)
    assert_balanced(report)


@pytest.mark.d360_emulator(wall_clock=lambda: time.time() + 3600)
async def test_10000_events_with_3_rejected_by_the_server(
    d360_client: D360Client, d360_emulator: Emulator, posts: PostTracker
) -> None:
    """The server's clock is an hour ahead: 3 events pass the local check but are older than
    7 days for the server. Each failing batch is split to isolate them."""
    hidden = {17, 4321, 9999}
    stale = int(time.time()) - SEVEN_DAYS + 1800

    events = [raw_event(i, **({"event_time": stale} if i in hidden else {})) for i in range(10_000)]
    run = d360_client.send_conversion_events(NODE, events)
    batches = await collect(run)
    assert len(d360_emulator.events[NODE]) == 9_997
    assert {e.event_id for e in d360_emulator.events[NODE]}.isdisjoint({"order-17", "order-4321"})
    rejected = sorted((r for b in batches for r in b.rejected), key=lambda r: r.index)
    assert [(r.index, r.event_id, r.field, r.from_server) for r in rejected] == [
        (17, "order-17", "event_time", True),
        (4321, "order-4321", "event_time", True),
        (9999, "order-9999", "event_time", True),
    ]
    assert rejected[0].reason == "data[17]: event_time is older than 7 days"
    assert rejected[1].reason == "data[321]: event_time is older than 7 days"  # its batch's index
    assert rejected[2].reason == "data[999]: event_time is older than 7 days"
    assert len(posts.sizes) == 13  # 10 batches + 1 resend per rejected event
    assert sorted(b.requests for b in batches) == [1] * 7 + [2] * 3
    report = run.report
    assert (report.received, report.rejected, report.failed, report.requests) == (9_997, 3, 0, 13)
    assert_balanced(report)


@pytest.mark.d360_emulator(faults=["500", "drop_after", "502", "drop_before", "503", "drop_after"])
async def test_500s_and_dropped_connections_count_each_event_once(
    d360_client: D360Client, d360_emulator: Emulator
) -> None:
    run = d360_client.send_conversion_events(
        NODE, (raw_event(i) for i in range(5_000)), batch_size=500, concurrency=3
    )
    report = await run.run()
    assert d360_emulator.faults_injected == {
        "500": 1,
        "502": 1,
        "503": 1,
        "drop_after": 2,
        "drop_before": 1,
    }
    ids = [e.event_id for e in d360_emulator.events[NODE]]
    assert len(ids) == 5_000 and len(set(ids)) == 5_000  # each event recorded exactly once
    assert d360_emulator.duplicate_events == 1_000  # the two batches whose answer was lost
    assert (report.received, report.failed, report.rejected) == (5_000, 0, 0)


async def test_events_without_ids_get_one_so_retries_stay_single(
    d360_emulator: Emulator,
) -> None:
    d360_emulator.add_faults(["drop_after"])
    async with D360Client(
        d360_emulator.api_key,
        base_url=d360_emulator.url,
        rate_limit=None,
        retry=RetryPolicy(wait=False),
    ) as client:
        events = [{**raw_event(i), "event_id": None} for i in range(300)]
        report = await client.send_conversion_events(NODE, events).run()
    assert report.received == 300
    assert len(d360_emulator.events[NODE]) == 300
    assert d360_emulator.duplicate_events == 300  # the retried request, de-duplicated
    assert all(e.event_id and len(e.event_id) == 36 for e in d360_emulator.events[NODE])


@pytest.mark.d360_emulator(faults=["500"] * 4)
async def test_a_batch_that_fails_for_good_is_reported_failed_not_lost(
    d360_client: D360Client, d360_emulator: Emulator
) -> None:
    run = d360_client.send_conversion_events(
        NODE, [raw_event(i) for i in range(250)], batch_size=100, concurrency=1
    )
    batches = sorted(await collect(run), key=lambda b: b.batch_index)
    first = batches[0]
    assert isinstance(first.error, InternalServerError)
    assert [f.index for f in first.failed] == list(range(100))
    assert [f.event_id for f in first.failed[:2]] == ["order-0", "order-1"]
    assert first.events_received == 0 and not first.ok
    assert all(b.ok for b in batches[1:])
    assert len(d360_emulator.events[NODE]) == 150
    report = run.report
    assert (report.received, report.failed, report.rejected) == (150, 100, 0)
    assert_balanced(report)


async def test_a_wrong_key_fails_every_batch_without_splitting(
    d360_emulator: Emulator, posts: PostTracker
) -> None:
    async with D360Client(
        "wrong-key", base_url=d360_emulator.url, rate_limit=None, retry=RetryPolicy(wait=False)
    ) as client:
        run = client.send_conversion_events(NODE, [raw_event(i) for i in range(30)], batch_size=10)
        batches = await collect(run)
    assert all(isinstance(b.error, AuthenticationError) for b in batches)
    assert all(len(b.failed) == 10 and b.requests == 1 for b in batches)
    assert len(posts.sizes) == 3
    assert run.report.failed == 30


async def test_body_size_limit_cuts_batches_and_rejects_huge_events(
    d360_client: D360Client, d360_emulator: Emulator, posts: PostTracker
) -> None:
    events = [raw_event(i) for i in range(60)]
    events[7]["custom_data"]["content_name"] = "x" * 30_000
    run = events_run(d360_client, events, max_body_bytes=20_000)
    batches = await collect(run)
    assert max(posts.body_bytes) <= 20_000
    assert len(posts.sizes) > 1 and sum(posts.sizes) == 59
    rejected = [r for b in batches for r in b.rejected]
    assert [(r.index, r.field) for r in rejected] == [(7, "event")]
    assert "larger than a request may be" in rejected[0].reason
    assert len(d360_emulator.events[NODE]) == 59


async def test_not_serialisable_values_are_rejected_locally(
    d360_client: D360Client, d360_emulator: Emulator
) -> None:
    events = [raw_event(0), raw_event(1, custom_data={"currency": "EUR", "value": 1, "x": {1}})]
    events.append(raw_event(2, custom_data={"currency": "EUR", "value": 1, "y": object()}))
    events.append("not an event")  # type: ignore[arg-type]
    run = d360_client.send_conversion_events(NODE, events)
    rejected = [r for b in await collect(run) for r in b.rejected]
    assert [(r.index, r.field) for r in rejected] == [(1, "event"), (2, "event"), (3, "event")]
    assert [e.event_id for e in d360_emulator.events[NODE]] == ["order-0"]


@pytest.mark.d360_emulator(latency_ms=5)  # requests overlap
async def test_concurrency_is_bounded(d360_client: D360Client, posts: PostTracker) -> None:
    report = await d360_client.send_conversion_events(
        NODE, (raw_event(i) for i in range(400)), batch_size=20, concurrency=3
    ).run()
    assert report.received == 400
    assert posts.peak == 3


async def test_async_source_is_consumed_lazily(
    d360_client: D360Client, d360_emulator: Emulator
) -> None:
    pulled = 0
    first_batch_done = asyncio.Event()

    async def source() -> AsyncIterator[dict[str, Any]]:
        nonlocal pulled
        for i in range(60):
            if i == 25:  # hold the rest back until a batch was delivered
                await asyncio.wait_for(first_batch_done.wait(), timeout=5)
            pulled += 1
            yield raw_event(i)

    run = d360_client.send_conversion_events(NODE, source(), batch_size=10, concurrency=1)
    received = []
    async for batch in run:
        received.append(batch.events_received)
        if len(received) == 1:
            assert pulled <= 25  # posted while the source was still waiting
            first_batch_done.set()
    assert sum(received) == 60
    assert len(d360_emulator.events[NODE]) == 60


async def test_sync_source_is_read_lazily(d360_client: D360Client) -> None:
    pulled = 0

    def source() -> Iterator[dict[str, Any]]:
        nonlocal pulled
        for i in range(10**9):
            pulled += 1
            yield raw_event(i)

    async with d360_client.send_conversion_events(
        NODE, source(), batch_size=10, concurrency=2
    ) as run:
        async for batch in run:
            assert batch.ok
            break
    # Read-ahead: the batches in the workers' hands and the bounded result queue.
    assert pulled <= 10 * (2 + 2 * 2 + 2)


@pytest.mark.d360_emulator(latency_ms=300)
async def test_leaving_early_cancels_in_flight_posts(
    d360_client: D360Client, posts: PostTracker
) -> None:
    run = d360_client.send_conversion_events(
        NODE, (raw_event(i) for i in range(1000)), batch_size=10, concurrency=4
    )
    async with run:
        async for _ in run:
            break
    assert posts.in_flight == 0
    assert posts.cancelled >= 1
    assert posts.started == posts.finished + posts.cancelled
    with pytest.raises(EventsRunError, match="has not finished"):
        _ = run.report
    assert run.snapshot().received >= 10


@pytest.mark.d360_emulator(latency_ms=300)
async def test_a_plain_break_cancels_in_flight_posts_too(
    d360_client: D360Client, posts: PostTracker
) -> None:
    run = d360_client.send_conversion_events(
        NODE, (raw_event(i) for i in range(1000)), batch_size=10, concurrency=4
    )
    async for _ in run:
        break
    assert posts.in_flight > 0  # not yet: Python closes the abandoned iterator next
    for _ in range(20):
        await asyncio.sleep(0.01)
        if posts.in_flight == 0:
            break
    assert posts.in_flight == 0
    assert posts.cancelled >= 1
    await run.aclose()  # nothing left to close: a no-op


@pytest.mark.d360_emulator(latency_ms=300)
async def test_cancelling_the_run_cancels_in_flight_posts(
    d360_client: D360Client, posts: PostTracker
) -> None:
    run = d360_client.send_conversion_events(
        NODE, (raw_event(i) for i in range(1000)), batch_size=10, concurrency=4
    )
    task = asyncio.ensure_future(run.run())
    await asyncio.sleep(0.1)
    assert posts.in_flight == 4
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert posts.in_flight == 0
    assert posts.cancelled == 4


@pytest.mark.d360_emulator(latency_ms=300)
async def test_aclose_from_another_task_stops_a_running_run(
    d360_client: D360Client, posts: PostTracker
) -> None:
    """``aclose()`` while ``run()`` runs in another task stops it (as its docstring says): the
    posts in flight are cancelled, no new one starts, ``run()`` raises a typed error."""
    run = d360_client.send_conversion_events(
        NODE, (raw_event(i) for i in range(1000)), batch_size=10, concurrency=4
    )
    task = asyncio.ensure_future(run.run())
    await asyncio.sleep(0.1)
    assert posts.in_flight == 4
    async with asyncio.timeout(5):  # not the whole run's 25 s
        await run.aclose()
    assert posts.in_flight == 0
    started = posts.started
    with pytest.raises(EventsRunError, match="stopped by aclose"):
        await task
    await asyncio.sleep(0.05)
    assert posts.started == started
    with pytest.raises(EventsRunError, match="has not finished"):
        _ = run.report
    assert run.snapshot().received < 1000


async def test_a_run_is_iterated_once_and_reports_at_the_end(d360_client: D360Client) -> None:
    run = d360_client.send_conversion_events(NODE, [raw_event(0), raw_event(1)])
    assert "new" in repr(run)
    with pytest.raises(EventsRunError, match="has not finished"):
        _ = run.report
    report = await run.run()
    assert report == run.report and report.received == 2
    assert "finished" in repr(run)
    with pytest.raises(EventsRunError, match="only once"):
        await collect(run)
    with pytest.raises(EventsRunError, match="only once"):
        await run.run()


async def test_an_empty_input_finishes_at_once(d360_client: D360Client, posts: PostTracker) -> None:
    report = await d360_client.send_conversion_events(NODE, []).run()
    assert (report.total, report.sent, report.batches, report.requests) == (0, 0, 0, 0)
    assert posts.sizes == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 1001}, "batch_size"),
        ({"concurrency": 0}, "concurrency"),
        ({"test_event_code": ""}, "test_event_code"),
        ({"partner_agent": " "}, "partner_agent"),
    ],
)
async def test_bad_arguments_fail_at_once(
    d360_client: D360Client, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        d360_client.send_conversion_events(NODE, [], **kwargs)
    assert caught.value.field == field


async def test_bad_inputs_fail_at_once(d360_client: D360Client) -> None:
    for events in ("events", {"event_name": "Purchase"}, 42):
        with pytest.raises(ValidationError) as caught:
            d360_client.send_conversion_events(NODE, events)  # type: ignore[arg-type]
        assert caught.value.field == "events"
    with pytest.raises(ValidationError) as caught:
        d360_client.send_conversion_events(" ", [])
    assert caught.value.field == "meta_node_id"
    with pytest.raises(ValidationError) as caught:
        events_run(d360_client, [], default_country_code="0")
    assert caught.value.field == "default_country_code"
    with pytest.raises(ValidationError) as caught:
        events_run(d360_client, [], max_body_bytes=10)
    assert caught.value.field == "max_body_bytes"


async def test_no_raw_pii_in_reports_or_logs(
    d360_client: D360Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="d360_async")
    secrets = ["Mallory.Secret@Example.org", "99 88 77", "Sekretville-9", "Zorblax"]
    events = [
        raw_event(0, user_data={"em": secrets[0]}),
        raw_event(1, user_data={"ph": secrets[1]}),  # too short: dropped, nothing left
        raw_event(2, user_data={"ct": secrets[2], "em": "bad-Zorblax"}),  # em dropped
        raw_event(3, user_data={"country": secrets[3]}),  # unknown country: nothing left
    ]
    run = d360_client.send_conversion_events(NODE, events)
    batches = await collect(run)
    rejected = [r for b in batches for r in b.rejected]
    assert [(r.index, r.field) for r in rejected] == [(1, "user_data"), (3, "user_data")]
    dropped = [(d.index, d.key) for b in batches for d in b.dropped]
    assert sorted(dropped) == [(1, "ph"), (2, "em"), (3, "country")]
    text = caplog.text + repr(batches) + repr(run.report)
    # Timings such as elapsed=0.0015988269 may contain any digits: they are not PII.
    text = re.sub(r"\d+\.\d+(e-?\d+)?", "<float>", text)
    assert caplog.records  # something was logged
    for secret in [*secrets, "998877", "Mallory"]:
        assert secret not in text
