"""Rows skipped by ``--skip-invalid`` count as ``skipped`` everywhere: the progress lines, the
summary of a finished run and of an interrupted one, and the ``--results`` file agree (F10)."""

from __future__ import annotations

import csv
import re
import signal
from collections import Counter
from pathlib import Path

import pytest

from d360_async._bulk import BulkReport, SendResult, SendStatus
from d360_async.cli._common import Context
from d360_async.cli._send import _Output
from d360_async.testing import Emulator

from .conftest import customers, d360_stopped

WELCOME = ("--template", "welcome_offer", "--language", "en_US", "--param-columns", "name")
SUMMARY = re.compile(r"^summary: sent=(\d+) failed=(\d+) skipped=(\d+) unknown=(\d+) ", re.M)


def test_the_counts_are_those_of_the_rows_as_reported() -> None:
    ctx = Context(api_key="k", base_url="", timeout=1, retries=0, verbose=False)
    output = _Output(ctx, None, {0: "invalid row: column 'to': is empty"})
    output.row(SendResult(index=0, to="", status=SendStatus.FAILED, reason="message: to"))
    output.row(SendResult(index=1, to="+491511", status=SendStatus.SENT, message_id="wamid.1"))
    sdk = BulkReport(total=2, sent=1, failed=1, skipped=0, unknown=0, elapsed=1.0)

    shown = output.outcome(sdk)

    assert (shown.total, shown.sent, shown.failed, shown.skipped, shown.unknown) == (2, 1, 0, 1, 0)
    assert shown.elapsed == 1.0


@pytest.mark.d360_emulator(rate=None, latency_ms=20)
async def test_an_interrupted_run_counts_invalid_rows_as_skipped(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    n = 300
    source = customers(tmp_path / "c.csv", n, bad={1: "", 2: "0151 2345678", 3: "x"})
    results = tmp_path / "results.csv"
    stopped = await d360_stopped(
        "send", *WELCOME, "--csv", source, "--skip-invalid", "--results", results,
        "--concurrency", "4", "--rate", "100", emulator=d360_emulator, signum=signal.SIGINT,
        when=lambda: len(d360_emulator.sent_messages) >= 20,
    )  # fmt: skip
    out, err = stopped.out, stopped.err

    assert stopped.code == 130, err
    match = SUMMARY.search(out)
    assert match, out
    sent, failed, skipped, unknown = (int(g) for g in match.groups())
    assert (failed, skipped) == (0, 3)
    with results.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    statuses = Counter(r["status"] for r in rows)
    assert statuses["skipped"] == 3 and statuses["failed"] == 0
    assert statuses["sent"] == sent and statuses["unknown"] == unknown
    assert "the failed ones" not in err
