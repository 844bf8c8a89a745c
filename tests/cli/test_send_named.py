"""``d360 send`` with named template parameters, and preflight problems grouped by rows."""

from __future__ import annotations

import json
from pathlib import Path

from d360_async._preflight import PreflightError, PreflightProblem, PreflightProblemKind
from d360_async.cli._send import preflight_message
from d360_async.testing import Emulator

from .conftest import d360, write
from .test_send import counts

VIP = ("--template", "vip_reminder", "--language", "en_US")


def fans(path: Path, count: int) -> Path:
    lines = ["phone,given_name,pts,expiry"]
    lines += [f"+49 151 {row:08d},Fan {row},{row * 10},31 December" for row in range(1, count + 1)]
    return write(path, "\n".join(lines) + "\n")


async def test_named_campaign_maps_columns_to_names(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    source = fans(tmp_path / "fans.csv", 40)

    run = await d360(
        "send", *VIP, "--csv", source,
        "--param-columns", "first_name=given_name", "reward=pts", "expiry",
        emulator=d360_emulator,
    )  # fmt: skip

    assert run.code == 0, run.err
    assert counts(run.out) == (40, 0, 0, 0)
    assert "template 'vip_reminder' (en_US) is APPROVED, 3 named parameters" in run.err
    assert len(d360_emulator.sent_messages) == 40
    header, body = d360_emulator.messages_to("+4915100000007")[0].components
    assert header == {
        "type": "header",
        "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Fan 7"}],
    }
    assert body["parameters"] == [
        {"type": "text", "parameter_name": "first_name", "text": "Fan 7"},
        {"type": "text", "parameter_name": "reward", "text": "70"},
        {"type": "text", "parameter_name": "expiry", "text": "31 December"},
    ]


async def test_named_campaign_from_json_lines(d360_emulator: Emulator, tmp_path: Path) -> None:
    lines = [
        {"to": f"49151000000{i:02d}", "first_name": "Ada", "reward": i, "expiry": "Fri"}
        for i in range(5)
    ]
    source = write(tmp_path / "fans.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")

    run = await d360(
        "send", *VIP, "--file", source, "--param-columns", "first_name,reward,expiry",
        emulator=d360_emulator,
    )  # fmt: skip

    assert run.code == 0, run.err
    assert counts(run.out) == (5, 0, 0, 0)


async def test_named_parameters_missing_from_the_mapping(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    source = fans(tmp_path / "fans.csv", 3)

    run = await d360(
        "send", *VIP, "--csv", source, "--param-columns", "first_name=given_name", "pts",
        emulator=d360_emulator,
    )  # fmt: skip

    assert run.code == 1
    assert run.error_line == (
        "d360: error: preflight failed: template 'vip_reminder' (en_US) has named "
        "parameters first_name, reward, expiry but --param-columns gives first_name, pts "
        "(missing: reward, expiry; not in the template: pts)"
    )
    assert d360_emulator.requests["send-marketing-message"] == 0


async def test_name_mapping_for_a_positional_template_is_refused(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    source = fans(tmp_path / "fans.csv", 3)

    run = await d360(
        "send", "--template", "welcome_offer", "--language", "en_US", "--csv", source,
        "--to-column", "phone", "--param-columns", "first_name=given_name",
        emulator=d360_emulator,
    )  # fmt: skip

    assert run.code == 1
    assert run.error_line == (
        "d360: error: preflight failed: template 'welcome_offer' (en_US) has positional "
        "parameters ({{1}}): give --param-columns as columns in order, without NAME="
    )


async def test_a_mapped_column_must_exist(d360_emulator: Emulator, tmp_path: Path) -> None:
    source = fans(tmp_path / "fans.csv", 3)

    run = await d360(
        "send", *VIP, "--csv", source, "--param-columns", "first_name=nope", "reward=pts",
        emulator=d360_emulator,
    )  # fmt: skip

    assert run.code == 2
    assert "column 'nope' not found in" in run.error_line


async def test_a_problem_of_every_row_is_one_line_with_rows(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    d360_emulator.add_template(
        "hello_header",
        components=[
            {"type": "HEADER", "format": "TEXT", "text": "Hello {{1}}"},
            {"type": "BODY", "text": "Take {{1}} off"},
        ],
    )
    source = fans(tmp_path / "fans.csv", 301)
    flags = ("--template", "hello_header", "--language", "en_US", "--param-columns", "pts")

    for extra in ((), ("--dry-run",)):
        run = await d360("send", *flags, "--csv", source, *extra, emulator=d360_emulator)

        assert run.code == 1, run.err
        assert run.error_line == (
            "d360: error: preflight failed: template 'hello_header' (en_US): 301 rows: 0 header "
            "parameters for a header with 1 placeholder (rows 1-301, lines 2-302)"
        )
    assert d360_emulator.requests["send-marketing-message"] == 0


def test_preflight_errors_of_send_bulk_are_told_in_rows_and_lines() -> None:
    error = PreflightError(
        [
            PreflightProblem(
                kind=PreflightProblemKind.PARAMETERS,
                template="promo",
                language="en",
                reason="2 body parameters for a template with 1 placeholder",
                messages=(0, 1, 2, 5),
            ),
            PreflightProblem(
                kind=PreflightProblemKind.TEMPLATE_NOT_APPROVED,
                template="old",
                language="en",
                reason="is PAUSED, not APPROVED",
                messages=(3, 4),
            ),
        ]
    )
    positions = [(1, 2), (2, 3), (3, 5), (4, 6), (5, 7), (6, 9)]  # (row, line); line 4 is blank
    assert preflight_message(error, positions) == (
        "preflight failed: template 'promo' (en): 4 rows: 2 body parameters for a template "
        "with 1 placeholder (rows 1-3, 6, lines 2-3, 5, 9); "
        "template 'old' (en) is PAUSED, not APPROVED"
    )
