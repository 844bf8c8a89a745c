"""The journal: resuming, a SIGKILLed sender, cancellation; every recipient accepted at most
once, and exactly once apart from those reported unknown."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from d360_async import D360Client, JournalError, RetryPolicy, SendResult, SendStatus
from d360_async.testing import Emulator

from .conftest import faulty, number, welcome

CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from d360_async import D360Client, MessageBuilder

    async def main(url, key, journal, n):
        builder = MessageBuilder(name="welcome_offer", language="en_US")
        messages = (builder.build(f"49151{i:08d}", body=[f"friend {i}"]) for i in range(n))
        async with D360Client(key, base_url=url, rate_limit=None) as client:
            await client.send_bulk(messages, journal=journal, concurrency=8).run()

    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
    """
)


def journal_rows(path: Path) -> Counter[str]:
    with sqlite3.connect(path) as conn:
        return Counter(status for (status,) in conn.execute("SELECT status FROM messages"))


async def test_resume_sends_only_what_was_not_sent(emu: Emulator, tmp_path: Path) -> None:
    journal = tmp_path / "campaign.sqlite"
    async with D360Client(emu.api_key, base_url=emu.url, rate_limit=None) as client:
        async with client.send_bulk(welcome(1_000), journal=journal, concurrency=10) as first:
            seen = 0
            async for _ in first:
                seen += 1
                if seen == 300:
                    break  # stop half-way; leaving the block cancels what is in flight
        second = [r async for r in client.send_bulk(welcome(1_000), journal=journal)]
    statuses = Counter(r.status for r in second)
    accepted = emu.accepted_counts()
    assert set(accepted.values()) == {1}
    unknown = {r.to for r in second if r.status is SendStatus.UNKNOWN}
    assert set(accepted) | unknown == {number(i) for i in range(1_000)}
    already = [r for r in second if r.reason == "already sent in an earlier run"]
    assert len(already) >= 300 and all(r.message_id for r in already)
    assert statuses[SendStatus.SENT] == 1_000 - len(already) - len(unknown)
    assert journal_rows(journal)["pending"] == 0


