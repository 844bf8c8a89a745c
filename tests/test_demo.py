"""The Quick start demo runs against the embedded emulator and ends with a correct summary."""

from __future__ import annotations

import asyncio
import re
import sys

from d360_async._demo import run_demo


async def test_demo_as_a_subprocess() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "d360_async",
        "demo",
        "--recipients",
        "300",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    text = stdout.decode()
    assert process.returncode == 0, stderr.decode()
    assert re.search(r"^summary: sent=300 failed=0 events=200 in [\d.]+s$", text, re.M), text
    assert "duplicates: 0" in text
    assert "Traceback" not in stderr.decode()


async def test_demo_in_process_counts() -> None:
    lines: list[str] = []
    summary = await run_demo(recipients=50, concurrency=10, out=lines.append)
    assert (summary.sent, summary.failed, summary.events) == (50, 0, 200)
    assert summary.templates >= 5
    assert any(line.startswith("  analytics SENT: 50") for line in lines)
