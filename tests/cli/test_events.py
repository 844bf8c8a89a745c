"""``d360 events``: hashing, batching, the rejected-events file, and input errors."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import re
import signal
import time
from pathlib import Path

import pytest

from d360_async.testing import Emulator

from .conftest import STOPS, d360, d360_stopped, write

NODE = "1340000000000001"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def jsonl(path: Path, events: list[dict[str, object]]) -> Path:
    return write(path, "".join(json.dumps(e) + "\n" for e in events))


async def test_jsonl_events_are_hashed_batched_and_delivered(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    now = int(time.time())
    events = [
        {
            "event_name": "Purchase",
            "event_time": now - i,
            "event_id": f"order-{i}",
            "user_data": {"em": f" Customer{i}@Example.COM ", "ph": "+49 151 1234567"},
            "custom_data": {"currency": "EUR", "value": 10 + i},
        }
        for i in range(2500)
    ]
    source = jsonl(tmp_path / "events.jsonl", events)

    run = await d360(
        "events", "--dataset", NODE, "--file", source, "--batch-size", "1000",
        emulator=d360_emulator,
    )  # fmt: skip

    assert run.code == 0, run.err
    assert re.search(
        r"^summary: received=2500 rejected=0 failed=0 of 2,500 events, 3 batches in [\d.]+s",
        run.out,
        re.M,
    ), run.out
    recorded = d360_emulator.events[NODE]
    assert len(recorded) == 2500
    assert d360_emulator.requests["post-conversion-events"] == 3
    first = next(e for e in recorded if e.event_id == "order-0")
    assert first.data["user_data"]["em"] == [sha256("customer0@example.com")]
    assert first.data["user_data"]["ph"] == [sha256("491511234567")]
    assert not (tmp_path / "events.rejected.csv").exists()


async def test_csv_events_with_rejected_rows(d360_emulator: Emulator, tmp_path: Path) -> None:
    now = int(time.time())
    old = now - 8 * 86400
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    source = write(
        tmp_path / "day.csv",
        "event_name,event_time,event_id,em,user_data.ph,currency,custom_data.value\n"
        f"Purchase,{now},a-1,ada@example.com,+4915112345678,EUR,12.50\n"
        f"Purchase,{old},a-2,bob@example.com,,EUR,3\n"
        f"LeadSubmitted,{iso},a-3,,12,,\n"
        f"Purchase,{now},a-4,eve@example.com,,EUR,lots\n"
        f"LeadSubmitted,{iso},a-5,,,,\n",
    )

    run = await d360("events", "--dataset", NODE, "--file", source, emulator=d360_emulator)

    assert run.code == 1
    assert "summary: received=2 rejected=3 failed=0 of 5 events" in run.out
    rejected_file = tmp_path / "day.rejected.csv"
    assert run.error_line == f"3 events not delivered, 1 value dropped: see {rejected_file}"
    assert "dropped values: ph=1" in run.out
    with rejected_file.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [(r["row"], r["status"], r["event_id"], r["field"], r["reason"]) for r in rows] == [
        ("2", "rejected", "a-2", "event_time", "is older than 7 days"),
        ("3", "value dropped", "a-3", "user_data.ph", rows[1]["reason"]),
        ("3", "rejected", "a-3", "user_data", rows[2]["reason"]),
        ("4", "rejected", "a-4", "custom_data.value", "must be a finite number"),
    ]
    assert "12" not in rows[1]["reason"]  # reasons never quote the PII value
    delivered = {e.event_id: e for e in d360_emulator.events[NODE]}
    assert set(delivered) == {"a-1", "a-5"}
    assert delivered["a-1"].data["custom_data"] == {"currency": "EUR", "value": 12.5}
    assert delivered["a-5"].event_time == now


async def test_dropped_values_are_counted_per_key(d360_emulator: Emulator, tmp_path: Path) -> None:
    now = int(time.time())
    source = write(
        tmp_path / "odd.csv",
        "event_name,event_time,event_id,em,ge,ph,country,currency,value\n"
        f"Purchase,{now},b-1,ada@example.com,Woman,1(650)123-4567,Russia,EUR,1\n"
        f"Purchase,{now},b-2,bob@example.com,Qz-Plain,12,Atlantis,EUR,1\n"
        f"Purchase,{now},b-3,eve@example.com,x,,,EUR,1\n"
        f"Purchase,{now},b-4,not-an-email,,,,EUR,1\n",
    )

    run = await d360("events", "--dataset", NODE, "--file", source, emulator=d360_emulator)

    assert run.code == 1, run.err
    assert "summary: received=3 rejected=1 failed=0 of 4 events" in run.out
    assert "dropped values: country=1 em=1 ge=2 ph=1" in run.out
    delivered = {e.event_id: e.data["user_data"] for e in d360_emulator.events[NODE]}
    assert set(delivered) == {"b-1", "b-2", "b-3"}
    assert delivered["b-1"]["ge"] == [sha256("f")] and "ge" not in delivered["b-2"]
    rejected_file = tmp_path / "odd.rejected.csv"
    with rejected_file.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    rows.sort(key=lambda r: (int(r["row"]), r["status"] != "value dropped"))  # by completion
    assert [(r["row"], r["status"], r["event_id"], r["field"]) for r in rows] == [
        ("2", "value dropped", "b-2", "user_data.ge"),
        ("2", "value dropped", "b-2", "user_data.ph"),
        ("2", "value dropped", "b-2", "user_data.country"),
        ("3", "value dropped", "b-3", "user_data.ge"),
        ("4", "value dropped", "b-4", "user_data.em"),
        ("4", "rejected", "b-4", "user_data"),
    ]
    assert not any(v in r["reason"] for r in rows for v in ("Qz-Plain", "Atlantis", "not-an"))


async def test_test_event_code_and_explicit_rejected_file(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    event = {"event_name": "LeadSubmitted", "event_time": int(time.time()), "event_id": "x-1"}
    source = jsonl(tmp_path / "leads.ndjson", [event])
    rejected = tmp_path / "out" / "rejected.csv"
    rejected.parent.mkdir()

    run = await d360(
        "events", "--dataset", NODE, "--file", source, "--test-event-code", "TEST123",
        "--rejected", rejected, emulator=d360_emulator,
    )  # fmt: skip

    assert run.code == 0, run.err
    assert d360_emulator.events[NODE][0].test_event_code == "TEST123"
    assert rejected.read_text() == "row,status,event_name,event_id,field,reason\n"


async def test_invalid_json_line(d360_emulator: Emulator, tmp_path: Path) -> None:
    source = write(
        tmp_path / "e.jsonl", '{"event_name": "A", "event_time": 1}\n\n{"event_name": \n'
    )

    run = await d360("events", "--dataset", NODE, "--file", source, emulator=d360_emulator)

    assert run.code == 2
    assert run.error_line == (f"d360: error: {source} line 3: invalid JSON (Expecting value)")
    assert d360_emulator.requests["post-conversion-events"] == 0


async def test_csv_column_that_is_not_an_event_field(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    unknown = write(tmp_path / "a.csv", "event_name,event_time,emial\nPurchase,1,a@b.c\n")
    nameless = write(tmp_path / "b.csv", "event_time,em\n1,a@b.c\n")

    first = await d360("events", "--dataset", NODE, "--file", unknown, emulator=d360_emulator)
    second = await d360("events", "--dataset", NODE, "--file", nameless, emulator=d360_emulator)

    assert first.code == second.code == 2
    assert first.error_line.startswith(f"d360: error: {unknown}: 'emial' is not an event field")
    assert second.error_line == f"d360: error: {nameless} has no 'event_name' column"


async def test_events_usage_errors(d360_emulator: Emulator, tmp_path: Path) -> None:
    source = jsonl(tmp_path / "e.jsonl", [{"event_name": "A", "event_time": 1}])

    missing = await d360(
        "events", "--dataset", NODE, "--file", tmp_path / "no.jsonl", emulator=d360_emulator
    )
    too_big = await d360(
        "events", "--dataset", NODE, "--file", source, "--batch-size", "5000",
        emulator=d360_emulator,
    )  # fmt: skip
    no_key = await d360("events", "--dataset", NODE, "--file", source)

    assert (missing.code, too_big.code, no_key.code) == (2, 2, 2)
    assert missing.error_line.endswith("no.jsonl: No such file or directory")
    assert too_big.error_line == (
        "d360: error: argument --batch-size: must be at most 1000 (the API's limit per request)"
        " (see 'd360 events --help')"
    )
    assert no_key.error_line == "d360: error: no API key: pass --api-key KEY or set D360_API_KEY"


@STOPS
@pytest.mark.d360_emulator(rate=None, latency_ms=20)
async def test_an_interrupted_run_says_what_was_not_delivered_and_a_rerun_counts_once(
    d360_emulator: Emulator, tmp_path: Path, signum: signal.Signals, code: int, line: str
) -> None:
    now = int(time.time())
    events = [
        {"event_name": "LeadSubmitted", "event_time": now - i, "user_data": {"em": f"c{i}@x.io"}}
        for i in range(300)
    ]
    source = jsonl(tmp_path / "leads.jsonl", events)  # no event_id: derived ones
    args = ["events", "--dataset", NODE, "--file", str(source), "--batch-size", "5"]
    stopped = await d360_stopped(
        *args, "--concurrency", "1", emulator=d360_emulator, signum=signum,
        when=lambda: len(d360_emulator.events.get(NODE, ())) >= 20,  # well under way
    )  # fmt: skip
    out, err = stopped.out, stopped.err

    assert stopped.code == code, err
    assert err.splitlines()[-1] == line
    summary = re.search(r"summary: received=(\d+) rejected=0 failed=0 of 300 events", out)
    assert summary, out
    received = int(summary.group(1))
    assert 0 < received < 300  # an answer may be lost on the way: that event is "interrupted"
    with (tmp_path / "leads.rejected.csv").open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert {r["status"] for r in rows} == {"interrupted"}
    assert len(rows) == 300 - received
    assert all(r["event_id"] and r["event_name"] == "LeadSubmitted" for r in rows)
    assert f"{300 - received} events not delivered" in err
    assert "run the same command again" in err
    await asyncio.sleep(0.1)  # requests the child abandoned still reach the emulator

    again = await d360(*args, emulator=d360_emulator)

    assert again.code == 0, again.err
    assert len(d360_emulator.events[NODE]) == 300  # every event once
    assert d360_emulator.duplicate_events >= received
    assert not (tmp_path / "leads.rejected.csv").exists()  # nothing left to re-send


async def test_any_custom_data_key_is_a_column(d360_emulator: Emulator, tmp_path: Path) -> None:
    now = int(time.time())
    source = write(
        tmp_path / "leads.csv",
        "event_name,event_time,em,custom_data.campaign,custom_data.value,currency\n"
        f"LeadSubmitted,{now},a@b.io,spring,12.5,EUR\n",
    )

    run = await d360("events", "--dataset", NODE, "--file", source, emulator=d360_emulator)

    assert run.code == 0, run.err
    [event] = d360_emulator.events[NODE]
    assert event.data["custom_data"] == {"campaign": "spring", "value": 12.5, "currency": "EUR"}


async def test_a_column_that_is_no_field_is_still_refused(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    source = write(tmp_path / "l.csv", "event_name,event_time,campaign,user_data.foo\nLead,1,x,y\n")

    run = await d360("events", "--dataset", NODE, "--file", source, emulator=d360_emulator)

    assert run.code == 2
    assert "'campaign', 'user_data.foo' are not event fields" in run.error_line
