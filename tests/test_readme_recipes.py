"""The Python programs of the README sections this area owns (errors, rate limits, timeouts,
observability recipes) run as they are against the emulator and print what their ``# Output:``
comment says (the convention of the docs collector on main, which runs every block)."""

from __future__ import annotations

import asyncio
import doctest
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
    """The comment lines after a final ``# Output:`` line: what the program prints."""
    lines = code.rstrip().splitlines()
    marker = len(lines) - 1 - lines[::-1].index("# Output:") if "# Output:" in lines else None
    assert marker is not None, "a program must end with its # Output:"
    return [line[2:] for line in lines[marker + 1 :]]


PROGRAMS = programs()


def test_every_section_has_programs() -> None:
    assert {name.split(" #")[0] for name, _ in PROGRAMS} == {h[3:] for h in SECTIONS}


@pytest.mark.parametrize("code", [c for _, c in PROGRAMS], ids=[n for n, _ in PROGRAMS])
async def test_the_program_runs_and_prints_what_it_says(code: str) -> None:
    expected = expected_output(code)
    assert expected, "a program must show what it prints"
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
    wanted = "".join(line + "\n" for line in expected)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE  # as the docs collector checks
    assert doctest.OutputChecker().check_output(wanted, out.decode(), flags), out.decode()
