"""#15 acceptance: a 10,000-message campaign against the emulator with webhooks on (duplicates,
reordering, ``read`` without ``delivered``, batches, receiver faults retried), the receiver
and its ``DeliveryTracker`` in the same test: the report's counts equal what the emulator
generated, and the statuses of the messages left ``unknown`` settle them."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from d360_async import D360Client, DeliveryTracker, RetryPolicy
from d360_async.testing import Emulator, WebhookSettings
from d360_async.webhooks import Webhook, WebhookReceiver

from .conftest import serving, welcome

N = 10_000
SETTINGS = WebhookSettings(
    delivered=0.3,
    read=0.5,
    failed=0.1,
    read_without_delivered=0.3,
    duplicates=0.2,
    reorder=0.4,
    delay_ms=2,
    jitter_ms=20,
    failed_codes=(131049, 131026, 131050),
    batch_size=20,
    batch_window_ms=5,
    retry_base_ms=5,
)


async def test_the_report_counts_what_the_emulator_generated(tmp_path: Path) -> None:
    journal = tmp_path / "campaign.sqlite"
    refused = 0

    async with DeliveryTracker(journal) as tracker:

        async def flaky(webhook: Webhook) -> None:
            """Every 50th delivery fails first (the sender retries it)."""
            nonlocal refused
            refused += 1
            if refused % 50 == 0:
                raise RuntimeError("the database is having a moment")
            await tracker.handle(webhook)

        receiver = WebhookReceiver(flaky)
        async with (
            serving(receiver.app()) as url,
            # 1% of sends are dropped after the server accepted them: unknown, then settled
            Emulator(
                rate=None,
                seed=15,
                fault_rate=0.01,
                fault_kinds=("drop_after",),
                webhook_url=url,
                webhooks=SETTINGS,
            ) as emu,
            D360Client(
                emu.api_key, base_url=emu.url, rate_limit=None, retry=RetryPolicy(wait=False)
            ) as client,
        ):
            bulk = await client.send_bulk(welcome(N), journal=journal, concurrency=50).run()
            async with asyncio.timeout(120):
                await emu.webhooks.drain()
            report = (await tracker.reports())[0]
            generated = emu.webhooks
            final = Counter(generated.final_statuses().values())
            codes = Counter(s.error_code for s in generated.generated if s.status == "failed")
            accepted = sum(emu.accepted_counts().values())

    assert bulk.unknown > 50  # the drops did happen...
    assert report.unknown == 0  # ...and every one of them was settled by its statuses
    assert report.settled == bulk.unknown
    assert generated.duplicates > 0 and generated.given_up == 0
    assert receiver.failed > 0  # deliveries refused once, delivered again
    assert accepted == report.accepted == N
    assert (report.sent, report.delivered, report.read, report.failed) == (
        final["sent"],
        final["delivered"],
        final["read"],
        final["failed"],
    )
    assert report.failed_by_code == dict(sorted(codes.items()))
    assert report.no_status == 0
    assert tracker.counts.unmatched == 0
