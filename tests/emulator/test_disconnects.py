"""A client that goes away mid-request is logged at DEBUG, one line, without a traceback."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

import pytest

from d360_async.testing import Emulator

from ._helpers import message

#: Loggers the emulator's server writes to (aiohttp's own and ours).
_LOGGERS = ("aiohttp", "d360_async")


def _request(emu: Emulator, body: bytes, *, declared: int | None = None) -> bytes:
    head = (
        f"POST /marketing_messages HTTP/1.1\r\nHost: {emu.url[7:]}\r\n"
        f"D360-API-KEY: {emu.api_key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {declared if declared is not None else len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith(_LOGGERS)]


async def _wait_for(condition: Callable[[], bool], what: str) -> None:
    """Wait (at most 10 s) until ``condition()`` holds."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def _until_logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The server's records, once it has logged about the disconnection."""
    await _wait_for(
        lambda: any("disconnect" in r.getMessage().lower() or r.exc_info for r in _records(caplog)),
        "a log record about the disconnection",
    )
    return _records(caplog)


def _assert_quiet(records: list[logging.LogRecord]) -> None:
    assert [r for r in records if r.levelno > logging.DEBUG] == [], [
        (r.levelname, r.getMessage()) for r in records
    ]
    assert [r for r in records if r.exc_info or r.exc_text] == []
    ours = [r for r in records if r.name.startswith("d360_async")]
    assert len(ours) == 1
    assert "client disconnected" in ours[0].getMessage()
    assert "POST /marketing_messages" in ours[0].getMessage()


async def test_a_client_gone_before_its_body_arrived(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with Emulator(rate=None) as emu:
        _, writer = await asyncio.open_connection("127.0.0.1", emu.port)
        body = json.dumps(message()).encode()
        writer.write(_request(emu, body[:20], declared=len(body)))  # the rest never comes
        await writer.drain()
        await _wait_for(lambda: emu.requests["send-marketing-message"] == 1, "the request")
        writer.close()
        await writer.wait_closed()
        records = await _until_logged(caplog)

        assert emu.sent_messages == []
    _assert_quiet(records)


async def test_a_client_gone_while_a_slow_answer_is_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with Emulator(rate=None, faults=["slow"], slow_body_delay_ms=20) as emu:
        reader, writer = await asyncio.open_connection("127.0.0.1", emu.port)
        writer.write(_request(emu, json.dumps(message()).encode()))
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")  # the headers: the body is on its way, slowly
        writer.transport.abort()  # a reset, not a polite close
        records = await _until_logged(caplog)

        assert len(emu.sent_messages) == 1  # recorded before the answer was lost
    _assert_quiet(records)
