"""The Python programs of the README sections this area owns (errors, rate limits, timeouts,
observability recipes) run as they are against the emulator and print what their comments say."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest

from d360_async.testing import Emulator

README = Path(__file__).resolve().parents[1] / "README.md"
SECTIONS = (
    "## Errors",
    "## Rate limits",
    "## Timeouts, sessions, logging",
    "## Observability: hooks, metrics, tracing",
)


def programs() -> list[tuple[str, str]]:
    text = README.read_text()
    found = []
    for heading in SECTIONS:
        start = text.index(f"\n{heading}\n")
        end = text.find("\n## ", start + 1)
        section = text[start : end if end != -1 else len(text)]
        for n, code in enumerate(re.findall(r"```python\n(.*?)```", section, re.S)):
            found.append((f"{heading[3:]} #{n + 1}", code))
    return found


def expected_output(code: str) -> list[str]:
    """The comment lines after the program's last statement: what it prints."""
    lines = code.rstrip().splitlines()
    tail: list[str] = []
    while lines and lines[-1].startswith("# "):
        tail.insert(0, lines.pop()[2:])
    return tail


PROGRAMS = programs()


def test_every_section_has_programs() -> None:
    assert {name.split(" #")[0] for name, _ in PROGRAMS} == {h[3:] for h in SECTIONS}


@pytest.mark.parametrize("code", [c for _, c in PROGRAMS], ids=[n for n, _ in PROGRAMS])
async def test_the_program_runs_and_prints_what_it_says(code: str) -> None:
    expected = expected_output(code)
    assert expected, "a program must show its output"
    async with Emulator() as emu:
        env = {**os.environ, "D360_API_KEY": emu.api_key, "D360_BASE_URL": emu.url}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-W",
            "error",
            "-c",
            code,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert err.decode() == ""
    assert out.decode().splitlines() == expected
