"""The programs of ``docs/webhooks.md`` and of the emulator's webhook section run and print what
their comments say (each in a subprocess, pointed at an emulator by D360_BASE_URL)."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest

from d360_async.testing import Emulator

DOCS = Path(__file__).resolve().parents[2] / "docs"


def block(doc: str, first_line: str) -> str:
    text = (DOCS / doc).read_text()
    match = re.search(r"```python\n(" + re.escape(first_line) + r".*?)```", text, re.S)
    assert match is not None, f"{doc}: the block starting with {first_line!r} is missing"
    return match.group(1)


def promised_output(program: str) -> list[str]:
    """The output the program's comments promise: ``print(...)  # out`` and ``# out`` lines
    after the last statement."""
    inline = [m.group(1) for m in re.finditer(r"^\s*print\(.*\)  # (.+)$", program, re.M)]
    trailer = program.rsplit("asyncio.run(main())", 1)
    after = re.findall(r"^# (.+)$", trailer[1], re.M) if len(trailer) == 2 else []
    return inline + after


async def run(program: str, tmp_path: Path, emu: Emulator | None = None) -> str:
    script = tmp_path / "program.py"
    script.write_text(program)
    env = dict(os.environ)
    if emu is not None:
        env.update(D360_BASE_URL=emu.url, D360_API_KEY=emu.api_key)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-W",
        "error",
        str(script),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    async with asyncio.timeout(120):
        out, err = await process.communicate()
    assert process.returncode == 0, out.decode() + err.decode()
    return out.decode()


@pytest.mark.parametrize(
    "first_line",
    ["# receive_statuses.py", "# fastapi_app.py", "# iterate.py", "# signatures.py"],
)
async def test_the_webhook_programs_print_what_they_say(tmp_path: Path, first_line: str) -> None:
    program = block("webhooks.md", first_line)
    expected = promised_output(program)
    assert expected, "a program with nothing to show"
    async with Emulator(rate=None) as emu:
        output = await run(program, tmp_path, emu)
    assert output.splitlines() == expected


async def test_the_emulator_webhook_program_prints_what_it_says(tmp_path: Path) -> None:
    program = block("emulator.md", "# webhook_test_drive.py")
    output = await run(program, tmp_path)
    assert output.splitlines() == promised_output(program)
