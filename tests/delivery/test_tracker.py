"""``DeliveryTracker``: statuses routed to the campaigns they belong to, by message id before
any match by recipient; a journal that cannot record makes the delivery come again; the final
state of a message is its most advanced status whatever the order and the duplicates."""

from __future__ import annotations

import itertools
import logging
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from d360_async import (
    DeliveryCounts,
    DeliveryReport,
    DeliveryTracker,
    JournalError,
    SQLiteJournal,
    ValidationError,
)
from d360_async._campaign_journal import DELIVERY_RANKS, DeliveryMatch, DeliveryUpdate
from d360_async.webhooks import StatusUpdate, WebhookErrorDetail, WebhookReceiver
from tests.bulk.test_journal_failures import no_journal_thread_left

from .conftest import T0, journal_with


def status(
    message_id: str,
    state: str,
    to: str | None = "4915100000001",
    at: float = T0 + 10,
    code: int | None = None,
) -> StatusUpdate:
    return StatusUpdate(
        id=message_id,
        status=state,
        timestamp=datetime.fromtimestamp(at, UTC),
        recipient_id=to,
        errors=[WebhookErrorDetail(code=code)] if code else (),
    )


def body(*statuses: dict[str, object]) -> bytes:
    value = {"messaging_product": "whatsapp", "statuses": list(statuses)}
    entry = {"id": "1", "changes": [{"field": "messages", "value": value}]}
    return orjson.dumps({"object": "whatsapp_business_account", "entry": [entry]})


async def test_a_status_goes_to_its_campaign_by_id_before_any_match_by_recipient(
    tmp_path: Path,
) -> None:
    spring, summer = tmp_path / "spring.sqlite", tmp_path / "summer.sqlite"
    # the same customer: unknown in spring, accepted as wamid.S in summer
    await journal_with(spring, [(0, "4915100000001", "unknown", None)])
    await journal_with(summer, [(0, "4915100000001", "sent", "wamid.S")])
    async with DeliveryTracker(spring, summer) as tracker:
        counts = await tracker.handle_statuses([status("wamid.S", "read")])
        assert counts == DeliveryCounts(matched=1)
        reports = await tracker.reports()
        assert [(r.read, r.unknown, r.settled) for r in reports] == [(0, 1, 0), (1, 0, 0)]
        # spring's own message settles spring's row
        counts = await tracker.handle_statuses([status("wamid.P", "delivered")])
        assert counts == DeliveryCounts(settled=1)
        counts = await tracker.handle_statuses(
            [
                status("wamid.P", "sent"),
                status("wamid.X", "read", to="4915100000009"),  # nobody's
                status("wamid.Y", "read", to=None),  # no recipient: by id only
                status("wamid.S", "deleted"),
            ]
        )
        assert counts == DeliveryCounts(matched=1, unmatched=2, ignored=1)
        reports = await tracker.reports()
        assert tracker.counts == DeliveryCounts(matched=2, settled=1, unmatched=2, ignored=1)
    assert reports[0] == DeliveryReport(accepted=1, delivered=1, settled=1)
    assert reports[1] == DeliveryReport(accepted=1, read=1)


