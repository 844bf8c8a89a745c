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

from d360_async import D360Client, DeliveryTracker, RetryPolicy
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

            async def child() -> asyncio.subprocess.Process:
                return await asyncio.create_subprocess_exec(
                    sys.executable, "-c", harness.CHILD, emu.url, emu.api_key, str(journal),
                    str(N), "20", "0", env=env, stdout=asyncio.subprocess.DEVNULL,
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
            assert (
                report.settled
                == report.accepted - sum(1 for s in rows.values() if s == "sent") + report.settled
            )  # every settled row is a sent row
            assert len(unknown) >= emu.faults_injected["drop_before"] > 0
            assert max(accepted.values()) == 1

            # Later: the window has passed for them (aged), the others are re-sent, once.
            age_rows(journal, 3600)
            async with D360Client(
                emu.api_key, base_url=emu.url, rate_limit=None, retry=RetryPolicy(wait=False)
            ) as client:
                resend = await client.send_bulk(
                    _messages(N), journal=journal, resend_unknown_after=1800
                ).run()
            accepted = emu.accepted_counts()

    assert resend.sent == len(unknown)
    assert accepted == {harness.number(i): 1 for i in range(N)}  # nobody twice, nobody left


def _messages(n: int) -> list[dict[str, object]]:
    """The child's messages (``bench_crash.CHILD``), in this process."""
    return [
        {
            "to": f"49151{i:08d}",
            "template": {
                "name": "welcome_offer",
                "language": {"code": "en_US"},
                "components": [
                    {"type": "body", "parameters": [{"type": "text", "text": f"friend {i}"}]}
                ],
            },
        }
        for i in range(n)
    ]
