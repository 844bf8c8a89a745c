"""Response bodies no server should send, from a loopback server: nested beyond any parser's
depth, or echoing the request's personal data in a shape the SDK does not expect. Each ends as
a typed error, with no personal data in it; a campaign records the message's outcome."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from d360_async import APIResponseError, APIStatusError, Hooks, RetryPolicy, SendStatus

from .conftest import KEY
from .loopback import loopback

NAME = "Jürgen Müller"
MESSAGE = {
    "to": "4915100000001",
    "template": {
        "name": "t",
        "language": {"code": "en"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": NAME}]}],
    },
}


def deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def answering(status: int, body: bytes) -> Any:
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=status, body=body, content_type="application/json")

    return handler


@pytest.mark.parametrize("depth", [900, 1100, 100_000])
@pytest.mark.parametrize("status", [200, 400, 500])
async def test_a_deeply_nested_body_is_a_typed_error(status: int, depth: int) -> None:
    async with (
        loopback(answering(status, deep(depth))) as server,
        server.client(retry=RetryPolicy(attempts=1)) as client,
    ):
        with pytest.raises(APIStatusError if status >= 400 else APIResponseError):
            await client.send_marketing_message(MESSAGE)


async def test_a_campaign_records_the_message_answered_with_a_deep_body(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    async with (
        loopback(answering(400, deep(100_000))) as server,
        server.client(retry=RetryPolicy(attempts=1)) as client,
    ):
        results = [r async for r in client.send_bulk([MESSAGE], journal=path, preflight=False)]
    assert [r.status for r in results] == [SendStatus.FAILED]
    with sqlite3.connect(path) as db:
        assert db.execute("select status from messages").fetchall() == [("failed",)]


@pytest.mark.parametrize(
    "echo",
    [
        lambda sent: {"messages": sent["template"]["components"][0]["parameters"][0]["text"]},
        lambda sent: [sent["to"], sent["template"]["components"][0]["parameters"][0]["text"]],
        lambda sent: sent["template"]["components"][0]["parameters"][0]["text"],
    ],
)
async def test_an_unexpected_2xx_echoing_the_request_shows_no_personal_data(echo: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response(echo(await request.json()))

    async with loopback(handler) as server, server.client() as client:
        with pytest.raises(APIResponseError) as caught:
            await client.send_marketing_message(MESSAGE)
    error = caught.value
    for text in (str(error), repr(error), str(error.body), repr(error.__dict__)):
        for secret in (NAME, "J\\u00fcrgen", "4915100000001", KEY):
            assert secret not in text


class Escaped(BaseException):
    """Not an ``Exception``: hooks let it through (as they do ``KeyboardInterrupt``)."""


async def test_an_unexpected_exception_after_the_wire_leaves_the_message_unknown(
    tmp_path: Path,
) -> None:
    """Whatever ends a send once its request may have been written, the journal says
    ``unknown`` (not ``pending``) and the run counts it; the exception is not swallowed."""

    def explode(event: object) -> None:
        raise Escaped

    path = tmp_path / "j.sqlite"
    async with (
        loopback() as server,
        server.client(hooks=Hooks(on_response=explode)) as client,
    ):
        run = client.send_bulk([MESSAGE], journal=path, preflight=False)
        with pytest.raises(Escaped):
            await run.run()
    assert run.report.unknown == 1
    with sqlite3.connect(path) as db:
        assert db.execute("select status from messages").fetchall() == [("unknown",)]
