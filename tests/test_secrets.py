"""The API key never appears in a repr, an exception's text (with its causes) or a log line."""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aioresponses import aioresponses

from d360_async import APIConnectionError, D360Client, D360Error, RetryPolicy

from . import samples
from .conftest import KEY
from .test_operations import url

MESSAGE = {"to": "4915112345678", "template": {"name": "promo", "language": {"code": "en"}}}


def assert_no_key(text: str) -> None:
    assert KEY not in text
    assert KEY[4:16] not in text  # nor a recognisable part of it


def everything_about(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc) + repr(exc.__cause__)


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    async def echo_error(request: web.Request) -> web.Response:
        # A hostile server that reflects the key into its error message.
        key = request.headers["D360-API-KEY"]
        return web.json_response(
            {"error": f"bad key {key}", "headers": dict(request.headers)}, status=400
        )

    async def ok(request: web.Request) -> web.Response:
        return web.json_response(samples.SEND_OK)

    app = web.Application()
    app.router.add_post("/marketing_messages", ok)
    app.router.add_get("/marketing/{id}", echo_error)
    async with TestServer(app, host="127.0.0.1") as srv:
        yield srv


def test_client_repr_hides_the_key() -> None:
    client = D360Client(KEY)
    assert_no_key(repr(client))
    assert_no_key(str(client))
    assert "waba-v2.360dialog.io" in repr(client)


async def test_no_key_in_errors_or_debug_logs(
    mock_api: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    mock_api.post(url("/marketing_messages"), status=429, headers={"Retry-After": "0"})
    mock_api.post(url("/marketing_messages"), payload=samples.SEND_OK)
    mock_api.get(url("/marketing/1"), status=500, body="<html>oops</html>")
    mock_api.get(url("/marketing/2"), exception=aiohttp.ServerDisconnectedError())
    mock_api.get(url("/marketing/3"), exception=aiohttp.SocketTimeoutError("read timed out"))
    caught: list[BaseException] = []
    with caplog.at_level(logging.DEBUG):
        async with D360Client(
            KEY, rate_limit=None, retry=RetryPolicy(attempts=2, wait=False)
        ) as client:
            await client.send_marketing_message(MESSAGE)
            for template_id in ("1", "2", "3"):
                with pytest.raises(D360Error) as info:
                    await client.get_message_template(template_id)
                caught.append(info.value)
            with pytest.raises(D360Error) as bad:
                await client.send_marketing_message({"to": "", "template": {}})
            caught.append(bad.value)
    assert len(caught) == 4
    for exc in caught:
        assert_no_key(everything_about(exc))
    d360_lines = [r for r in caplog.records if r.name == "d360_async"]
    assert len(d360_lines) >= 5  # the capture did see the SDK's DEBUG lines
    for record in caplog.records:
        assert_no_key(record.getMessage())


async def test_no_key_over_a_real_connection(
    server: TestServer, caplog: pytest.LogCaptureFixture
) -> None:
    base = str(server.make_url("")).rstrip("/")
    with caplog.at_level(logging.DEBUG):
        async with D360Client(KEY, base_url=base, rate_limit=None) as client:
            await client.send_marketing_message(MESSAGE)
            with pytest.raises(D360Error) as info:
                await client.get_message_template("9")
    # The server echoed the key; the error redacts it from its message and body.
    assert info.value.message == "bad key [redacted]"  # type: ignore[attr-defined]
    assert_no_key(everything_about(info.value) + str(info.value.body))  # type: ignore[attr-defined]
    for record in caplog.records:
        assert_no_key(record.getMessage())


async def test_no_key_in_the_cause_of_a_malformed_response() -> None:
    """aiohttp's ``ClientResponseError`` carries the request's headers (the key among them) in
    its ``request_info``: such an exception is never chained to the SDK's error."""

    async def malformed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(malformed, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with D360Client(
            KEY, base_url=f"http://127.0.0.1:{port}", rate_limit=None, retry=RetryPolicy.never()
        ) as client:
            with pytest.raises(APIConnectionError) as info:
                await client.get_message_templates()
    finally:
        server.close()
        await server.wait_closed()
    assert "ClientResponseError" in str(info.value) or "ClientPayloadError" in str(info.value)
    assert_no_key(everything_about(info.value))
