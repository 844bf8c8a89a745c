"""The delivery benchmark runs end to end on a small load and prints its table (every unknown
row settled, or it raises; no speed is judged here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_delivery.py"


def test_the_benchmark_runs_on_a_small_load() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--rows", "8000", "--small", "4000", "--statuses", "1000"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    lines = result.stdout.splitlines()
    for kind in ("by id wall", "by id cpu", "settle wall", "settle cpu"):
        assert any(line.startswith(kind) for line in lines), output
    assert lines[-1].startswith("target: large/small wall time per status <= 1.5:"), output
