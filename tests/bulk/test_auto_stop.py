"""Stopping a campaign run with ``concurrency="auto"`` (the default): workers waiting for a
permit end cancelled, whatever the order of their cancellation and the permits' release."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from d360_async import D360Client, RetryPolicy
from d360_async.testing import Emulator

from .conftest import welcome

pytestmark = pytest.mark.d360_emulator(rate=None, latency_ms=300)


def client_on(emu: Emulator) -> D360Client:
    # a rate limit: "auto" sizes its permits from it, and most workers wait for a permit
    return D360Client(emu.api_key, base_url=emu.url, rate_limit=80, retry=RetryPolicy(wait=False))


async def started(emu: Emulator) -> None:
    while not emu.sent_messages:  # noqa: ASYNC110 (polling the emulator)
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("how", ["cancel", "aclose"])
async def test_stopping_an_auto_run_from_another_task(d360_emulator: Emulator, how: str) -> None:
    async with client_on(d360_emulator) as client:
        run = client.send_bulk(welcome(2000), preflight=False)
        task = asyncio.create_task(run.run())
        await started(d360_emulator)
        await asyncio.sleep(0.1)
        if how == "cancel":
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        else:
            await asyncio.wait_for(run.aclose(), 30)
            assert (await task).interrupted
    assert run.report.interrupted


async def test_aclose_from_a_slow_loop_body_returns(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    """A consumer slower than the sends: the results queue is full when it calls aclose()."""
    async with client_on(d360_emulator) as client:
        run = client.send_bulk(welcome(2000), journal=tmp_path / "j.sqlite", preflight=False)
        async for _ in run:
            await asyncio.sleep(1)  # the workers fill the results queue meanwhile
            await asyncio.wait_for(run.aclose(), 30)
    report = run.report
    assert report.interrupted
    assert report.sent + report.unknown >= len(d360_emulator.accepted_counts()) >= report.sent
