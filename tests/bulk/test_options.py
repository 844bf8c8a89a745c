"""Bad arguments of ``send_bulk`` and ``SQLiteJournal`` are refused at once with a
``ValidationError`` naming them; nothing is sent."""

from __future__ import annotations

from typing import Any

import pytest

from d360_async import D360Client, SQLiteJournal, ValidationError
from d360_async.testing import Emulator

from .conftest import welcome

BAD_OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("messages", {"messages": 12}),
    ("messages", {"messages": "4915100000001"}),
    ("concurrency", {"concurrency": 0}),
    ("concurrency", {"concurrency": 2.5}),
    ("concurrency", {"concurrency": True}),
    ("preflight_window", {"preflight_window": "10"}),
    ("progress_interval", {"progress_interval": float("nan")}),
    ("progress_interval", {"progress_interval": -1}),
    ("on_progress", {"on_progress": "print"}),
    ("preflight", {"preflight": "yes"}),
    ("dedupe", {"dedupe": None}),
    ("resend_unknown", {"resend_unknown": 1}),
    ("campaign_id", {"campaign_id": " "}),
    ("campaign_id", {"campaign_id": 7, "journal": "j.sqlite"}),
    ("campaign_id", {"campaign_id": "spring"}),  # without a journal
    ("journal", {"journal": 42}),
    ("journal", {"journal": b"j.sqlite"}),
]


@pytest.mark.parametrize(("field", "options"), BAD_OPTIONS)
async def test_bad_options_are_named(
    emu: Emulator, client: D360Client, field: str, options: dict[str, Any]
) -> None:
    messages = options.pop("messages", list(welcome(3)))
    with pytest.raises(ValidationError) as info:
        client.send_bulk(messages, **options)
    assert info.value.field == field
    assert emu.requests["send-marketing-message"] == 0


@pytest.mark.parametrize(
    ("field", "arguments"),
    [
        ("path", {"path": 3}),
        ("busy_timeout", {"path": "j.sqlite", "busy_timeout": "5"}),
        ("busy_timeout", {"path": "j.sqlite", "busy_timeout": -1}),
        ("pragmas", {"path": "j.sqlite", "pragmas": ["cache_size"]}),
        ("pragmas", {"path": "j.sqlite", "pragmas": {"cache size; DROP TABLE meta": 1}}),
        ("pragmas.cache_size", {"path": "j.sqlite", "pragmas": {"cache_size": "1; DROP"}}),
        ("pragmas.cache_size", {"path": "j.sqlite", "pragmas": {"cache_size": 1.5}}),
    ],
)
def test_bad_journal_arguments_are_named(field: str, arguments: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as info:
        SQLiteJournal(**arguments)
    assert info.value.field == field


def test_plain_pragmas_are_taken() -> None:
    journal = SQLiteJournal("j.sqlite", pragmas={"max_page_count": 1000, "cache_size": -2000})
    assert journal.busy_timeout == 5.0
