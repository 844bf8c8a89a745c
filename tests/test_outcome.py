"""The one rule "may this failure have been acted upon?" (``_outcome``), and the throttling
classification it relies on: a throttling code means "not acted upon" only in a 4xx."""

from __future__ import annotations

import asyncio
import json

import pytest

from d360_async import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    InternalServerError,
    RateLimitError,
    ValidationError,
)
from d360_async._errors import make_status_error
from d360_async._outcome import may_have_been_acted_upon, status_may_have_been_acted_upon

from . import samples


@pytest.mark.parametrize(
    ("status", "acted"),
    [
        (200, True),
        (301, False),
        (302, True),
        (303, True),
        (307, False),
        (308, False),
        (400, False),
        (401, False),
        (408, False),
        (429, False),
        (500, True),
        (501, False),
        (502, True),
        (503, True),
        (504, True),
        (505, False),
        (511, False),
        (599, True),
    ],
)
def test_status_rule(status: int, acted: bool) -> None:
    assert status_may_have_been_acted_upon(status) is acted


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("code", [4, 17, 613, 130429, 131056, 80007])
def test_a_throttling_code_in_a_5xx_is_a_server_error(status: int, code: int) -> None:
    error = make_status_error(status, _json(samples.meta_error(code)), {})
    assert type(error) is InternalServerError
    assert error.code == code
    assert may_have_been_acted_upon(error)


@pytest.mark.parametrize("status", [400, 403, 429])
def test_a_throttling_code_in_a_4xx_is_not_acted_upon(status: int) -> None:
    error = make_status_error(status, _json(samples.meta_error(130429)), {})
    assert isinstance(error, RateLimitError)
    assert not may_have_been_acted_upon(error)


def test_a_502_html_page_is_maybe_acted_upon() -> None:
    error = make_status_error(502, samples.HTML_502.encode(), {}, reason="Bad Gateway")
    assert type(error) is InternalServerError
    assert may_have_been_acted_upon(error)


@pytest.mark.parametrize(
    ("error", "acted"),
    [
        (APIConnectionError("refused", maybe_sent=False), False),
        (APITimeoutError("pool wait", maybe_sent=False), False),
        (APITimeoutError("read", maybe_sent=True), True),
        (APIConnectionError("dropped", maybe_sent=True), True),
        (APIResponseError(200, "<html>"), True),
        (APIStatusError(400, "bad"), False),
        (ValidationError("to", "empty"), False),
        (asyncio.CancelledError(), True),  # the caller's on_wire knows better
        (RuntimeError("unexpected"), True),
    ],
)
def test_error_rule(error: BaseException, acted: bool) -> None:
    assert may_have_been_acted_upon(error) is acted


def test_an_earlier_ambiguous_attempt_makes_the_last_error_ambiguous() -> None:
    error = APIConnectionError("refused", maybe_sent=False)
    error.maybe_sent_before = True
    assert may_have_been_acted_upon(error)


def _json(body: object) -> bytes:
    return json.dumps(body).encode()
