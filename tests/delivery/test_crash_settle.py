"""#15 acceptance, the crash test: a journaled campaign SIGKILLed mid-flight (and losing
answers: the server drops some connections before, some after, accepting), with webhooks on
and the receiver in this process. The unknown messages the server did accept are settled as
``sent`` by their statuses; ``resend_unknown_after`` then re-sends the others, and no
recipient is messaged twice. The child is ``benchmarks/bench_crash.py``'s."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import random
import signal
import sys
from pathlib import Path
from types import ModuleType

import pytest

from d360_async import DeliveryTracker
from d360_async.testing import Emulator, WebhookSettings
from d360_async.webhooks import WebhookReceiver

from .conftest import age_rows, row_statuses, serving

ROOT = Path(__file__).resolve().parents[2]
N = 1_200
KILLS = 3


def _harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_crash", ROOT / "benchmarks" / "bench_crash.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_crash", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(180)
async def test_accepted_unknowns_are_settled_and_only_the_others_resent(tmp_path: Path) -> None:
    harness = _harness()
    journal = tmp_path / "crash.sqlite"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH"))))
    rng = random.Random(15)
    # one request in 40 loses its answer: before the server accepts it, or after (in the
    # first 900 requests: the campaign makes more, and the last run none of these faults)
    faults = (["ok"] * 19 + ["drop_before"] + ["ok"] * 19 + ["drop_after"]) * 22
    settings = WebhookSettings(delay_ms=20, jitter_ms=30, duplicates=0.1, reorder=0.2)

    async with DeliveryTracker(journal) as tracker:
        receiver = WebhookReceiver(tracker.handle)
        async with (
            serving(receiver.app()) as url,
            Emulator(
                rate=None, latency_ms=20, seed=15, faults=faults, webhook_url=url, webhooks=settings
            ) as emu,
        ):

            async def child(*resend_after: str) -> asyncio.subprocess.Process:
                return await asyncio.create_subprocess_exec(
                    sys.executable, "-c", harness.CHILD, emu.url, emu.api_key, str(journal),
                    str(N), "20", "0", *resend_after, env=env, stdout=asyncio.subprocess.DEVNULL,
                )  # fmt: skip

            pending_at_kills: set[int] = set()
            for target in sorted(rng.sample(range(100, N - 200), KILLS)):
                process = await child()
                async with asyncio.timeout(60):
                    while len(emu.sent_messages) < target:  # noqa: ASYNC110
                        await asyncio.sleep(0.002)
                process.send_signal(signal.SIGKILL)
                await process.wait()
                rows = row_statuses(journal)
                pending_at_kills |= {i for i, s in rows.items() if s == "pending"}
            process = await child()  # the plain re-run: unknowns are not sent again
            async with asyncio.timeout(60):
                assert await process.wait() == 0
            async with asyncio.timeout(60):
                await emu.webhooks.drain()

            accepted = emu.accepted_counts()
            rows = row_statuses(journal)
            report = (await tracker.reports())[0]
            unknown = {i for i, s in rows.items() if s == "unknown"}
            # every unknown left is a message the server never accepted...
            assert not {harness.number(i) for i in unknown} & set(accepted)
            # ...the accepted ones were settled: those a kill caught in flight, and those
            # whose answer was dropped after the server accepted them
            assert pending_at_kills, "no kill caught a message in flight"
            assert report.settled >= emu.faults_injected["drop_after"] > 0
            assert report.accepted == sum(1 for s in rows.values() if s == "sent")
            assert len(unknown) >= emu.faults_injected["drop_before"] > 0
            assert max(accepted.values()) == 1
            print(  # shown with pytest -s
                f"\n{len(pending_at_kills)} pending at {KILLS} kills, "
                f"{emu.faults_injected['drop_after']} answers dropped after acceptance, "
                f"{emu.faults_injected['drop_before']} before: {report.settled} settled by "
                f"their webhooks, {len(unknown)} left unknown (never accepted)"
            )

            # Later: the window has passed for them (aged), the others are re-sent, once.
            age_rows(journal, 3600)
            process = await child("1800")  # resend_unknown_after=1800
            async with asyncio.timeout(60):
                assert await process.wait() == 0
            accepted = emu.accepted_counts()
            resent = {i for i, s in row_statuses(journal).items() if s == "sent"} & unknown

    assert resent == unknown
    assert accepted == {harness.number(i): 1 for i in range(N)}  # nobody twice, nobody left
