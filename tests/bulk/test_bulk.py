"""send_bulk against the emulator over loopback: counts, de-duplication, faults, preflight,
circuit breaker, per-recipient errors, progress, laziness."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from d360_async import (
    BulkReport,
    D360Client,
    PermissionDeniedError,
    PreflightError,
    SendResult,
    SendStatus,
)
from d360_async.testing import Emulator

from .conftest import FAULTS, WELCOME, faulty, number, welcome


async def collect(run: Any) -> list[SendResult]:
    return [r async for r in run]


def by_status(results: list[SendResult]) -> dict[SendStatus, set[str]]:
    out: dict[SendStatus, set[str]] = {s: set() for s in SendStatus}
    for r in results:
        out[r.status].add(r.to)
    return out


async def test_every_message_sent_once_with_one_result_each(
    emu: Emulator, client: D360Client
) -> None:
    run = client.send_bulk(welcome(500), concurrency=20)
    results = await collect(run)
    assert sorted(r.index for r in results) == list(range(500))
    assert all(r.status is SendStatus.SENT and r.message_id for r in results)
    assert len({r.message_id for r in results}) == 500
    report = run.report
    assert (report.total, report.sent, report.failed, report.skipped, report.unknown) == (
        500,
        500,
        0,
        0,
        0,
    )
    assert report.stopped is None
    assert emu.accepted_counts() == {number(i): 1 for i in range(500)}


async def test_dicts_and_models_mix(emu: Emulator, client: D360Client) -> None:
    plain = {
        "to": number(1),
        "template": {
            "name": "welcome_offer",
            "language": {"code": "en_US", "policy": "deterministic"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "x"}]}],
        },
    }
    report = await client.send_bulk([WELCOME.build(number(0), body=["y"]), plain]).run()
    assert report.sent == 2
    assert emu.messages_to(number(1))[0].payload["template"]["language"]["policy"] == (
        "deterministic"
    )


async def test_duplicate_recipients_are_sent_once(emu: Emulator, client: D360Client) -> None:
    def messages() -> Iterator[Any]:
        for i in range(100):
            yield WELCOME.build(number(i % 40), body=["x"])  # 40 recipients, 60 repeats

    results = await collect(client.send_bulk(messages()))
    statuses = Counter(r.status for r in results)
    assert statuses == {SendStatus.SENT: 40, SendStatus.SKIPPED: 60}
    assert {r.reason for r in results if r.status is SendStatus.SKIPPED} == {"duplicate recipient"}
    assert set(emu.accepted_counts().values()) == {1}
    # Formatting differences do not hide a duplicate.
    report = await client.send_bulk(
        [WELCOME.build("+49 151 0000 0999", body=["a"]), WELCOME.build("4915100000999", body=["b"])]
    ).run()
    assert (report.sent, report.skipped) == (1, 1)


async def test_dedupe_off_sends_repeats(emu: Emulator, client: D360Client) -> None:
    messages = [WELCOME.build(number(1), body=["x"]) for _ in range(3)]
    report = await client.send_bulk(messages, dedupe=False).run()
    assert report.sent == 3
    assert emu.accepted_counts() == {number(1): 3}


async def test_ten_thousand_with_faults_nothing_lost_nothing_doubled() -> None:
    async with faulty(seed=5) as (emu, client):
        run = client.send_bulk(welcome(10_000), concurrency=64)
        results = await collect(run)
        accepted = emu.accepted_counts()
        injected = dict(emu.faults_injected)
    assert len(results) == 10_000
    assert sorted(r.index for r in results) == list(range(10_000))
    groups = by_status(results)
    # The emulator accepted nobody twice, and exactly the sent ones plus some unknown ones.
    assert set(accepted.values()) == {1}
    assert groups[SendStatus.SENT] <= set(accepted)
    assert set(accepted) - groups[SendStatus.SENT] <= groups[SendStatus.UNKNOWN]
    assert not groups[SendStatus.FAILED] & set(accepted)
    assert not groups[SendStatus.SKIPPED]
    # Every fault kind happened; drops became unknown outcomes, throttles and the emulator's
    # 503s (Meta's own refusal, code 2) were retried.
    assert all(injected.get(kind, 0) > 0 for kind in FAULTS), injected
    assert len(groups[SendStatus.UNKNOWN]) == injected["drop_before"] + injected["drop_after"]
    report = run.report
    assert report.sent + report.failed + report.unknown == 10_000
    assert report.sent == len(groups[SendStatus.SENT])


async def test_preflight_missing_template_sends_nothing(emu: Emulator, client: D360Client) -> None:
    messages = [
        *welcome(5),
        {"to": number(9), "template": {"name": "nope", "language": {"code": "en"}}},
    ]
    with pytest.raises(PreflightError) as info:
        await client.send_bulk(messages).run()
    assert info.value.problems == ("template 'nope' (en) not found",)
    assert emu.sent_messages == []


async def test_preflight_paused_template_sends_nothing(emu: Emulator, client: D360Client) -> None:
    emu.set_template_status("welcome_offer", "en_US", "PAUSED")
    with pytest.raises(PreflightError, match="is PAUSED, not APPROVED"):
        await client.send_bulk(welcome(10)).run()
    assert emu.sent_messages == []


async def test_preflight_parameter_count(emu: Emulator, client: D360Client) -> None:
    messages = [*welcome(3), WELCOME.build(number(7), body=["a", "b"])]
    with pytest.raises(PreflightError) as info:
        await client.send_bulk(messages).run()
    assert info.value.problems == (
        "template 'welcome_offer' (en_US): 1 message: 2 body parameters for a template with "
        "1 placeholder (message 3)",
    )
    assert emu.sent_messages == []


async def test_template_first_seen_after_the_window_is_checked_too(
    emu: Emulator, client: D360Client
) -> None:
    late = {"to": number(50), "template": {"name": "black_friday", "language": {"code": "en_US"}}}
    results = await collect(client.send_bulk([*welcome(20), late], preflight_window=10))
    failed = [r for r in results if r.status is SendStatus.FAILED]
    assert [(r.index, r.reason) for r in failed] == [
        (20, "template 'black_friday' (en_US) is PAUSED, not APPROVED")
    ]
    assert len(emu.sent_messages) == 20


async def test_template_paused_mid_campaign_stops_it(emu: Emulator, client: D360Client) -> None:
    concurrency = 8

    def messages() -> Iterator[Any]:
        for i, message in enumerate(welcome(2_000)):
            if i == 300:
                emu.set_template_status("welcome_offer", "en_US", "PAUSED")
            yield message

    run = client.send_bulk(messages(), concurrency=concurrency, preflight_window=100)
    results = await collect(run)
    groups = Counter(r.status for r in results)
    assert len(results) == 2_000
    sent_after_pause = [r for r in results if r.status is SendStatus.SENT and r.index >= 300]
    failed = [r for r in results if r.status is SendStatus.FAILED]
    # Within a bounded number of further sends the campaign stops; the rest is skipped.
    assert 1 <= len(failed) <= concurrency
    assert all(
        isinstance(r.error, PermissionDeniedError) and r.error.code == 132015 for r in failed
    )
    assert len(sent_after_pause) <= 2 * concurrency
    assert groups[SendStatus.SKIPPED] >= 2_000 - 300 - 3 * concurrency
    skipped = [r for r in results if r.status is SendStatus.SKIPPED]
    assert all(r.reason and "campaign stopped after message" in r.reason for r in skipped)
    assert run.report.stopped is not None and "132015" in run.report.stopped
    assert len(emu.sent_messages) == groups[SendStatus.SENT]


async def test_per_recipient_errors_fail_only_that_message(
    emu: Emulator, client: D360Client
) -> None:
    emu.set_recipient_error(number(3), 131050)  # user stopped marketing messages
    emu.set_recipient_error(number(7), 131026)  # undeliverable
    results = await collect(client.send_bulk(welcome(50)))
    failed = {r.to: r.error.code for r in results if r.status is SendStatus.FAILED}  # type: ignore[union-attr]
    assert failed == {number(3): 131050, number(7): 131026}
    assert sum(r.status is SendStatus.SENT for r in results) == 48


async def test_invalid_messages_fail_locally_and_the_rest_go(
    emu: Emulator, client: D360Client
) -> None:
    bad = {"to": "", "template": {"name": "welcome_offer", "language": {"code": "en_US"}}}
    not_a_message = ["4915100000001", "welcome_offer"]
    results = await collect(client.send_bulk([bad, not_a_message, *welcome(3)]))  # type: ignore[list-item]
    first, second = sorted(results, key=lambda r: r.index)[:2]
    assert first.status is SendStatus.FAILED
    assert first.reason == "to: is required and must be a non-empty string"
    assert (second.status, second.to) == (SendStatus.FAILED, "")
    assert second.reason == "message: must be a MarketingMessageRequest or a mapping"
    assert len(emu.sent_messages) == 3


async def test_progress_is_throttled_and_final(emu: Emulator, client: D360Client) -> None:
    reports: list[BulkReport] = []
    loop = asyncio.get_running_loop()
    start = loop.time()
    await client.send_bulk(welcome(3_000), on_progress=reports.append, progress_interval=0.1).run()
    elapsed = loop.time() - start
    assert reports[-1].total == 3_000 and reports[-1].sent == 3_000
    assert len(reports) <= elapsed / 0.1 + 2
    assert [r.total for r in reports] == sorted(r.total for r in reports)


async def test_input_is_consumed_lazily(emu: Emulator, client: D360Client) -> None:
    pulled = 0

    def endless() -> Iterator[Any]:
        nonlocal pulled
        i = 0
        while True:
            pulled += 1
            yield WELCOME.build(number(i), body=["x"])
            i += 1

    seen = 0
    async with client.send_bulk(endless(), concurrency=10, preflight_window=50) as run:
        async for _ in run:
            seen += 1
            if seen == 200:
                break
    assert pulled <= 200 + 50 + 4 * 10


async def test_async_iterable_input(emu: Emulator, client: D360Client) -> None:
    async def messages() -> Any:
        for message in welcome(30):
            yield message

    report = await client.send_bulk(messages()).run()
    assert report.sent == 30


async def test_report_before_the_end_is_an_error(client: D360Client) -> None:
    run = client.send_bulk(welcome(1))
    with pytest.raises(RuntimeError, match="not finished"):
        _ = run.report
    await run.run()
    with pytest.raises(RuntimeError, match="only once"):
        await run.run()
