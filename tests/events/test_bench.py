"""The events benchmark runs end to end on a small load: its three senders agree on the
digests, deliver every event exactly once, and it prints its table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_events.py"
TIER = SCRIPT.with_name("bench_tier.py")


def test_the_benchmark_runs_on_a_small_load() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--events", "1500", "--rounds", "1", "--warmup", "300"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "d360-async / hand-written:" in result.stdout
    assert "acknowledged" not in result.stdout  # no sender lost or doubled an event
    for sender in ("d360-async", "hand-written"):
        assert any(line.startswith(sender) for line in result.stdout.splitlines())


def test_the_python_cost_of_an_events_request_runs_on_a_small_load() -> None:
    # It raises when a run does not deliver every request (events received, sends sent).
    result = subprocess.run(
        [sys.executable, str(TIER), "python-cost", "--requests", "300", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for label in ("bare loop over the stub", "send_conversion_events(...).run()", "send_bulk"):
        assert any(line.startswith(label) for line in result.stdout.splitlines()), label
