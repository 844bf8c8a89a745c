"""One run at a time on a journal (user review F1): a second run on a journal in use is refused
before anything is sent, in the same process or another; the lease ends with the run, or with
its process however it dies; a ``DeliveryTracker`` and ``d360 report`` need no lease."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from d360_async import D360Client, DeliveryTracker, JournalError, SendStatus, SQLiteJournal
from d360_async.cli._report import read_report
from d360_async.testing import Emulator
from tests.cli.conftest import TIMEOUT, child_env, customers, d360

from .conftest import number, welcome

WELCOME = ("--template", "welcome_offer", "--language", "en_US", "--param-columns", "name")


async def test_a_second_run_on_a_journal_in_use_is_refused_before_any_request(
    emu: Emulator, client: D360Client, tmp_path: Path
) -> None:
    path = tmp_path / "j.sqlite"
    async with client.send_bulk(welcome(20), journal=path, concurrency=1) as first:
        async for result in first:
            assert result.status is SendStatus.SENT
            if result.index == 4:
                second = client.send_bulk(welcome(20), journal=path)
                try:
                    await second.run()
                except JournalError as exc:
                    refused = exc
                else:
                    raise AssertionError("the second run was not refused")
                assert "in use by another run" in str(refused)
                # the first run goes on sending meanwhile; the second sent nothing
                assert set(emu.accepted_counts().values()) == {1}
                # a tracker and a report need no lease
                async with DeliveryTracker(path) as tracker:
                    counts = await tracker.handle_statuses([])
                assert counts.matched == 0
                assert (await read_report(str(path))).accepted >= 5
    # the lease ended with the run: the same campaign resumes
    again = await client.send_bulk(welcome(20), journal=path).run()
    assert again.sent + again.skipped == 20
    assert emu.accepted_counts() == {number(i): 1 for i in range(20)}


async def test_the_lease_is_held_from_open_to_close(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    run = SQLiteJournal(path)
    await run.open("c")
    try:
        second = SQLiteJournal(path)
        for _ in range(2):  # refused, and free to try again
            with pytest.raises(JournalError, match="in use by another run"):
                await second.open("c")
        shared = SQLiteJournal(path)
        await shared.open(None, shared=True)  # what a tracker does
        await shared.close()
    finally:
        await run.close()
    await second.open("c")
    await second.close()


async def test_two_d360_sends_on_one_journal_the_second_exits_2_and_a_killed_one_frees_it(
    tmp_path: Path,
) -> None:
    n = 200
    source = customers(tmp_path / "customers.csv", n)
    journal = tmp_path / "campaign.sqlite"
    args = ["send", *WELCOME, "--csv", str(source), "--journal", str(journal)]
    async with Emulator(rate=None, latency_ms=50) as emu:
        first = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "d360_async.cli", *args, "--concurrency", "2",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            env=child_env(emu),
        )  # fmt: skip
        try:
            async with asyncio.timeout(TIMEOUT):
                while len(emu.sent_messages) < 10:  # noqa: ASYNC110 (another process)
                    await asyncio.sleep(0.01)
            second = await d360(*args, emulator=emu)
            assert second.code == 2, second.err
            assert "in use by another run" in second.error_line
        finally:
            first.send_signal(signal.SIGKILL)
            await first.wait()
        await asyncio.sleep(0.2)  # requests the killed run wrote reach the emulator
        third = await d360(*args, "--concurrency", "20", emulator=emu)
        assert third.code in (0, 1), third.err  # 1: some rows unknown after the kill
        assert emu.duplicate_recipients() == {}
