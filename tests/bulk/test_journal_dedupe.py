"""De-duplication across runs (user review F2): a recipient the journal already holds as
messaged (``sent``, ``unknown``, ``pending``) at another position is not messaged again when a
re-run brings it at a new position (a rejected row fixed, a row changed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from d360_async import D360Client, SendResult, SendStatus
from d360_async.testing import Emulator

from .conftest import WELCOME, number


def broken(to: str) -> dict[str, Any]:
    """A message refused at admission (a body parameter with no text)."""
    return {
        "to": to,
        "template": {
            "name": "welcome_offer",
            "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": None}]}],
        },
    }


async def results(
    client: D360Client, messages: list[Any], path: Path, **options: Any
) -> list[SendResult]:
    async with client.send_bulk(messages, journal=path, **options) as run:
        return sorted([result async for result in run], key=lambda r: r.index)


async def test_a_fixed_row_whose_recipient_an_earlier_run_messaged_is_skipped(
    emu: Emulator, client: D360Client, tmp_path: Path
) -> None:
    path = tmp_path / "j.sqlite"
    ada = WELCOME.build(number(1), body=["Ada"])
    first = await results(
        client, [broken(number(1)), ada, WELCOME.build(number(2), body=["Cy"])], path
    )
    assert [r.status for r in first] == [SendStatus.FAILED, SendStatus.SENT, SendStatus.SENT]

    fixed = [WELCOME.build(number(1), body=["Al"]), ada, WELCOME.build(number(2), body=["Cy"])]
    again = await results(client, fixed, path)

    assert [(r.status, r.reason) for r in again] == [
        (SendStatus.SKIPPED, "recipient already messaged in an earlier run (message 1)"),
        (SendStatus.SKIPPED, "already sent in an earlier run"),
        (SendStatus.SKIPPED, "already sent in an earlier run"),
    ]
    assert emu.accepted_counts() == {number(1): 1, number(2): 1}
    third = await results(client, fixed, path)  # the skip is journaled: the same again
    assert [r.status for r in third] == [SendStatus.SKIPPED] * 3
    assert emu.accepted_counts() == {number(1): 1, number(2): 1}


async def test_a_recipient_of_unknown_outcome_at_another_row_is_not_messaged_again(
    emu: Emulator, client: D360Client, tmp_path: Path
) -> None:
    path = tmp_path / "j.sqlite"
    emu.add_faults(["drop_after"])  # row 1's answer is lost after the server accepted it
    first = await results(
        client, [broken(number(8)), WELCOME.build(number(8), body=["x"])], path, concurrency=1
    )
    assert [r.status for r in first] == [SendStatus.FAILED, SendStatus.UNKNOWN]

    fixed = [WELCOME.build(number(8), body=["y"]), WELCOME.build(number(8), body=["x"])]
    again = await results(client, fixed, path)
    assert [(r.status, r.reason) for r in again] == [
        (SendStatus.SKIPPED, "recipient already messaged in an earlier run (message 1)"),
        (SendStatus.UNKNOWN, "outcome unknown in an earlier run; not sent again"),
    ]
    assert emu.accepted_counts() == {number(8): 1}


async def test_with_dedupe_false_a_recipient_may_be_messaged_at_several_rows(
    emu: Emulator, client: D360Client, tmp_path: Path
) -> None:
    path = tmp_path / "j.sqlite"
    first = await results(client, [broken(number(7)), WELCOME.build(number(7), body=["x"])], path)
    assert [r.status for r in first] == [SendStatus.FAILED, SendStatus.SENT]
    fixed = [WELCOME.build(number(7), body=["y"]), WELCOME.build(number(7), body=["x"])]
    again = await results(client, fixed, path, dedupe=False)
    assert [r.status for r in again] == [SendStatus.SENT, SendStatus.SKIPPED]
    assert emu.accepted_counts() == {number(7): 2}  # repeats are what dedupe=False asks for
