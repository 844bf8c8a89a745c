"""Run every benchmark, each against a baseline measured in the same run, and print the tables.

Usage::

    python benchmarks/run_all.py [--check] [--quick]

``--check`` makes the exit status non-zero when any benchmark misses its target; ``--quick``
runs smaller loads (a smoke test, not figures to quote).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    check = ["--check"] if args.check else []
    quick = args.quick
    runs = [
        ["bench_emulator.py", *(["--requests", "3000", "--rounds", "1"] if quick else [])],
        [
            "bench_bulk.py",
            "throughput",
            *(["--messages", "3000", "--rounds", "1"] if quick else []),
        ],
        ["bench_bulk.py", "ratelimit"],
        ["bench_bulk.py", "memory", *(["--messages", "150000"] if quick else [])],
        ["bench_events.py", *(["--events", "3000", "--rounds", "1"] if quick else [])],
        ["bench_webhooks.py", *(["--deliveries", "3000", "--rounds", "1"] if quick else [])],
        ["bench_delivery.py", *(["--rows", "50000", "--statuses", "2000"] if quick else [])],
        ["bench_tier.py", *(["--seconds", "4", "--latencies", "50,500"] if quick else [])],
        ["bench_shared_limit.py", *(["--seconds", "8", "--kill-at", "4"] if quick else [])],
        ["bench_crash.py", "crash", *(["--messages", "3000", "--kills", "5"] if quick else [])],
        [
            "bench_crash.py",
            "crash",
            "--webhooks",
            *(["--messages", "3000", "--kills", "5"] if quick else []),
        ],
        [
            "bench_workers.py",
            "campaign",
            "--kills",
            "2",
            "--webhooks",
            *(["--messages", "3000"] if quick else ["--messages", "50000"]),
        ],
        ["bench_workers.py", "cost", *(["--messages", "3000", "--rounds", "1"] if quick else [])],
    ]
    failed = []
    for command in runs:
        print(f"\n=== python benchmarks/{' '.join(command)} ===", flush=True)
        code = subprocess.call([sys.executable, str(HERE / command[0]), *command[1:], *check])
        if code:
            failed.append(" ".join(command))
    if failed:
        print(f"\nmissed or failed: {'; '.join(failed)}")
    return 1 if failed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
