"""``d360 demo``: the whole SDK on an embedded emulator, as a newcomer runs it."""

from __future__ import annotations

import re

from .conftest import d360


async def test_demo_runs_and_ends_with_its_summary() -> None:
    run = await d360("demo")

    assert run.code == 0, run.err
    summary = re.compile(
        r"^summary: sent=9980 failed=10 skipped=10 unknown=0 events=5000 duplicates=0 "
        r"in [\d.]+s \([\d,]+ messages/s\)$",
        re.M,
    )
    assert summary.search(run.out), run.out
    assert run.out.rstrip().splitlines()[-1].startswith("summary: ")
    for title in (
        "message templates",
        "template analytics (last 24 h)",
        "ads insights, campaign level, last 7 days",
        "dataset quality",
    ):
        assert re.search(rf"^{re.escape(title)}\s*$", run.out, re.M), title
    assert "campaign: 10,000 rows x summer_sale (en_US), send_bulk" in run.out
    assert "  failed: 10 x code 131050 (recipients who opted out, on purpose)" in run.out
    assert re.search(
        r"^events: received=5000 rejected=0 failed=0 of 5,000 events, 5 batches", run.out, re.M
    )
    assert re.search(r"with a 429: retried; recipients messaged twice: 0$", run.out, re.M)
    # stderr is not a terminal: at most a plain progress line every few seconds (how many
    # depends on the machine's speed), nothing else.
    progress = re.compile(r"^(campaign|events): [\d,]+(/[\d,]+)? .*\([\d,]+/s\)$")
    assert all(progress.match(line) for line in run.err.splitlines()), run.err


async def test_a_smaller_demo() -> None:
    run = await d360("demo", "--recipients", "1500", "--events", "10", "--concurrency", "8")

    assert run.code == 0, run.err
    assert "summary: sent=1498 failed=1 skipped=1 unknown=0 events=10 duplicates=0" in run.out
    # The campaign's delivery report, from the status webhooks, comes last before the summary.
    lines = run.out.rstrip().splitlines()
    assert lines[-6].strip() == "delivery report (status webhooks)"
    assert lines[-5].split()[:6] == ["accepted", "no_status", "sent", "delivered", "read", "failed"]
    counts = lines[-3].split()
    assert (counts[0], counts[1]) == ("1,498", "0")  # every accepted message has a status
    assert counts[-5:] == ["0", "0", "0", "1", "1"]  # unknown, settled, pending, not sent, skipped
    assert re.fullmatch(
        r"  webhooks: [\d,]+ statuses \(\+[\d,]+ sent twice, some out of order\) received in "
        r"this process; the report counts what the emulator generated: yes",
        lines[-2],
    )
