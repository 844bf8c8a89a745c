"""Hypothesis: random server responses (status, headers, HTML, truncated and huge JSON, wrong
types, bad gzip, connections closed mid-body, slow bodies) from a raw TCP server on loopback give
only typed errors, and neither the API key nor the personal data the request carried shows in
any exception text, log line or repr, even when the server echoes them back."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from d360_async import D360Client, D360Error, RetryPolicy, Timeout

from . import samples
from .conftest import KEY

TO = "4915112345678"
NAME = "Ada Lovelace"
EMAIL = "ada@example.com"
SECRETS = (KEY, TO, "+" + TO, NAME)
MESSAGE = {
    "to": TO,
    "template": {
        "name": "promo",
        "language": {"code": "en"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": NAME}]}],
    },
}
HUGE = b"<huge JSON>"
HUGE_BODY = json.dumps({"data": [{"id": "x" * 100}] * 20_000}).encode()
EVENT = {
    "event_name": "Lead",
    "event_time": 1795608000,
    "user_data": {"em": [EMAIL], "client_user_agent": NAME},
}

Operation = Callable[[D360Client], Awaitable[Any]]
#: Each call, and the personal data its request carries (what must never come back).
OPERATIONS: list[tuple[Operation, tuple[str, ...]]] = [
    (lambda c: c.send_marketing_message(MESSAGE), (TO, "+" + TO, NAME)),
    (lambda c: c.get_message_template("77"), ()),
    (lambda c: c.get_ad_object_insights("act_1", date_preset="last_7d"), ()),
    (lambda c: c.post_conversion_events("55", [EVENT]), (EMAIL, NAME)),
    (lambda c: c.get_template_analytics(start=1, end=2, template_ids=["1"]), ()),
]

echoes = st.sampled_from([*SECRETS, EMAIL, f"key={KEY}", f"user {TO} ({NAME})", "fine"])
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), echoes),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=10,
)


@st.composite
def json_bodies(draw: st.DrawFn) -> bytes:
    echo = draw(echoes)
    body = draw(
        st.sampled_from(
            [
                samples.SEND_OK,
                samples.TEMPLATE,
                samples.INSIGHTS_PAGE_2,
                samples.EVENTS_OK,
                samples.meta_error(131026, f"(#131026) {echo} undeliverable"),
                samples.meta_error(130429, echo, error_user_msg=echo),
                {"error": echo},
                {"detail": samples.meta_error(100, echo)},
                {"meta": {"developerMessage": echo, "code": 400}},
                {"messages": [{"id": echo}], "contacts": [{"input": echo, "wa_id": 5}]},
                {"data": "not a list", "paging": [echo]},
            ]
        )
        | json_values
    )
    return json.dumps(body).encode()


bodies = st.one_of(
    json_bodies(),
    json_bodies().flatmap(lambda b: st.integers(0, max(len(b) - 1, 0)).map(lambda n: b[:n])),
    echoes.map(lambda e: f"<html><body><h1>Oops</h1><p>{e}</p></body></html>".encode()),
    st.just(HUGE),  # about 2.5 MB of JSON, made when answering (a small example to show)
    st.binary(max_size=64),
)


@attrs.frozen
class Answer:
    status: int
    reason: str
    body: bytes
    headers: tuple[tuple[str, str], ...]
    encoding: str | None  # "gzip", "gzip-bad", "deflate-bad", None
    framing: str  # "length", "short" (declares more than sent), "chunked", "chunked-bad", "eof"
    pause: float  # seconds between pieces of the body
    cut: bool  # close the connection in the middle of the body


answers = st.builds(
    Answer,
    status=st.one_of(
        st.sampled_from([200, 201, 204, 301, 302, 400, 401, 403, 404, 408, 429, 500, 502, 503]),
        st.integers(200, 599),
    ),
    reason=st.sampled_from(["OK", "", "Whatever", f"Bad {KEY}", f"no {TO}"]),
    body=bodies,
    headers=st.lists(
        st.tuples(
            st.sampled_from(["Content-Type", "Retry-After", "Location", "X-FB-Trace-ID"]),
            st.one_of(
                echoes,
                st.sampled_from(["application/json", "text/html", "-1", "1e309", "soon"]),
                echoes.map(lambda e: f"https://evil.example/next?token={e}"),
            ),
        ),
        max_size=3,
    ).map(tuple),
    encoding=st.sampled_from([None, None, "gzip", "gzip-bad", "deflate-bad"]),
    framing=st.sampled_from(["length", "length", "short", "chunked", "chunked-bad", "eof"]),
    pause=st.sampled_from([0.0, 0.0, 0.0, 0.02, 0.2]),
    cut=st.booleans(),
)


def encode(answer: Answer) -> tuple[bytes, list[bytes]]:
    """The response head and the pieces of its body, as written on the socket."""
    body = HUGE_BODY if answer.body == HUGE else answer.body
    headers = [*answer.headers]
    if answer.encoding == "gzip":
        body = gzip.compress(body)
    elif answer.encoding == "gzip-bad":
        body = b"\x1f\x8b\x08\x00" + body[:20]
    elif answer.encoding == "deflate-bad":
        body = zlib.compress(body)[:-4] + b"xxxx"
    if answer.encoding:
        headers.append(("Content-Encoding", answer.encoding.split("-")[0]))
    pieces = [body[i : i + 65536] for i in range(0, len(body), 65536)] or [b""]
    if answer.framing in ("length", "short"):
        extra = 10 if answer.framing == "short" else 0
        headers.append(("Content-Length", str(len(body) + extra)))
    elif answer.framing.startswith("chunked"):
        headers.append(("Transfer-Encoding", "chunked"))
        pieces = [b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p] + [b"0\r\n\r\n"]
        if answer.framing == "chunked-bad":
            pieces = [b"zz\r\nnot hex\r\n"]
    headers.append(("Connection", "close"))
    head = f"HTTP/1.1 {answer.status} {answer.reason}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    if answer.cut:
        pieces = pieces[: max(1, len(pieces) // 2)]
        pieces[-1] = pieces[-1][: len(pieces[-1]) // 2]
    return head.encode("utf-8", "replace"), pieces


class RawServer:
    """Answers every request with ``self.answer``, byte by byte as ``encode`` says."""

    def __init__(self) -> None:
        self.answer: Answer | None = None
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            assert self.answer is not None
            first, pieces = encode(self.answer)
            writer.write(first)
            for piece in pieces:
                if self.answer.pause:
                    await asyncio.sleep(self.answer.pause)
                writer.write(piece)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"


@pytest.fixture
async def raw_server() -> AsyncIterator[RawServer]:
    raw = RawServer()
    raw.server = await asyncio.start_server(raw.handle, "127.0.0.1", 0)
    try:
        yield raw
    finally:
        raw.server.close()
        await raw.server.wait_closed()


def clean(text: str, personal: tuple[str, ...]) -> None:
    assert KEY not in text
    for value in personal:
        assert value not in text


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(answer=answers, operation=st.sampled_from(OPERATIONS))
async def test_any_answer_gives_a_result_or_a_typed_error_and_tells_no_secret(
    raw_server: RawServer,
    caplog: pytest.LogCaptureFixture,
    answer: Answer,
    operation: tuple[Operation, tuple[str, ...]],
) -> None:
    call, personal = operation
    raw_server.answer = answer
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="d360_async")
    async with D360Client(
        KEY,
        base_url=raw_server.url,
        rate_limit=None,
        retry=RetryPolicy(attempts=2, wait=False),
        timeout=Timeout(pool=1.0, connect=1.0, request=0.3),
    ) as client:
        try:
            await call(client)
        except D360Error as exc:
            clean(str(exc), personal)
            clean(repr(exc), personal)
            if exc.__cause__ is not None:
                clean(str(exc.__cause__), personal)
        clean(repr(client), personal)
    for record in caplog.records:
        clean(record.getMessage(), personal)