async def test_the_receiver_hands_deliveries_to_the_tracker(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    await journal_with(path, [(0, "4915100000001", "sent", "wamid.A")])
    async with DeliveryTracker(path) as tracker:
        receiver = WebhookReceiver(tracker.handle)
        answer = await receiver.receive(
            body(
                {
                    "id": "wamid.A",
                    "status": "failed",
                    "timestamp": str(int(T0) + 5),
                    "recipient_id": "4915100000001",
                    "errors": [{"code": 131049}],
                },
            ),
            {},
        )
        assert answer.status == 200
        report = (await tracker.reports())[0]
    assert (report.failed, report.failed_by_code) == (1, {131049: 1})


class Broken(SQLiteJournal):
    """A journal whose store is down for its first ``failures`` writes of statuses."""

    failures = 1

    async def record_deliveries(self, updates: object) -> list[DeliveryMatch]:
        if self.failures:
            self.failures -= 1
            raise JournalError("journal broken.sqlite failed: disk I/O error")
        return await super().record_deliveries(updates)  # type: ignore[arg-type]


async def test_a_journal_that_cannot_record_gets_the_delivery_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "j.sqlite"
    await journal_with(path, [(0, "4915100000001", "sent", "wamid.A")])
    delivery = body({"id": "wamid.A", "status": "read", "timestamp": str(int(T0))})
    async with DeliveryTracker(Broken(path)) as tracker:
        receiver = WebhookReceiver(tracker.handle)
        with caplog.at_level(logging.ERROR, "d360_async.webhooks"):
            first = await receiver.receive(delivery, {})
        again = await receiver.receive(delivery, {})  # the sender's retry
        report = (await tracker.reports())[0]
    assert (first.status, again.status) == (500, 200)
    assert "JournalError" in caplog.text
    assert report.read == 1


async def test_bad_journals_are_refused_naming_them(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="journal"):
        DeliveryTracker(42)  # type: ignore[arg-type]
    tracker = DeliveryTracker()
    with pytest.raises(ValidationError, match="journal"):
        await tracker.track(b"j.sqlite")  # type: ignore[arg-type]
    await tracker.close()
    with pytest.raises(ValidationError, match="closed"):
        await tracker.handle_statuses([])


async def test_a_journal_can_be_tracked_while_running(tmp_path: Path) -> None:
    path = tmp_path / "late.sqlite"
    await journal_with(path, [(0, "4915100000001", "sent", "wamid.L")])
    async with DeliveryTracker() as tracker:
        assert await tracker.handle_statuses([status("wamid.L", "read")]) == DeliveryCounts(
            unmatched=1
        )
        notes = tmp_path / "notes.txt"
        notes.write_text("not a journal " * 200)
        with pytest.raises(JournalError, match="notes"):
            await tracker.track(notes)  # refused, and not kept
        await tracker.track(path)
        assert await tracker.handle_statuses([status("wamid.L", "read")]) == DeliveryCounts(
            matched=1
        )
        assert [str(j) for j in tracker.journals] == [str(path)]
    await no_journal_thread_left()  # the refused journal's thread too


# -- property: the final state is the most advanced status ----------------------------------

MESSAGES = 4
CODES = (131026, 131049, 131050, 130472)
#: For each message: sent with its id (row "sent"), or unknown (settled by the first status).
kinds = st.lists(st.sampled_from(["sent", "unknown"]), min_size=MESSAGES, max_size=MESSAGES)
events = st.lists(
    st.tuples(st.integers(0, MESSAGES - 1), st.sampled_from(sorted(DELIVERY_RANKS))),
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(kinds=kinds, events=events, cuts=st.lists(st.integers(0, 25), max_size=4))
async def test_the_final_state_is_the_maximum_whatever_the_order_and_duplicates(
    kinds: list[str], events: list[tuple[int, str]], cuts: list[int]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "j.sqlite"
        await journal_with(
            path,
            [
                (i, f"49151000000{i:02d}", kind, f"wamid.{i}" if kind == "sent" else None)
                for i, kind in enumerate(kinds)
            ],
        )
        given_ = [
            status(
                f"wamid.{i}", s, to=f"49151000000{i:02d}", code=CODES[i] if s == "failed" else None
            )
            for i, s in events
        ]
        bounds = sorted({0, len(given_), *(c for c in cuts if c < len(given_))})
        async with DeliveryTracker(path) as tracker:
            for start, end in itertools.pairwise(bounds):  # deliveries of any size
                await tracker.handle_statuses(given_[start:end])
            report = (await tracker.reports())[0]
    final: dict[int, str] = {}
    for i, s in events:
        if DELIVERY_RANKS[s] > DELIVERY_RANKS.get(final.get(i, ""), 0):
            final[i] = s
    by_status = Counter(final.values())
    accepted = sum(1 for i, kind in enumerate(kinds) if kind == "sent" or i in final)
    assert report.accepted == accepted
    assert report.unknown == MESSAGES - accepted
    assert report.settled == sum(
        1 for i, kind in enumerate(kinds) if kind == "unknown" and i in final
    )
    assert (report.sent, report.delivered, report.read, report.failed) == (
        by_status["sent"], by_status["delivered"], by_status["read"], by_status["failed"]
    )  # fmt: skip
    assert dict(report.failed_by_code) == dict(
        Counter(CODES[i] for i, s in final.items() if s == "failed")
    )
    assert report.no_status == accepted - len(final)


async def test_an_update_that_is_not_a_delivery_status_is_not_recorded(tmp_path: Path) -> None:
    journal = SQLiteJournal(tmp_path / "j.sqlite")
    await journal.open(None)
    try:
        update = DeliveryUpdate(message_id="wamid.A", status="played", timestamp=T0)
        assert await journal.record_deliveries([update]) == [DeliveryMatch.NONE]
        assert await journal.record_deliveries([]) == []
    finally:
        await journal.close()


async def test_a_journal_that_could_not_be_opened_once_is_opened_on_the_next_delivery(
    tmp_path: Path,
) -> None:
    """Core review item 8: a journal whose folder is missing fails to open (the delivery
    comes again); once the folder is there, the next delivery opens it and is recorded."""
    healthy, later = tmp_path / "ok.sqlite", tmp_path / "later" / "campaign.sqlite"
    await journal_with(healthy, [(0, "4915100000001", "sent", "wamid.A")])
    tracker = DeliveryTracker(healthy, later)
    try:
        for _ in range(2):
            with pytest.raises(JournalError, match="unable to open"):
                await tracker.handle_statuses([status("wamid.A", "read")])
        later.parent.mkdir()
        counts = await tracker.handle_statuses([status("wamid.A", "read")])
        assert counts == DeliveryCounts(matched=1)
        reports = await tracker.reports()
        assert [r.read for r in reports] == [1, 0]
    finally:
        await tracker.close()
    await no_journal_thread_left()


async def test_a_status_the_journal_cannot_store_fails_alone_and_releases_the_file(
    tmp_path: Path,
) -> None:
    """User review F6: an error code SQLite cannot store (here past int64) fails that
    delivery only; the journal goes on recording, and the file's write lock is not held
    (a campaign's run on the same file can write)."""
    path = tmp_path / "j.sqlite"
    await journal_with(path, [(0, "4915100000001", "sent", "wamid.A")])
    async with DeliveryTracker(path) as tracker:
        with pytest.raises(JournalError):
            await tracker.handle_statuses([status("wamid.A", "failed", code=2**63)])
        other = SQLiteJournal(path, busy_timeout=0.5)
        await other.open(None)
        try:
            other.record(1, "r", "f", "failed")
            await other.flush()  # the lock is free
        finally:
            await other.close()
        counts = await tracker.handle_statuses([status("wamid.A", "failed", code=131049)])
        assert counts == DeliveryCounts(matched=1)
        report = (await tracker.reports())[0]
    assert (report.failed, report.failed_by_code) == (1, {131049: 1})
