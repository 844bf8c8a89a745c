"""``retry_ambiguous_sends=True``: once an attempt may have been acted upon, the message stays
"may have been written" whatever later attempts say (a throttled retry, a limiter that fails):
the journal keeps its row, a plain re-run does not send it again, the result is unknown."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from d360_async import (
    D360Client,
    LimiterUnavailableError,
    RetryPolicy,
    Scope,
    SendStatus,
)
from d360_async.testing import Emulator

from .conftest import WELCOME, number

AMBIGUOUS = RetryPolicy(retry_ambiguous_sends=True, initial_backoff=0.01, jitter=0.0)


def rows(path: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(path) as db:
        return db.execute("select idx, status from messages").fetchall()


async def test_a_throttled_retry_after_an_ambiguous_attempt_keeps_the_row(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    message = WELCOME.build(number(1), body=["x"])
    async with Emulator(rate=None, faults=("drop_after", "429"), retry_after=30) as emu:
        async with D360Client(emu.api_key, base_url=emu.url, rate_limit=None, retry=AMBIGUOUS) as c:
            run = c.send_bulk([message], journal=path, preflight=False)
            task = asyncio.create_task(run.run())
            while sum(emu.faults_injected.values()) < 2:  # noqa: ASYNC110 (polling)
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)  # in the 429's pause
            await run.aclose()
            report = await task
        assert report.unknown == 1
        assert rows(path) == [(0, "unknown")]
        async with D360Client(emu.api_key, base_url=emu.url, rate_limit=None) as c:
            again = await c.send_bulk([message], journal=path, preflight=False).run()
        assert again.sent == 0
        assert len(emu.messages_to(number(1))) == 1


class FailsAfterFirst:
    """A limiter that lets the first request through, then cannot decide."""

    def __init__(self) -> None:
        self.calls = 0

    async def acquire(self, scope: Scope, *, key: str | None = None) -> None:
        self.calls += 1
        if self.calls > 1:
            raise LimiterUnavailableError("the store is gone")

    async def pause(self, scope: Scope, seconds: float) -> None:
        pass


async def test_a_limiter_failing_after_an_ambiguous_attempt_leaves_it_unknown(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite"
    async with (
        Emulator(rate=None, faults=("drop_after",)) as emu,
        D360Client(
            emu.api_key, base_url=emu.url, rate_limit=FailsAfterFirst(), retry=AMBIGUOUS
        ) as c,
    ):
        results = [
            r
            async for r in c.send_bulk(
                [WELCOME.build(number(1), body=["x"])], journal=path, preflight=False
            )
        ]
    assert [r.status for r in results] == [SendStatus.UNKNOWN]
    assert isinstance(results[0].error, LimiterUnavailableError)
    assert results[0].error.maybe_sent_before
    assert rows(path) == [(0, "unknown")]
