"""An output file (``--results``, ``--rejected``, ``--journal``) that is the input file, or
another output, is refused before anything is opened (exit code 2): the input is never
truncated, and a campaign never silently sends nobody."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from d360_async.testing import Emulator

from .conftest import customers, d360, write

WELCOME = ("--template", "welcome_offer", "--language", "en_US", "--param-columns", "name")


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (("--results", "{csv}"), "--results"),
        (("--skip-invalid", "--rejected", "{csv}"), "--rejected"),
        (("--journal", "{csv}"), "--journal"),
        (("--results", "{other}", "--journal", "{other}"), "--journal"),
        (("--results", "{link}"), "--results"),  # another name of the same file
    ],
)
async def test_send_refuses_an_output_that_is_another_file_of_the_run(
    d360_emulator: Emulator, tmp_path: Path, flags: tuple[str, ...], named: str
) -> None:
    source = customers(tmp_path / "customers.csv", 3, bad={2: "0151 2345678"})
    before = source.read_bytes()
    os.symlink(source, tmp_path / "link.csv")
    paths = {"csv": source, "other": tmp_path / "out.sqlite", "link": tmp_path / "link.csv"}
    args = [flag.format(**paths) for flag in flags]

    run = await d360("send", *WELCOME, "--csv", source, *args, emulator=d360_emulator)

    assert run.code == 2, run.err
    assert named in run.error_line and "same file" in run.error_line
    assert source.read_bytes() == before
    assert d360_emulator.sent_messages == []
    assert not (tmp_path / "out.sqlite").exists()


async def test_events_refuse_a_rejected_file_that_is_the_input(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    source = write(tmp_path / "ev.csv", "event_name,event_time,em\nPurchase,1796157804,\n")
    before = source.read_bytes()

    run = await d360(
        "events", "--dataset", "1340000000000009", "--file", source, "--rejected", source,
        emulator=d360_emulator,
    )  # fmt: skip

    assert run.code == 2, run.err
    assert "--rejected" in run.error_line and "same file" in run.error_line
    assert source.read_bytes() == before


async def test_a_rejected_file_left_from_an_earlier_run_is_removed(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    source = customers(tmp_path / "customers.csv", 3)
    stale = tmp_path / "customers.rejected.csv"
    stale.write_text("row,line,column,reason\n2,3,to,is empty\n", encoding="utf-8")

    run = await d360("send", *WELCOME, "--csv", source, "--skip-invalid", emulator=d360_emulator)

    assert run.code == 0, run.err
    assert not stale.exists()
    assert f"removed {stale} (from an earlier run: no row is invalid now)" in run.err
