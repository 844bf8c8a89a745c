"""Every Python block of ``docs/redis.md`` and ``docs/throughput.md`` runs as a program, and
prints what its trailing comment says, against the emulator (``D360_BASE_URL``,
``D360_API_KEY``) and a real valkey-server (``D360_REDIS_URL``)."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest

from d360_async.testing import Emulator
from tests.test_readme_recipes import expected_output

from .conftest import RedisProcess

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def blocks() -> list[tuple[str, int, str]]:
    found = []
    for name in ("redis.md", "throughput.md"):
        for number, match in enumerate(BLOCK.finditer((DOCS / name).read_text()), 1):
            found.append((name, number, match.group(1)))
    return found


@pytest.mark.parametrize(("doc", "number", "code"), blocks(), ids=lambda v: str(v)[:12])
async def test_doc_block_runs(
    doc: str, number: int, code: str, redis_server: RedisProcess, tmp_path: Path
) -> None:
    script = tmp_path / f"block{number}.py"
    script.write_text(code)
    async with Emulator(rate=80) as emu:
        env = {k: v for k, v in os.environ.items() if not k.startswith("D360_")}
        env |= {
            "D360_BASE_URL": emu.url,
            "D360_API_KEY": emu.api_key,
            "D360_REDIS_URL": redis_server.url,
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-W", "error", str(script),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=env, cwd=tmp_path,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert err.decode() == ""
    assert out.decode().splitlines() == expected_output(code)
