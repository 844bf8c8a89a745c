"""Early exit is an exit (#10 item 3): after ``break``, ``aclose()``, leaving ``async with`` or
cancelling the task, no new request starts and a report marked interrupted is there."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from d360_async import BulkReport, BulkRun, D360Client, SendResult, SendStatus, SQLiteJournal
from d360_async.testing import Emulator

from .conftest import welcome


class Started:
    """Counts the requests a session starts (aiohttp's ``on_request_start`` signal)."""

    def __init__(self) -> None:
        self.count = 0
        self.config = aiohttp.TraceConfig()
        self.config.on_request_start.append(self._started)

    async def _started(self, session: object, context: object, params: object) -> None:
        self.count += 1


@asynccontextmanager
async def counted(emu: Emulator) -> AsyncIterator[tuple[D360Client, Started]]:
    """A client on ``emu`` whose session counts the requests it starts."""
    started = Started()
    async with (
        aiohttp.ClientSession(trace_configs=[started.config]) as session,
        D360Client(emu.api_key, base_url=emu.url, rate_limit=None, session=session) as client,
    ):
        yield client, started


async def test_the_report_is_there_right_after_break(client: D360Client) -> None:
    run = client.send_bulk(welcome(2_000), concurrency=10)
    async for _ in run:
        break
    report = run.report  # at once, without awaiting anything
    assert report.interrupted and report.total >= 1
    await run.aclose()
    assert run.report.interrupted and run.report.total >= report.total


def settled(run: BulkRun, seen: list[SendResult]) -> None:
    """The report counts exactly the results the loop saw plus those it did not get."""
    report = run.report
    every = seen + run.leftover_results()
    assert len({r.index for r in every}) == len(every) == report.total
    assert report.sent == sum(r.status is SendStatus.SENT for r in every)
    assert report.unknown == sum(r.status is SendStatus.UNKNOWN for r in every)


@pytest.mark.d360_emulator(rate=None, latency_ms=5)
async def test_break_starts_no_request_and_leaves_a_report(d360_emulator: Emulator) -> None:
    async with counted(d360_emulator) as (client, started):
        run = client.send_bulk(welcome(5_000), concurrency=20)
        seen: list[SendResult] = []
        async for result in run:
            seen.append(result)
            if len(seen) == 100:
                break
        at_break = started.count
        await asyncio.sleep(0.2)  # in-flight requests end; nothing new may start
        assert started.count == at_break
        await run.aclose()  # waits for what was in flight to be recorded
        assert started.count == at_break
    final = run.report
    assert final.interrupted and 100 <= final.total < 5_000
    settled(run, seen)
    accepted = d360_emulator.accepted_counts()
    sent = {r.to for r in seen + run.leftover_results() if r.status is SendStatus.SENT}
    assert sent <= set(accepted) and set(accepted.values()) == {1}
    assert len(accepted) <= final.sent + final.unknown


async def consume_in_async_with(run: BulkRun, seen: list[SendResult], stop_at: int) -> None:
    async with run:
        async for result in run:
            seen.append(result)
            if len(seen) == stop_at:
                raise LookupError("the caller's own error")


@pytest.mark.parametrize("how", ["aclose", "async with"])
@pytest.mark.d360_emulator(rate=None, latency_ms=5)
async def test_aclose_and_leaving_async_with_stop_at_once(
    d360_emulator: Emulator, how: str
) -> None:
    async with counted(d360_emulator) as (client, started):
        run = client.send_bulk(welcome(5_000), concurrency=20)
        seen: list[SendResult] = []
        if how == "aclose":
            async for result in run:
                seen.append(result)
                if len(seen) == 100:
                    await run.aclose()
                    break
        else:
            with pytest.raises(LookupError):
                await consume_in_async_with(run, seen, 100)
        at_exit = started.count
        await asyncio.sleep(0.2)
        assert started.count == at_exit
    assert run.report.interrupted
    settled(run, seen)


@pytest.mark.d360_emulator(rate=None, latency_ms=5)
async def test_cancelling_run_leaves_an_interrupted_report(d360_emulator: Emulator) -> None:
    progress: list[BulkReport] = []
    async with counted(d360_emulator) as (client, started):
        run = client.send_bulk(welcome(50_000), concurrency=20, on_progress=progress.append)
        task = asyncio.create_task(run.run())
        while len(d360_emulator.sent_messages) < 300:  # noqa: ASYNC110 (polling the emulator)
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        at_cancel = started.count
        await asyncio.sleep(0.2)
        assert started.count == at_cancel
    report = run.report
    assert report.interrupted and 300 <= report.total < 50_000
    assert progress[-1] == report  # the last progress call is the final report
    accepted = d360_emulator.accepted_counts()
    assert report.sent <= len(accepted) <= report.sent + report.unknown


@pytest.mark.d360_emulator(rate=None, latency_ms=5)
async def test_aclose_from_another_task_ends_run(d360_emulator: Emulator) -> None:
    async with counted(d360_emulator) as (client, started):
        run = client.send_bulk(welcome(50_000), concurrency=20)
        task = asyncio.create_task(run.run())
        while len(d360_emulator.sent_messages) < 300:  # noqa: ASYNC110 (polling the emulator)
            await asyncio.sleep(0.005)
        await run.aclose()
        report = await task  # run() ends with the interrupted report
        at_close = started.count
        await asyncio.sleep(0.2)
        assert started.count == at_close
    assert report.interrupted and report is run.report
    assert report.sent <= len(d360_emulator.accepted_counts()) <= report.sent + report.unknown


async def test_the_report_before_the_run_is_a_typed_error(client: D360Client) -> None:
    from d360_async import D360Error

    run = client.send_bulk(welcome(1))
    with pytest.raises(D360Error, match="not finished"):
        _ = run.report
    await run.run()
    with pytest.raises(D360Error, match="only once"):
        await run.run()


def test_report_fields_are_additive() -> None:
    report = BulkReport(total=1, sent=1, failed=0, skipped=0, unknown=0, elapsed=1.0)
    assert not report.interrupted and report.stopped is None


@pytest.mark.d360_emulator(rate=None, latency_ms=5)
async def test_closing_the_client_mid_run_stops_the_campaign(d360_emulator: Emulator) -> None:
    client = D360Client(d360_emulator.api_key, base_url=d360_emulator.url, rate_limit=None)
    run = client.send_bulk(welcome(5_000), concurrency=20)
    task = asyncio.create_task(run.run())
    while len(d360_emulator.sent_messages) < 200:  # noqa: ASYNC110 (polling the emulator)
        await asyncio.sleep(0.005)
    await client.close()
    report = await asyncio.wait_for(task, 30)
    assert report.stopped is not None and "closed" in report.stopped
    assert report.total == 5_000 and report.skipped > 4_000
    assert report.sent <= len(d360_emulator.accepted_counts()) <= report.sent + report.unknown


@pytest.mark.d360_emulator(rate=None, latency_ms=50)
async def test_aclose_from_another_task_while_the_loop_body_runs(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    """The consumer is in its loop body when another task calls aclose(): its loop ends
    quietly (no 'generator already running'); aclose() returns once the run is closed."""

    class SlowClose(SQLiteJournal):  # a store whose close takes a moment
        __slots__ = ()

        async def close(self) -> None:
            await asyncio.sleep(0.3)
            await super().close()

    async with counted(d360_emulator) as (client, _):
        run = client.send_bulk(
            welcome(500), journal=SlowClose(tmp_path / "j.sqlite"), preflight=False, concurrency=5
        )
        seen: list[SendResult] = []

        async def consume() -> None:
            async for result in run:
                seen.append(result)
                await asyncio.sleep(0.05)  # the loop body works while aclose() runs

        task = asyncio.create_task(consume())
        while len(seen) < 3:  # noqa: ASYNC110 (polling the consumer)
            await asyncio.sleep(0.01)
        await run.aclose()
        assert run.report.interrupted
        await task  # no exception
    report = run.report
    assert report.interrupted
    assert report.total == len(seen) + len(run.leftover_results())
