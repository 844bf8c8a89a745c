"""Per-message isolation (#10 item 2) and callbacks that cannot kill a campaign (item 5):
what belongs to one message fails that message only; only the circuit breaker stops a run."""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from d360_async import (
    APIConnectionError,
    BulkReport,
    D360Client,
    MessageTemplate,
    RetryPolicy,
    SendStatus,
    ValidationError,
)
from d360_async.testing import Emulator

from .conftest import number


def message(i: int, text: Any = None) -> dict[str, Any]:
    """A plain-dict welcome_offer message to recipient ``i``."""
    return {
        "to": number(i),
        "template": {
            "name": "welcome_offer",
            "language": {"code": "en_US"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": f"friend {i}" if text is None else text}
                    ],
                }
            ],
        },
    }


def _no_template(i: int) -> dict[str, Any]:
    return {"to": number(i), "template": None}


BAD: dict[str, tuple[Callable[[int], dict[str, Any]], str]] = {
    "decimal": (lambda i: message(i, Decimal("9.99")), "template.components[0].parameters[0].text"),
    "bytes": (lambda i: message(i, b"friend"), "template.components[0].parameters[0].text"),
    "set": (lambda i: message(i, {"friend"}), "template.components[0].parameters[0].text"),
    "none template": (_no_template, "template"),
    "10 MB parameter": (lambda i: message(i, "x" * 10 * 1024 * 1024), "message"),
}


def journal_statuses(path: Path) -> Counter[str]:
    with sqlite3.connect(path) as conn:
        return Counter(status for (status,) in conn.execute("SELECT status FROM messages"))


@pytest.mark.parametrize("kind", list(BAD))
async def test_one_bad_message_of_a_thousand_fails_alone(
    emu: Emulator, client: D360Client, tmp_path: Path, kind: str
) -> None:
    make_bad, field = BAD[kind]
    messages = [make_bad(i) if i == 500 else message(i) for i in range(1_000)]
    journal = tmp_path / "j.sqlite"

    results = [r async for r in client.send_bulk(messages, journal=journal, concurrency=20)]

    statuses = Counter(r.status for r in results)
    assert statuses == {SendStatus.SENT: 999, SendStatus.FAILED: 1}
    (bad,) = [r for r in results if r.status is SendStatus.FAILED]
    assert bad.index == 500
    assert isinstance(bad.error, ValidationError)
    assert bad.error.field == field
    assert bad.reason == str(bad.error)
    assert number(500) not in emu.accepted_counts()
    assert len(emu.accepted_counts()) == 999
    # Every processed message has its row; none is left pending.
    assert journal_statuses(journal) == {"sent": 999, "failed": 1}


async def test_a_single_send_with_a_decimal_is_a_validation_error(client: D360Client) -> None:
    with pytest.raises(ValidationError) as info:
        await client.send_marketing_message(message(1, Decimal("1.5")))
    assert info.value.field == "template.components[0].parameters[0].text"
    assert "Decimal" in str(info.value)


async def test_wrong_parameter_types_are_named_before_any_request(
    emu: Emulator, client: D360Client
) -> None:
    bad_text = message(1, 42)
    bad_components = {**message(2), "template": {**message(2)["template"], "components": "body"}}
    results = [r async for r in client.send_bulk([message(0), bad_text, bad_components])]
    failed = {r.index: r.error for r in results if r.status is SendStatus.FAILED}
    assert set(failed) == {1, 2}
    assert isinstance(failed[1], ValidationError)
    assert failed[1].field == "template.components[0].parameters[0].text"
    assert isinstance(failed[2], ValidationError)
    assert failed[2].field == "template.components"
    assert emu.requests["send-marketing-message"] == 1


class FlakyTemplates(D360Client):
    """A client whose next ``failures`` lookups of template ``name`` fail after their retries."""

    def __init__(self, *args: Any, name: str, failures: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.flaky = name
        self.failures = failures
        self.lookups = 0

    def iter_message_templates(self, **kwargs: Any) -> AsyncIterator[MessageTemplate]:
        if kwargs.get("name") == self.flaky:
            self.lookups += 1
            if self.failures:
                self.failures -= 1
                return _failing_lookup()
        return super().iter_message_templates(**kwargs)


async def _failing_lookup() -> AsyncIterator[MessageTemplate]:
    raise APIConnectionError(
        "GET /marketing/message_templates: ServerDisconnectedError", maybe_sent=True
    )
    yield  # an async generator  # pragma: no cover


def flaky_digest(emu: Emulator, *, failures: int) -> FlakyTemplates:
    """A client on ``emu`` whose next ``failures`` lookups of weekly_digest fail."""
    return FlakyTemplates(
        emu.api_key,
        base_url=emu.url,
        rate_limit=None,
        retry=RetryPolicy(wait=False),
        name="weekly_digest",
        failures=failures,
    )


def digest(i: int) -> dict[str, Any]:
    return {"to": number(i), "template": {"name": "weekly_digest", "language": {"code": "en_GB"}}}


async def test_a_late_template_lookup_failing_once_still_sends_its_messages(
    emu: Emulator,
) -> None:
    messages = [message(i) if i < 100 else digest(i) for i in range(300)]
    async with flaky_digest(emu, failures=1) as client:
        run = client.send_bulk(messages, concurrency=10, preflight_window=50)
        results = [r async for r in run]
    assert Counter(r.status for r in results) == {SendStatus.SENT: 300}
    assert run.report.stopped is None
    assert client.lookups == 2  # the failure was not cached: looked up again, then cached
    assert len(emu.accepted_counts()) == 300


async def test_a_template_lookup_that_keeps_failing_fails_only_its_messages(
    emu: Emulator,
) -> None:
    messages = [digest(i) if i >= 50 and i % 10 == 0 else message(i) for i in range(200)]
    async with flaky_digest(emu, failures=10**6) as client:
        run = client.send_bulk(messages, concurrency=5, preflight_window=50)
        results = [r async for r in run]
    failed = [r for r in results if r.status is SendStatus.FAILED]
    assert sorted(r.index for r in failed) == list(range(50, 200, 10))
    assert all(isinstance(r.error, APIConnectionError) for r in failed)
    assert all(r.reason and "weekly_digest" in r.reason for r in failed)
    assert run.report.sent == 185 and run.report.stopped is None
    assert client.lookups >= 15  # each failed message looked the template up again


async def test_an_exception_in_on_progress_is_logged_once_and_the_campaign_goes_on(
    emu: Emulator, client: D360Client, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    def broken(report: BulkReport) -> None:
        nonlocal calls
        calls += 1
        raise ValueError("my dashboard is down")

    with caplog.at_level(logging.WARNING, logger="d360_async"):
        report = await client.send_bulk(
            (message(i) for i in range(300)), on_progress=broken, progress_interval=0.0
        ).run()
    assert report.sent == 300
    assert calls > 1  # still called after it raised
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "on_progress" in warnings[0].getMessage()
    assert "ValueError" in warnings[0].getMessage()
