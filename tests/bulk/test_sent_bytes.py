"""The bytes checked, fingerprinted and journaled at admission are the bytes sent: a caller that
reuses (and changes) one nested dict for every message must not make earlier messages carry a
later message's values."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from d360_async import D360Client, PreflightError
from d360_async.testing import Emulator

from .conftest import number


def reusing(n: int, last_params: int = 1) -> Iterator[dict[str, Any]]:
    """Messages sharing ONE template dict, whose parameters change per message."""
    parameters: list[dict[str, Any]] = [{"type": "text", "text": ""}]
    template = {
        "name": "welcome_offer",
        "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": parameters}],
    }
    for i in range(n):
        parameters[:] = [
            {"type": "text", "text": f"customer {i}"}
            for _ in range(last_params if i == n - 1 else 1)
        ]
        yield {"to": number(i), "template": template}


def texts(emu: Emulator) -> dict[str, str]:
    return {s.wa_id: s.components[0]["parameters"][0]["text"] for s in emu.sent_messages}


async def test_each_message_is_sent_with_its_own_values(emu: Emulator, client: D360Client) -> None:
    report = await client.send_bulk(reusing(50)).run()
    assert report.sent == 50
    assert texts(emu) == {number(i): f"customer {i}" for i in range(50)}


async def test_each_message_is_sent_with_its_own_values_with_a_journal(
    emu: Emulator, client: D360Client, tmp_path: Path
) -> None:
    report = await client.send_bulk(reusing(30), journal=tmp_path / "j.sqlite").run()
    assert report.sent == 30
    assert texts(emu) == {number(i): f"customer {i}" for i in range(30)}


async def test_template_fit_is_judged_on_the_admitted_message(
    emu: Emulator, client: D360Client
) -> None:
    """Only the last message has two body parameters (the template has one placeholder):
    preflight names it alone, not the earlier ones checked after the shared dict changed."""
    with pytest.raises(PreflightError) as caught:
        await client.send_bulk(reusing(20, last_params=2)).run()
    assert [p.messages for p in caught.value.grouped] == [(19,)]
    assert emu.sent_messages == []
