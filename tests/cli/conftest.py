"""Helpers for the ``d360`` command-line tests.

Every command runs in a child process (``python -m d360_async.cli``) against an emulator
running in the test's own event loop on 127.0.0.1: the child is a real client over loopback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
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
