"""The webhook benchmark runs end to end on a small load: every delivery answered 200 by both
servers, and it prints its table (no speed is judged here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_webhooks.py"


def test_the_benchmark_runs_on_a_small_load() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            *["--deliveries", "300", "--statuses", "3", "--rounds", "1", "--warmup", "30"],
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert "ratio receiver/bare (best deliveries/s):" in result.stdout, output
    assert "non-200 answers" not in result.stdout, output
    for name in ("bare: orjson.loads", "WebhookReceiver"):
        assert any(line.startswith(name) for line in result.stdout.splitlines()), output
