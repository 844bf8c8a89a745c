"""``send_bulk(resend_unknown_after=...)`` (#15 item 4): an unknown message is re-sent only
once its settle window passed with no status settling it; never by default."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from d360_async import (
    D360Client,
    DeliveryTracker,
    JournalError,
    SendStatus,
    ValidationError,
)
from d360_async.testing import Emulator

from .conftest import age_rows, number, row_statuses, status_of, welcome


async def unknown_campaign(emu: Emulator, client: D360Client, path: Path, n: int) -> None:
    """Send ``n`` messages whose answers are all lost after the server accepted them."""
    emu.add_faults(["drop_after"] * n)
    first = await client.send_bulk(welcome(n), journal=path, concurrency=1).run()
    assert first.unknown == n
    assert emu.accepted_counts() == {number(i): 1 for i in range(n)}


async def test_only_the_unknowns_no_status_settled_are_resent_after_the_window(
    emu: Emulator, client: D360Client, tmp_path: Path
) -> None:
    path = tmp_path / "j.sqlite"
    await unknown_campaign(emu, client, path, 4)
    # webhooks arrive for messages 0 and 2 only (those of 1 and 3 were lost)
    accepted = {m.wa_id: m for m in emu.sent_messages}
    async with DeliveryTracker(path) as tracker:
        counts = await tracker.handle_statuses(
            [status_of(accepted[number(0)], "delivered"), status_of(accepted[number(2)], "sent")]
        )
    assert counts.settled == 2

    within = await client.send_bulk(
        welcome(4), journal=path, resend_unknown_after=timedelta(hours=1)
    ).run()
    assert (within.sent, within.skipped, within.unknown) == (0, 2, 2)  # window not passed
    assert sum(emu.accepted_counts().values()) == 4

    age_rows(path, 3601)
    run = client.send_bulk(welcome(4), journal=path, resend_unknown_after=3600)
    results = {r.index: r.status async for r in run}
    assert results == {
        0: SendStatus.SKIPPED,
        1: SendStatus.SENT,
        2: SendStatus.SKIPPED,
        3: SendStatus.SENT,
    }
    # the settled ones were not messaged again; the two whose webhooks were lost were
    assert emu.accepted_counts() == {number(0): 1, number(1): 2, number(2): 1, number(3): 2}
    assert row_statuses(path) == dict.fromkeys(range(4), "sent")


async def test_without_the_option_unknowns_are_never_resent(
    emu: Emulator, client: D360Client, tmp_path: Path
) -> None:
    path = tmp_path / "j.sqlite"
    await unknown_campaign(emu, client, path, 2)
    age_rows(path, 10 * 86400)
    again = await client.send_bulk(welcome(2), journal=path).run()
    assert (again.sent, again.unknown) == (0, 2)
    assert emu.accepted_counts() == {number(0): 1, number(1): 1}


async def test_the_window_is_refused_when_no_status_was_ever_recorded(
    emu: Emulator, client: D360Client, tmp_path: Path
) -> None:
    """User review F8: with no tracker ever attached, every unknown message looks "not
    settled" and would be re-sent, those the server accepted too. Refused before any request;
    ``resend_unknown=True`` is the explicit way to re-send them all."""
    path = tmp_path / "j.sqlite"
    await unknown_campaign(emu, client, path, 3)
    age_rows(path, 7200)
    before = row_statuses(path)

    with pytest.raises(JournalError, match="no delivery status") as info:
        await client.send_bulk(welcome(5), journal=path, resend_unknown_after=3600).run()
    assert "resend_unknown=True" in str(info.value)
    assert emu.accepted_counts() == {number(i): 1 for i in range(3)}
    assert row_statuses(path) == before

    everything = await client.send_bulk(welcome(5), journal=path, resend_unknown=True).run()
    assert (everything.sent, everything.unknown) == (5, 0)


async def test_the_window_is_accepted_when_there_is_nothing_to_settle(
    emu: Emulator, client: D360Client, tmp_path: Path
) -> None:
    """A first run, or a journal with no unknown message, needs no status to go by."""
    path = tmp_path / "j.sqlite"
    first = await client.send_bulk(welcome(3), journal=path, resend_unknown_after=60).run()
    again = await client.send_bulk(welcome(4), journal=path, resend_unknown_after=60).run()
    assert (first.sent, again.sent, again.skipped) == (3, 1, 3)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (0, "more than 0"),
        (-5, "more than 0"),
        (timedelta(0), "more than 0"),
        (True, "seconds"),
        ("3600", "seconds"),
        (float("nan"), "more than 0"),
        (float("inf"), "finite"),
    ],
)
async def test_a_bad_window_is_refused_naming_it(
    client: D360Client, tmp_path: Path, value: Any, reason: str
) -> None:
    with pytest.raises(ValidationError, match=rf"resend_unknown_after.*{reason}"):
        client.send_bulk(welcome(1), journal=tmp_path / "j.sqlite", resend_unknown_after=value)


async def test_the_window_needs_a_journal_and_excludes_resend_unknown(
    client: D360Client, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError, match=r"resend_unknown_after.*journal"):
        client.send_bulk(welcome(1), resend_unknown_after=60)
    with pytest.raises(ValidationError, match=r"resend_unknown_after.*resend_unknown"):
        client.send_bulk(
            welcome(1), journal=tmp_path / "j.sqlite", resend_unknown=True, resend_unknown_after=60
        )
