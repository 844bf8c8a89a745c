"""``d360 emulator``: serves until SIGINT; other commands work against it."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

from d360_async.testing import DEFAULT_API_KEY, Emulator

from .conftest import TIMEOUT, child_env, customers, d360


async def test_serves_until_interrupted(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "d360_async.cli", "emulator", "--port", "0", "--rate", "none",
        "--seed", "1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=child_env(None),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = (await asyncio.wait_for(process.stdout.readline(), TIMEOUT)).decode()
        match = re.fullmatch(r"d360 emulator listening on (http://127\.0\.0\.1:\d+)\n", first)
        assert match, first
        url = match.group(1)
        env = {"D360_BASE_URL": url, "D360_API_KEY": DEFAULT_API_KEY}
        hint = (await process.stdout.readline()).decode()
        assert (
            hint == f"try: D360_BASE_URL={url} D360_API_KEY={DEFAULT_API_KEY} d360 templates list\n"
        )

        source = customers(tmp_path / "c.csv", 3)
        sent = await d360(
            "send", "--template", "welcome_offer", "--language", "en_US", "--csv", source,
            "--param-columns", "name", env=env,
        )  # fmt: skip
        assert sent.code == 0, sent.err
        assert "summary: sent=3 failed=0 skipped=0 unknown=0" in sent.out
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
    assert process.returncode == 0, err.decode()
    assert out.decode().splitlines()[-1] == "d360 emulator stopped (3 messages accepted)"
    assert err.decode() == ""


async def test_emulator_usage_errors(d360_emulator: Emulator) -> None:
    bad_rate = await d360("emulator", "--fault-rate", "2")
    bad_kind = await d360("emulator", "--fault-kinds", "500,teapot")
    busy = await d360("emulator", "--port", str(d360_emulator.port))

    assert bad_rate.code == bad_kind.code == 2
    assert bad_rate.error_line == (
        "d360: error: argument --fault-rate: must be between 0 and 1 (see 'd360 emulator --help')"
    )
    assert bad_kind.error_line.startswith(
        "d360: error: argument --fault-kinds: unknown fault 'teapot'; expected one of"
    )
    assert busy.code == 1
    assert busy.error_line.startswith(
        f"d360: error: cannot listen on 127.0.0.1:{d360_emulator.port}: "
    )
