"""``d360 send``: campaigns from CSV / JSON Lines against the emulator, and every user error."""

from __future__ import annotations

import asyncio
import csv
import json
import re
import signal
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from d360_async.testing import Emulator

from .conftest import SECRET_KEY, STOPS, customers, d360, d360_stopped, write

WELCOME = ("--template", "welcome_offer", "--language", "en_US", "--param-columns", "name")
SUMMARY = re.compile(
    r"^summary: sent=(\d+) failed=(\d+) skipped=(\d+) unknown=(\d+) "
    r"in [\d.]+s \([\d,]+ messages/s\)$",
    re.M,
)


def counts(out: str) -> tuple[int, ...]:
    match = SUMMARY.search(out)
    assert match, out
    return tuple(int(g) for g in match.groups())


def results(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as stream:
        return sorted(csv.DictReader(stream), key=lambda r: int(r["row"]))


async def test_campaign_from_csv_with_results_file(d360_emulator: Emulator, tmp_path: Path) -> None:
    source = customers(tmp_path / "customers.csv", 50)
    with source.open("a", encoding="utf-8") as stream:
        stream.write("+4915100000001,Again\n")  # row 51 repeats row 1: sent once
    out = tmp_path / "results.csv"

    run = await d360("send", *WELCOME, "--csv", source, "--results", out, emulator=d360_emulator)

    assert run.code == 0, run.err
    assert counts(run.out) == (50, 0, 1, 0)
    assert "customers.csv: 51 rows OK" in run.err
    assert len(d360_emulator.sent_messages) == 50
    assert d360_emulator.duplicate_recipients() == {}
    first = d360_emulator.messages_to("4915100000001")[0]
    assert first.components[-1]["parameters"] == [{"type": "text", "text": "Customer 1"}]
    rows = results(out)
    assert list(rows[0]) == ["row", "to", "status", "message_id", "error_code", "error"]
    assert [r["row"] for r in rows] == [str(i) for i in range(1, 52)]
    assert rows[0]["status"] == "sent" and rows[0]["message_id"].startswith("wamid.")
    assert rows[50] == {
        "row": "51",
        "to": "+4915100000001",
        "status": "skipped",
        "message_id": "",
        "error_code": "",
        "error": "duplicate recipient",
    }


async def test_rerun_with_the_same_journal_resumes(d360_emulator: Emulator, tmp_path: Path) -> None:
    source = customers(tmp_path / "customers.csv", 20)
    journal = tmp_path / "campaign.sqlite"
    d360_emulator.set_recipient_error("+4915100000007", 131050)

    first = await d360(
        "send", *WELCOME, "--csv", source, "--journal", journal, emulator=d360_emulator
    )
    assert first.code == 1  # row 7 failed
    assert counts(first.out) == (19, 1, 0, 0)
    assert "row 7: failed: 400" in first.err and "131050" in first.err

    d360_emulator.set_recipient_error("+4915100000007", None)
    out = tmp_path / "results.csv"
    second = await d360(
        "send", *WELCOME, "--csv", source, "--journal", journal, "--results", out,
        emulator=d360_emulator,
    )  # fmt: skip

    assert second.code == 0, second.err
    assert counts(second.out) == (1, 0, 19, 0)  # only the failed row is sent again
    assert len(d360_emulator.sent_messages) == 20
    assert d360_emulator.duplicate_recipients() == {}
    rows = results(out)
    assert rows[6]["status"] == "sent"
    assert rows[0]["status"] == "skipped" and rows[0]["error"] == "already sent in an earlier run"
    assert rows[0]["message_id"].startswith("wamid.")  # from the journal


async def test_a_journal_of_another_campaign_is_refused(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    journal = tmp_path / "campaign.sqlite"
    first = customers(tmp_path / "a.csv", 3)
    other = write(tmp_path / "b.csv", "to,name\n+4915199999999,Zoe\n")
    assert (
        await d360("send", *WELCOME, "--csv", first, "--journal", journal, emulator=d360_emulator)
    ).code == 0

    run = await d360("send", *WELCOME, "--csv", other, "--journal", journal, emulator=d360_emulator)

    assert run.code == 2
    assert run.error_line == (
        f"d360: error: journal {journal} holds another campaign: row 1 has a different recipient"
    )
    assert len(d360_emulator.sent_messages) == 3


async def test_failed_rows_go_to_results_with_their_error_code(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    source = customers(tmp_path / "customers.csv", 5)
    d360_emulator.set_recipient_error("+4915100000003", 131026)
    out = tmp_path / "results.csv"

    run = await d360("send", *WELCOME, "--csv", source, "--results", out, emulator=d360_emulator)

    assert run.code == 1
    assert counts(run.out) == (4, 1, 0, 0)
    row = results(out)[2]
    assert (row["row"], row["status"], row["error_code"]) == ("3", "failed", "131026")
    assert row["error"].startswith("400 ")


async def test_an_error_that_dooms_the_campaign_stops_it(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    source = customers(tmp_path / "customers.csv", 30)
    d360_emulator.set_recipient_error("+4915100000003", 132015)  # template paused
    out = tmp_path / "results.csv"

    run = await d360(
        "send", *WELCOME, "--csv", source, "--concurrency", "1", "--results", out,
        emulator=d360_emulator,
    )  # fmt: skip

    assert run.code == 1
    assert counts(run.out) == (2, 1, 27, 0)
    stopped = "campaign stopped after row 3: 400 (#132015) Error (code=132015"
    assert f"stopped: {stopped}" in run.err
    assert {(r["status"], r["error"][: len(stopped)]) for r in results(out)[3:]} == {
        ("skipped", stopped)
    }
    assert len(d360_emulator.sent_messages) == 2


async def test_jsonl_input_and_param_columns_given_with_commas(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    lines = [
        {"phone": 4915100000001, "first": "Ada", "points": 120},
        {"phone": "+49 151 00000002", "first": "Grace", "points": "75"},
    ]
    source = write(tmp_path / "fans.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")

    run = await d360(
        "send", "--template", "loyalty_points", "--language", "fr", "--file", source,
        "--to-column", "phone", "--param-columns", "first,points", "--rate", "0",
        emulator=d360_emulator,
    )  # fmt: skip

    assert run.code == 0, run.err
    assert counts(run.out) == (2, 0, 0, 0)
    body = d360_emulator.messages_to("4915100000001")[0].components[0]["parameters"]
    assert [p["text"] for p in body] == ["Ada", "120"]


async def test_media_header_from_header_url(d360_emulator: Emulator, tmp_path: Path) -> None:
    source = write(tmp_path / "c.csv", "to;name;deal;until\n+4915100000001;Ada;20%;Sunday\n")

    run = await d360(
        "send", "--template", "summer_sale", "--language", "en_US", "--csv", source,
        "--param-columns", "name", "deal", "until", "--header-url", "https://x.example/a.jpg",
        emulator=d360_emulator,
    )  # fmt: skip

    assert run.code == 0, run.err
    header = d360_emulator.sent_messages[0].components[0]
    assert header["parameters"] == [{"type": "image", "image": {"link": "https://x.example/a.jpg"}}]


async def test_dry_run_checks_everything_and_sends_nothing(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    source = customers(tmp_path / "customers.csv", 30)

    run = await d360("send", *WELCOME, "--csv", source, "--dry-run", emulator=d360_emulator)

    assert run.code == 0, run.err
    assert run.out.strip() == (
        "dry run: 30 rows valid, template 'welcome_offer' (en_US) is APPROVED, "
        "1 body parameter; nothing was sent"
    )
    assert d360_emulator.sent_messages == []
    assert d360_emulator.requests["send-marketing-message"] == 0


async def test_bad_phone_number_at_row_17_stops_before_sending(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    source = customers(tmp_path / "customers.csv", 40, bad={17: "+49 151 12ab", 30: "0151 1234567"})

    run = await d360("send", *WELCOME, "--csv", source, emulator=d360_emulator)

    assert run.code == 2
    assert run.err.splitlines()[:2] == [
        f"{source} row 17 (line 18), column 'to': invalid phone number: contains characters "
        "other than digits, +, spaces, dashes, dots, slashes and brackets",
        f"{source} row 30 (line 31), column 'to': invalid phone number: looks like a national "
        "number and has no country code: write it with + and its country code, or pass "
        "--default-country-code",
    ]
    assert run.error_line.startswith(
        f"d360: error: {source}: 2 of 40 rows are invalid (listed above); nothing was sent."
    )
    assert "12ab" not in run.err and "1234567" not in run.err  # no customer data on stderr
    assert d360_emulator.requests["send-marketing-message"] == 0


async def test_verbose_lists_every_bad_row(d360_emulator: Emulator, tmp_path: Path) -> None:
    bad = dict.fromkeys(range(5, 35), "12345")
    source = customers(tmp_path / "customers.csv", 40, bad=bad)

    quiet = await d360("send", *WELCOME, "--csv", source, emulator=d360_emulator)
    run = await d360("send", *WELCOME, "--csv", source, "--verbose", emulator=d360_emulator)

    assert quiet.code == run.code == 2
    assert "Traceback" not in run.err  # a traceback only with --debug
    listed = "column 'to': invalid phone number: has too few digits"
    assert quiet.err.count(listed) == 21  # 20 rows, and the count of that kind
    assert "30 rows (5-34): " + listed in quiet.err
    assert "... and 10 more problems (--verbose lists every one)" in quiet.err
    assert run.err.count(listed) == 31
    assert "row 34 (line 35), column 'to': invalid phone number: has too few digits" in run.err


async def test_column_that_does_not_exist(d360_emulator: Emulator, tmp_path: Path) -> None:
    source = customers(tmp_path / "customers.csv", 3)

    run = await d360(
        "send", *WELCOME, "--csv", source, "--to-column", "phone", emulator=d360_emulator
    )

    assert run.code == 2
    assert run.error_line == (
        f"d360: error: column 'phone' not found in {source} (columns: to, name)"
    )


async def test_param_column_that_does_not_exist(d360_emulator: Emulator, tmp_path: Path) -> None:
    source = customers(tmp_path / "customers.csv", 3)

    run = await d360(
        "send", "--template", "welcome_offer", "--language", "en_US", "--csv", source,
        "--param-columns", "first_name", emulator=d360_emulator,
    )  # fmt: skip

    assert run.code == 2
    assert run.error_line == (
        f"d360: error: column 'first_name' not found in {source} (columns: to, name)"
    )


async def test_unreadable_csv(d360_emulator: Emulator, tmp_path: Path) -> None:
    missing = await d360("send", *WELCOME, "--csv", tmp_path / "nope.csv", emulator=d360_emulator)
    assert missing.code == 2
    assert missing.error_line == (
        f"d360: error: cannot read {tmp_path / 'nope.csv'}: No such file or directory"
    )

    binary = tmp_path / "latin1.csv"
    binary.write_bytes("to,name\n+4915100000001,J\xfcrgen\n".encode("latin-1"))
    run = await d360("send", *WELCOME, "--csv", binary, emulator=d360_emulator)
    assert run.code == 2
    assert run.error_line == f"d360: error: {binary} is not UTF-8 text (line 2)"


async def test_missing_api_key(tmp_path: Path) -> None:
    source = customers(tmp_path / "customers.csv", 3)

    run = await d360("send", *WELCOME, "--csv", source)  # no emulator: no D360_* at all

    assert run.code == 2
    assert run.err.strip() == "d360: error: no API key: pass --api-key KEY or set D360_API_KEY"


@pytest.mark.parametrize(
    ("template", "language", "params", "message"),
    [
        (
            "black_friday",
            "en_US",
            "name",
            "template 'black_friday' (en_US) is PAUSED, not APPROVED",
        ),
        (
            "weekly_digest",
            "en",
            "",
            "template 'weekly_digest' not found in 'en' (it exists in: en_GB)",
        ),
        (
            "cart_reminder",
            "en_US",
            "name",
            "template 'cart_reminder' (en_US) has 2 body placeholders but --param-columns "
            "gives 1 (name)",
        ),
        (
            "summer_sale",
            "en_US",
            "name,name2,name3",
            "template 'summer_sale' (en_US) has an IMAGE header: pass --header-url URL "
            "(or a media id)",
        ),
    ],
)
async def test_preflight_failures(
    d360_emulator: Emulator, tmp_path: Path, template: str, language: str, params: str, message: str
) -> None:
    source = write(
        tmp_path / "c.csv", "to,name,name2,name3\n+4915100000001,Ada,b,c\n+4915100000002,Bo,b,c\n"
    )
    flags = ["--param-columns", params] if params else []

    run = await d360(
        "send", "--template", template, "--language", language, "--csv", source, *flags,
        emulator=d360_emulator,
    )  # fmt: skip

    assert run.code == 1
    assert run.error_line == f"d360: error: preflight failed: {message}"
    assert d360_emulator.requests["send-marketing-message"] == 0


@pytest.mark.d360_emulator(api_key=SECRET_KEY, rate=None)
async def test_the_api_key_is_never_printed(d360_emulator: Emulator, tmp_path: Path) -> None:
    source = customers(tmp_path / "customers.csv", 3)
    d360_emulator.set_recipient_error("+4915100000002", 131050)

    ok = await d360("send", *WELCOME, "--csv", source, "-v", emulator=d360_emulator)
    wrong_key = "wr0ng-SECRET-key-0123"
    denied = await d360(
        "--api-key", wrong_key, "send", *WELCOME, "--csv", source, "--verbose",
        emulator=d360_emulator,
    )  # fmt: skip

    assert ok.code == 1 and counts(ok.out) == (2, 1, 0, 0)
    assert "DEBUG d360_async" in ok.err  # --verbose: the SDK's debug log
    assert denied.code == 1
    assert denied.error_line == (
        "d360: error: 401 Invalid api token. (check --api-key or D360_API_KEY)"
    )
    for run in (ok, denied):
        assert SECRET_KEY not in run.out + run.err
        assert wrong_key not in run.out + run.err


def journal_statuses(path: Path) -> dict[int, str]:
    """Row number (1-based, as in ``--results``) -> status, from the journal file."""
    with sqlite3.connect(path) as conn:
        return {idx + 1: status for idx, status in conn.execute("SELECT idx, status FROM messages")}


@STOPS
@pytest.mark.d360_emulator(rate=None, latency_ms=20)
async def test_a_stopped_campaign_says_where_it_is_and_resumes_without_sending_twice(
    d360_emulator: Emulator, tmp_path: Path, signum: signal.Signals, code: int, line: str
) -> None:
    n = 400
    source = customers(tmp_path / "customers.csv", n)
    journal = tmp_path / "campaign.sqlite"
    first_results = tmp_path / "first.csv"
    args = [*WELCOME, "--csv", str(source), "--journal", str(journal), "--concurrency", "20"]
    stopped = await d360_stopped(
        "send", *args, "--rate", "100", "--results", first_results,
        emulator=d360_emulator, signum=signum,
        when=lambda: len(d360_emulator.sent_messages) >= 30,  # well under way
    )  # fmt: skip
    out, err = stopped.out, stopped.err
    assert stopped.code == code, err
    assert err.splitlines()[-1] == line
    # The summary is the last line on stdout, and it agrees with the results and the journal.
    assert SUMMARY.fullmatch(out.strip().splitlines()[-1]), out
    sent, failed, skipped, unknown = counts(out)
    assert 30 <= sent + unknown < n  # 30 were accepted: sent, or written with no answer yet
    rows = {int(r["row"]): r["status"] for r in results(first_results)}
    assert Counter(rows.values()) == {
        k: v
        for k, v in {"sent": sent, "failed": failed, "skipped": skipped, "unknown": unknown}.items()
        if v
    }
    assert rows == journal_statuses(journal)
    # How to resume, and what --resend-unknown would do.
    assert "run the same command again" in err
    assert f"{n - len(rows):,} rows not sent yet" in err
    assert "--resend-unknown" in err
    await asyncio.sleep(0.1)  # requests the child abandoned still reach the emulator

    out = tmp_path / "results.csv"
    second = await d360(
        "send", *args, "--concurrency", "50", "--rate", "0", "--results", out,
        emulator=d360_emulator,
    )  # fmt: skip

    sent2, failed2, skipped2, unknown2 = counts(second.out)
    assert (failed2, unknown2) == (0, unknown)  # unknown ones are not sent again
    assert skipped2 == sent
    assert sent + sent2 + unknown == n
    # Everyone was reached, nobody twice: the unknown ones had been written and accepted.
    assert d360_emulator.accepted_counts() == {f"49151{i:08d}": 1 for i in range(1, n + 1)}
    outcomes = results(out)
    assert len(outcomes) == n
    assert all(
        r["error"] == "outcome unknown in an earlier run; not sent again"
        for r in outcomes
        if r["status"] == "unknown"
    )


async def test_jsonl_recipients_in_a_phone_key_are_found(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    lines = [{"phone": f"+49151000000{i}", "name": f"Fan {i}"} for i in range(1, 4)]
    lines.append({"mobile": "+491510000009", "name": "Other key"})  # the key of the file: phone
    source = write(tmp_path / "fans.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")

    run = await d360("send", *WELCOME, "--csv", source, "--dry-run", emulator=d360_emulator)

    assert run.code == 2, run.err
    assert "row 4 (line 4), column 'phone': is missing" in run.err
    assert "rows (1" not in run.err  # rows 1-3 are fine


async def test_jsonl_without_any_recipient_key_says_so(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    source = write(tmp_path / "fans.jsonl", '{"number": "+491510000001", "name": "A"}\n')

    run = await d360("send", *WELCOME, "--csv", source, "--dry-run", emulator=d360_emulator)

    assert run.code == 2, run.err
    assert "no recipient key in" in run.error_line and "--to-column" in run.error_line
