"""Helpers for the ``d360`` command-line tests.

Every command runs in a child process (``python -m d360_async.cli``) against an emulator
running in the test's own event loop on 127.0.0.1: the child is a real client over loopback.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import attrs
import pytest

from d360_async.testing import Emulator
from tests import child

#: Looks like a real key, so that a leak would show in any output.
SECRET_KEY = "k3y-SECRET-9f8e7d6c5b4a"
#: Seconds a command may take.
TIMEOUT = 60


@attrs.frozen
class Run:
    """What a ``d360`` child process did."""

    code: int
    out: str
    err: str

    @property
    def error_line(self) -> str:
        """The last line of stderr (where ``d360: error: ...`` goes)."""
        lines = self.err.strip().splitlines()
        return lines[-1] if lines else ""


def child_env(emulator: Emulator | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a child: no D360_* of the developer's, the emulator's URL and key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("D360_")}
    env["PYTHONUNBUFFERED"] = "1"
    if emulator is not None:
        env["D360_BASE_URL"] = emulator.url
        env["D360_API_KEY"] = emulator.api_key
    env.update(extra or {})
    return env


async def d360(
    *args: str | Path,
    emulator: Emulator | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Run:
    """Run ``d360 ARGS`` in a child process and wait for it.

    Unless ``--debug`` is among the arguments, asserts that stderr holds no traceback.
    """
    ran = await child.run(
        sys.executable, "-m", "d360_async.cli", *args,
        env=child_env(emulator, env), cwd=cwd, seconds=TIMEOUT,
    )  # fmt: skip
    run = Run(ran.code, ran.out, ran.err)
    if "--debug" not in args:
        assert "Traceback" not in run.err, run.err
    return run


#: The signals that stop a command, its exit code and its last line on stderr.
STOPS = pytest.mark.parametrize(("signum", "code", "line"), [
    (signal.SIGINT, 130, "d360: interrupted"),
    (signal.SIGTERM, 143, "d360: terminated"),
])  # fmt: skip


async def d360_stopped(
    *args: str | Path,
    emulator: Emulator,
    signum: signal.Signals,
    when: Callable[[], bool],
) -> Run:
    """Run ``d360 ARGS`` in a child process, send it ``signum`` as soon as ``when()`` holds
    (checked every 10 ms), and wait for it to end. Asserts that stderr holds no traceback."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "d360_async.cli", *map(str, args),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=child_env(emulator),
    )  # fmt: skip
    for _ in range(int(TIMEOUT / 0.01)):
        if when():
            break
        await asyncio.sleep(0.01)
    process.send_signal(signum)
    out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
    assert process.returncode is not None
    run = Run(process.returncode, out.decode(), err.decode())
    assert "Traceback" not in run.err, run.err
    return run


def write(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path``; returns ``path``."""
    path.write_text(text, encoding="utf-8")
    return path


def customers(path: Path, count: int, *, bad: Mapping[int, str] | None = None) -> Path:
    """A CSV of ``count`` customers (``to,name``); ``bad`` replaces the number of some rows
    (1-based data rows)."""
    lines = ["to,name"]
    for row in range(1, count + 1):
        to = (bad or {}).get(row, f"+49 151 {row:08d}")
        lines.append(f"{to},Customer {row}")
    return write(path, "\n".join(lines) + "\n")


@pytest.fixture
def secret_key() -> str:
    return SECRET_KEY