async def test_resend_unknown_opt_in(emu: Emulator, tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    emu.add_faults(["ok", "drop_before", "ok"])
    async with D360Client(
        emu.api_key, base_url=emu.url, rate_limit=None, retry=RetryPolicy(wait=False)
    ) as client:
        first = await client.send_bulk(welcome(3), journal=journal, concurrency=1).run()
        again = [r async for r in client.send_bulk(welcome(3), journal=journal)]
        assert (first.sent, first.unknown) == (2, 1)
        assert [r.status for r in sorted(again, key=lambda r: r.index)] == [
            SendStatus.SKIPPED,
            SendStatus.UNKNOWN,
            SendStatus.SKIPPED,
        ]
        final = await client.send_bulk(welcome(3), journal=journal, resend_unknown=True).run()
    assert (final.sent, final.skipped) == (1, 2)
    assert emu.accepted_counts() == {number(i): 1 for i in range(3)}


async def test_journal_of_another_campaign_is_refused(emu: Emulator, tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    async with D360Client(emu.api_key, base_url=emu.url, rate_limit=None) as client:
        await client.send_bulk(welcome(5), journal=journal).run()
        with pytest.raises(JournalError, match="another campaign"):
            await client.send_bulk(welcome(5, start=100), journal=journal).run()
    assert len(emu.sent_messages) == 5


async def test_sigkilled_sender_rerun_sends_everyone_exactly_once(tmp_path: Path) -> None:
    n = 3_000
    journal = tmp_path / "crash.sqlite"
    async with Emulator(rate=None, latency_ms=4, seed=3) as emu:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CHILD, emu.url, emu.api_key, str(journal), str(n)
        )
        try:
            async with asyncio.timeout(60):
                while len(emu.sent_messages) < 600:  # noqa: ASYNC110 (polling another process)
                    await asyncio.sleep(0.01)
        finally:
            child.send_signal(signal.SIGKILL)
            await child.wait()
        assert child.returncode == -signal.SIGKILL
        killed_at = len(emu.sent_messages)
        assert killed_at < n  # it really died mid-campaign
        assert journal_rows(journal)["pending"] > 0  # with messages in flight

        async with D360Client(emu.api_key, base_url=emu.url, rate_limit=None) as client:
            results: list[SendResult] = [
                r async for r in client.send_bulk(welcome(n), journal=journal)
            ]
        accepted = emu.accepted_counts()
    assert len(results) == n
    assert emu.duplicate_recipients() == {}
    unknown = {r.to for r in results if r.status is SendStatus.UNKNOWN}
    everyone = {number(i) for i in range(n)}
    assert everyone - unknown <= set(accepted)  # all but the unknown ones were accepted...
    assert set(accepted.values()) == {1}  # ...and nobody twice
    assert 0 < len(unknown) <= 8 + 1  # at most what was in flight at the kill
    assert journal_rows(journal)["pending"] == 0


async def test_cancelling_leaves_the_journal_consistent(emu: Emulator, tmp_path: Path) -> None:
    journal = tmp_path / "cancel.sqlite"
    async with D360Client(emu.api_key, base_url=emu.url, rate_limit=None) as client:
        task = asyncio.create_task(
            client.send_bulk(welcome(50_000), journal=journal, concurrency=16).run()
        )
        while len(emu.sent_messages) < 500:  # noqa: ASYNC110 (polling the emulator)
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        sent_at_cancel = len(emu.sent_messages)
        rows = journal_rows(journal)
        assert rows["pending"] == 0  # in-flight messages were marked, not left pending
        assert rows["sent"] <= sent_at_cancel <= rows["sent"] + rows["unknown"]
        assert sent_at_cancel < 50_000  # it stopped promptly
        await asyncio.sleep(0.1)
        assert len(emu.sent_messages) == sent_at_cancel  # and nothing went out afterwards


async def test_run_records_message_ids_in_the_journal(emu: Emulator, tmp_path: Path) -> None:
    """``run()`` keeps no results, but the journal still gets every message id."""
    journal = tmp_path / "j.sqlite"
    async with D360Client(emu.api_key, base_url=emu.url, rate_limit=None) as client:
        report = await client.send_bulk(welcome(20), journal=journal).run()
        again = [r async for r in client.send_bulk(welcome(20), journal=journal)]
    assert report.sent == 20
    wamids = {m.to: m.wamid for m in emu.sent_messages}
    assert {r.to: r.message_id for r in again} == wamids
    assert {r.status for r in again} == {SendStatus.SKIPPED}


async def test_run_under_faults_agrees_with_the_journal_and_the_emulator(tmp_path: Path) -> None:
    """``run()`` keeps no results: its counts, the journal and the emulator must still agree."""
    journal = tmp_path / "j.sqlite"
    async with faulty(seed=7) as (emu, client):
        report = await client.send_bulk(welcome(3_000), journal=journal, concurrency=32).run()
        accepted = emu.accepted_counts()
        injected = dict(emu.faults_injected)
    with sqlite3.connect(journal) as conn:
        rows = conn.execute("SELECT idx, status, message_id FROM messages").fetchall()
    sent = {number(idx): wamid for idx, status, wamid in rows if status == "sent"}
    unknown = {number(idx) for idx, status, _ in rows if status == "unknown"}
    assert (report.total, len(rows)) == (3_000, 3_000)
    assert report.sent + report.failed + report.unknown == 3_000
    assert (report.sent, report.unknown) == (len(sent), len(unknown))
    # Drops are unknown; throttles and the emulator's 503s (Meta's refusal, code 2) were retried.
    ambiguous = injected["drop_before"] + injected["drop_after"]
    assert report.unknown == ambiguous > 0
    assert set(accepted.values()) == {1}
    assert set(sent) <= set(accepted) and set(accepted) - set(sent) <= unknown
    wamids = {m.wa_id: m.wamid for m in emu.sent_messages}
    assert all(wamid == wamids[recipient] for recipient, wamid in sent.items())
