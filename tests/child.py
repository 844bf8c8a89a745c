"""Running a child process from an async test: the test's event loop keeps serving (an
emulator, say) while the child runs, and a child that hangs is killed."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import attrs


@attrs.frozen
class Ran:
    """What a child process did."""

    code: int
    out: str
    err: str

    def explain(self, what: str) -> str:
        """A failure message with both outputs."""
        return f"{what} exited {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


async def run(
    *argv: str | Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    seconds: float = 120,
) -> Ran:
    """Run ``argv`` and wait for it (at most ``seconds``, then kill it and raise)."""
    process = await asyncio.create_subprocess_exec(
        *map(str, argv),
        cwd=cwd,
        env=None if env is None else dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), seconds)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())
