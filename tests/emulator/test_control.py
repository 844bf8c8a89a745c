"""Inspection and control: in process, over ``/_emulator/*``, and out of process (CLI)."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

import aiohttp
import pytest

from d360_async.testing import Emulator
from d360_async.testing._cli import build_parser, emulator_from_args, main

from ._helpers import call, event, message


async def _control(
    http: aiohttp.ClientSession, url: str, method: str, path: str, **kwargs: Any
) -> tuple[int, Any]:
    async with http.request(method, f"{url}/_emulator/{path}", **kwargs) as resp:
        return resp.status, await resp.json()


async def test_state_summarises_everything_without_api_key(
    http: aiohttp.ClientSession,
) -> None:
    async with Emulator(rate=1, clock=lambda: 0.0, faults=["500"]) as emu:
        await call(http, emu, "POST", "/marketing_messages", json=message(to="+4915100000001"))
        await call(http, emu, "POST", "/marketing_messages", json=message(to="+4915100000001"))
        await call(http, emu, "POST", "/marketing_messages", json=message(to="+4915100000002"))
        await call(http, emu, "POST", "/marketing/n1/events", json={"data": [event(1), event(1)]})
        await call(http, emu, "POST", "/marketing/waba/dataset", json={})
        status, state = await _control(http, emu.url, "GET", "state")

    assert status == 200
    assert state == emu.snapshot()
    assert state["sent"] == 1
    assert state["recipients"] == {"4915100000001": 1}
    assert state["duplicates"] == {}
    assert state["events"] == {"n1": 1}
    assert state["duplicate_events"] == 1
    assert list(state["datasets"]) == ["waba"]
    assert state["requests"]["send-marketing-message"] == 3
    assert state["faults"] == {"500": 1}
    assert state["fault_log"][0] == ["send-marketing-message", "500"]
    assert state["rate_limited"] == 1
    assert len(state["templates"]) == 13


async def test_reset_clears_records_and_restores_templates(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    await call(http, emu, "POST", "/marketing_messages", json=message())
    emu.set_template_status("summer_sale", "en_US", "PAUSED")
    emu.add_template("extra", "en_US")

    status, body = await _control(http, emu.url, "POST", "reset")

    assert (status, body) == (200, {"ok": True})
    assert emu.sent_messages == []
    assert emu.requests == {}
    assert emu.get_template("summer_sale", "en_US").status == "APPROVED"
    assert "extra" not in {t.name for t in emu.templates}


async def test_reset_can_keep_templates_and_restarts_the_fault_schedule(
    http: aiohttp.ClientSession,
) -> None:
    async with Emulator(rate=None, faults=["503"]) as emu:
        emu.add_template("extra", "en_US")
        first, _, _ = await call(http, emu, "POST", "/marketing_messages", json=message())
        await _control(http, emu.url, "POST", "reset", json={"templates": False})
        again, _, _ = await call(http, emu, "POST", "/marketing_messages", json=message())
    assert (first, again) == (503, 503)
    assert "extra" in {t.name for t in emu.templates}


async def test_templates_can_be_upserted_over_http(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    status, paused = await _control(
        http,
        emu.url,
        "POST",
        "templates",
        json={"name": "summer_sale", "language": "en_US", "status": "PAUSED"},
    )
    _, created = await _control(
        http,
        emu.url,
        "POST",
        "templates",
        json={"name": "flash", "language": "en_US", "body_text": "Hi {{1}}"},
    )
    bad, _ = await _control(
        http,
        emu.url,
        "POST",
        "templates",
        json={"name": "summer_sale", "language": "en_US", "status": "ZZZ"},
    )

    assert (status, paused["status"], bad) == (200, "PAUSED", 400)
    assert emu.get_template("summer_sale", "en_US").status == "PAUSED"
    assert created["id"] == emu.get_template("flash", "en_US").id
    assert emu.get_template("flash", "en_US").body_params == 1


async def test_faults_and_recipient_errors_over_http(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    status, queued = await _control(http, emu.url, "POST", "faults", json={"faults": ["502"]})
    bad, _ = await _control(http, emu.url, "POST", "faults", json={"faults": ["teapot"]})
    await _control(
        http, emu.url, "POST", "recipient_errors", json={"to": "+4915100000001", "code": 131050}
    )

    faulted, _, _ = await call(
        http, emu, "POST", "/marketing_messages", json=message(to="+4915100000002")
    )
    refused, _, _ = await call(
        http, emu, "POST", "/marketing_messages", json=message(to="+4915100000001")
    )
    await _control(
        http, emu.url, "POST", "recipient_errors", json={"to": "+4915100000001", "code": None}
    )
    accepted, _, _ = await call(
        http, emu, "POST", "/marketing_messages", json=message(to="+4915100000001")
    )

    assert (status, queued, bad) == (200, {"queued": 1}, 400)
    assert (faulted, refused, accepted) == (502, 400, 200)


@pytest.mark.parametrize(
    ("path", "payload"),
    [("faults", {"x": 1}), ("recipient_errors", {"to": "abc", "code": 1}), ("reset", [1])],
)
async def test_control_rejects_bad_bodies(
    emu: Emulator, http: aiohttp.ClientSession, path: str, payload: Any
) -> None:
    status, body = await _control(http, emu.url, "POST", path, json=payload)
    assert status == 400
    assert isinstance(body["error"], str)


def test_cli_options_map_to_emulator_options() -> None:
    argv = "--port 0 --api-key A --api-key B --rate none --fault-rate 0.25 --seed 9"
    argv += " --fault-kinds 500,drop_after --faults ok,503 --latency-ms 5"
    argv += " --pair-rate-limit 2 --wrap-errors"
    args = build_parser().parse_args(argv.split())
    emu = emulator_from_args(args)

    config = emu.config
    assert (config.api_key, config.api_keys, config.rate) == ("A", ("B",), None)
    assert (config.fault_rate, config.fault_kinds, config.faults) == (
        0.25,
        ("500", "drop_after"),
        ("ok", "503"),
    )
    assert (config.seed, config.latency_ms, config.pair_rate_limit, config.wrap_errors) == (
        9,
        5.0,
        2,
        True,
    )
    assert build_parser().parse_args([]).port == 8360


def test_cli_refuses_bad_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--fault-rate", "2"]) == 2
    assert "fault_rate" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--faults", "teapot"])


async def test_out_of_process_black_box(http: aiohttp.ClientSession) -> None:
    """``python -m d360_async.testing``: a client in another process checks nothing was lost
    or doubled, through ``/_emulator/state`` only."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "d360_async.testing",
        "--port",
        "0",
        "--api-key",
        "KEY",
        "--rate",
        "none",
        "--faults",
        "ok,drop_after",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        assert "listening on http://127.0.0.1:" in line
        url = line.split()[4]
        hdrs = {"D360-API-KEY": "KEY"}
        outcomes: list[int | str] = []
        for to in ("+4915100000001", "+4915100000002", "+4915100000002"):
            try:
                async with http.post(
                    f"{url}/marketing_messages", json=message(to=to), headers=hdrs
                ) as resp:
                    outcomes.append(resp.status)
            except aiohttp.ClientError:
                outcomes.append("dropped")
        _, state = await _control(http, url, "GET", "state")
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 20)

    assert outcomes == [200, "dropped", 200]
    assert state["recipients"] == {"4915100000001": 1, "4915100000002": 2}
    assert state["duplicates"] == {"4915100000002": 2}
    assert code == 0
