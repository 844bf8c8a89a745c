"""#10 item 6: after Ctrl-C, the progress bar's last counts are the summary's (and with
``--skip-invalid``, F10: invalid rows count as skipped in both).

The child's stderr is a pseudo-terminal, so that ``d360 send`` draws its live progress bar
(on a pipe it prints a plain line every 5 s only); the bar's counts line is read back from what
the terminal received."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import re
import signal
import struct
import sys
import termios
from collections import Counter
from pathlib import Path

import pytest

from d360_async.testing import Emulator

from .conftest import TIMEOUT, child_env, customers
from .test_send import WELCOME, counts, results

#: The bar's counts line (``_progress._counts``), e.g. ``sent=40 failed=0 skipped=3 unknown=2``.
BAR_COUNTS = re.compile(r"sent=([\d,]+) failed=([\d,]+) skipped=([\d,]+) unknown=([\d,]+)")
_ANSI = re.compile(r"\x1b(?:\[[0-9;?]*[A-Za-z]|\][^\x07]*\x07)")


async def stopped_on_a_terminal(
    args: list[str], emulator: Emulator, when_sent: int
) -> tuple[int, str, str]:
    """Run ``d360 ARGS`` with stderr on a pseudo-terminal, Ctrl-C it (SIGINT) once the
    emulator has ``when_sent`` messages; returns the exit code, stdout and the terminal's
    text (escape sequences removed)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    received: list[bytes] = []
    loop = asyncio.get_running_loop()

    def drain() -> None:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            chunk = b""
        if chunk:
            received.append(chunk)
        else:
            loop.remove_reader(master)

    loop.add_reader(master, drain)
    try:
        env = child_env(emulator, {"TERM": "xterm-256color", "COLUMNS": "120"})
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "d360_async.cli", *args,
            stdout=asyncio.subprocess.PIPE, stderr=slave, env=env,
        )  # fmt: skip
        os.close(slave)
        slave = -1
        for _ in range(int(TIMEOUT / 0.01)):
            if len(emulator.sent_messages) >= when_sent:
                break
            await asyncio.sleep(0.01)
        process.send_signal(signal.SIGINT)
        out, _ = await asyncio.wait_for(process.communicate(), TIMEOUT)
        for _ in range(100):  # what the terminal still holds
            await asyncio.sleep(0.01)
            try:
                chunk = os.read(master, 65536)
            except (BlockingIOError, OSError):
                break
            if not chunk:
                break
            received.append(chunk)
    finally:
        loop.remove_reader(master)
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert process.returncode is not None
    text = _ANSI.sub("", b"".join(received).decode(errors="replace"))
    return process.returncode, out.decode(), text


@pytest.mark.parametrize("skip_invalid", [False, True], ids=["plain", "skip-invalid"])
@pytest.mark.d360_emulator(rate=None, latency_ms=20)
async def test_the_last_progress_counts_after_ctrl_c_are_the_summary(
    d360_emulator: Emulator, tmp_path: Path, skip_invalid: bool
) -> None:
    n = 400
    bad = {1: "", 2: "0151 2345678", 3: "x"} if skip_invalid else {}
    source = customers(tmp_path / "c.csv", n, bad=bad)
    results_file = tmp_path / "results.csv"
    args = [
        "send", *WELCOME, "--csv", str(source), "--journal", str(tmp_path / "j.sqlite"),
        "--results", str(results_file), "--concurrency", "20", "--rate", "100",
        *(["--skip-invalid"] if skip_invalid else []),
    ]  # fmt: skip

    code, out, terminal = await stopped_on_a_terminal(args, d360_emulator, when_sent=40)

    assert code == 130, terminal
    assert "Traceback" not in terminal, terminal
    assert "d360: interrupted" in terminal
    summary = counts(out)
    bars = BAR_COUNTS.findall(terminal)
    assert bars, terminal  # the live bar was drawn
    last_bar = tuple(int(value.replace(",", "")) for value in bars[-1])
    assert last_bar == summary, (last_bar, summary)
    sent, failed, skipped, unknown = summary
    assert 40 <= sent + unknown < n
    assert (failed, skipped) == (0, len(bad))
    statuses = Counter(row["status"] for row in results(results_file))
    assert +statuses == +Counter(sent=sent, failed=failed, skipped=skipped, unknown=unknown)
