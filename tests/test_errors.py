"""Error mapping: each status, each body shape the service returns, and transport failures."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

from d360_async import (
    APIConnectionError,
    APIError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    D360Client,
    D360Error,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    ValidationError,
)
from d360_async._errors import make_status_error, parse_retry_after

from . import samples
from .conftest import API, KEY

TEMPLATE_URL = API + "/marketing/123"


@pytest.fixture
async def no_retry_client() -> Any:
    async with D360Client(KEY, rate_limit=None, retry=RetryPolicy.never()) as c:
        yield c


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, APIStatusError),
        (429, RateLimitError),
        (500, InternalServerError),
        (502, InternalServerError),
        (503, InternalServerError),
        (504, InternalServerError),
    ],
)
async def test_status_maps_to_class(
    mock_api: aioresponses, no_retry_client: D360Client, status: int, cls: type[APIStatusError]
) -> None:
    mock_api.get(TEMPLATE_URL, status=status, payload={"error": f"status {status}"})
    with pytest.raises(cls) as info:
        await no_retry_client.get_message_template("123")
    assert type(info.value) is cls
    assert info.value.status == status
    assert info.value.message == f"status {status}"
    assert info.value.body == {"error": f"status {status}"}
    assert isinstance(info.value, APIError) and isinstance(info.value, D360Error)


def test_text_error_body() -> None:
    err = make_status_error(401, json.dumps(samples.ERROR_TEXT).encode(), {})
    assert isinstance(err, AuthenticationError)
    assert (err.message, err.code, err.fbtrace_id) == ("Invalid api token.", None, None)
    assert str(err) == "401 Invalid api token."


def test_meta_error_body() -> None:
    body = samples.meta_error(132001, "(#132001) Template name does not exist in the translation")
    body["error"]["error_subcode"] = 2494010
    err = make_status_error(400, json.dumps(body).encode(), {})
    assert isinstance(err, BadRequestError)
    assert err.message == "(#132001) Template name does not exist in the translation"
    assert err.code == 132001
    assert err.error_subcode == 2494010
    assert err.error_type == "OAuthException"
    assert err.details == "details of 132001"
    assert err.fbtrace_id == "AzYxWvUtSrQ"
    assert err.body == body
    assert "code=132001" in str(err) and "fbtrace_id=AzYxWvUtSrQ" in str(err)


def test_wrapped_meta_error_body() -> None:
    body = samples.wrapped_meta_error(132015, "Template is paused")
    err = make_status_error(403, json.dumps(body).encode(), {})
    assert isinstance(err, PermissionDeniedError)
    assert (err.code, err.message, err.fbtrace_id) == (132015, "Template is paused", "AzYxWvUtSrQ")


def test_360dialog_meta_body_usage_limit_is_a_rate_limit() -> None:
    err = make_status_error(400, json.dumps(samples.META_GENERIC).encode(), {})
    assert isinstance(err, RateLimitError)
    assert err.status == 400
    assert err.message == "You have exceeded the limit of 1 request every 5 seconds"
    assert err.retry_after == 5.0


def test_360dialog_meta_body_other_message() -> None:
    body = {"meta": {"httpCode": 400, "developerMessage": "Unknown phone", "success": False}}
    err = make_status_error(400, json.dumps(body).encode(), {})
    assert type(err) is BadRequestError
    assert err.message == "Unknown phone"


def test_html_body_from_a_proxy() -> None:
    err = make_status_error(502, samples.HTML_502.encode(), {}, reason="Bad Gateway")
    assert isinstance(err, InternalServerError)
    assert err.message == "502 Bad Gateway Bad Gateway"
    assert err.body == samples.HTML_502


def test_empty_body_uses_reason_phrase() -> None:
    err = make_status_error(503, b"", {}, reason="Service Unavailable")
    assert (type(err), err.message, err.body) == (InternalServerError, "Service Unavailable", None)


def test_long_text_is_clipped() -> None:
    err = make_status_error(500, b"x" * 5000, {})
    assert len(err.message) == 300 and err.message.endswith("…")


@pytest.mark.parametrize("code", [130429, 131056, 4, 17, 613, 80007, 131057])
def test_throttling_codes_in_a_400_are_rate_limits(code: int) -> None:
    err = make_status_error(400, json.dumps(samples.meta_error(code)).encode(), {})
    assert isinstance(err, RateLimitError)
    assert (err.status, err.code) == (400, code)
    assert err.per_recipient is (code == 131056)


@pytest.mark.parametrize("code", [100, 131026, 131049, 131050, 132000, 132001])
def test_other_codes_in_a_400_are_bad_requests(code: int) -> None:
    err = make_status_error(400, json.dumps(samples.meta_error(code)).encode(), {})
    assert type(err) is BadRequestError and err.code == code


def test_retry_after_header_seconds_and_http_date() -> None:
    assert make_status_error(429, b"{}", {"Retry-After": "7"}).retry_after == 7.0
    assert parse_retry_after("Wed, 25 Nov 2026 18:00:30 GMT", now=1795629600.0) == 30.0
    assert parse_retry_after("Wed, 25 Nov 2026 17:00:00 GMT", now=1795629600.0) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("nan") is None


async def test_error_json_body_on_success_status_is_response_error(
    mock_api: aioresponses, no_retry_client: D360Client
) -> None:
    mock_api.get(TEMPLATE_URL, status=200, body="<html>maintenance</html>")
    with pytest.raises(APIResponseError) as info:
        await no_retry_client.get_message_template("123")
    assert info.value.body == "<html>maintenance</html>"


async def test_unexpected_response_shape_is_response_error(
    mock_api: aioresponses, no_retry_client: D360Client
) -> None:
    mock_api.get(TEMPLATE_URL, status=200, payload={"components": "not a list"})
    with pytest.raises(APIResponseError, match="unexpected MessageTemplate shape"):
        await no_retry_client.get_message_template("123")
    mock_api.get(TEMPLATE_URL, status=200, payload=[1, 2])
    with pytest.raises(APIResponseError, match="expected a JSON object"):
        await no_retry_client.get_message_template("123")


async def test_unknown_response_fields_and_enum_values_do_not_break_parsing(
    mock_api: aioresponses, no_retry_client: D360Client
) -> None:
    body = {**samples.TEMPLATE, "status": "ARCHIVED_BY_META", "brand_new": {"x": [1]}}
    mock_api.get(TEMPLATE_URL, payload=body)
    template = await no_retry_client.get_message_template("123")
    assert template.status == "ARCHIVED_BY_META"
    assert template.raw["brand_new"] == {"x": [1]}


@pytest.mark.parametrize(
    ("exc", "cls", "maybe_sent"),
    [
        (aiohttp.ConnectionTimeoutError(), APITimeoutError, False),
        (aiohttp.SocketTimeoutError(), APITimeoutError, True),
        (TimeoutError(), APITimeoutError, True),
        (aiohttp.ServerDisconnectedError(), APIConnectionError, True),
        (aiohttp.ClientPayloadError("cut"), APIConnectionError, True),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), APIConnectionError, True),
    ],
)
async def test_transport_errors_are_wrapped(
    mock_api: aioresponses,
    no_retry_client: D360Client,
    exc: Exception,
    cls: type[APIConnectionError],
    maybe_sent: bool,
) -> None:
    mock_api.get(TEMPLATE_URL, exception=exc)
    with pytest.raises(cls) as info:
        await no_retry_client.get_message_template("123")
    assert type(info.value) is cls
    assert info.value.maybe_sent is maybe_sent
    assert info.value.__cause__ is exc
    assert "GET /marketing/123" in str(info.value)


async def test_connection_refused_is_not_sent() -> None:
    # A real refused connection on loopback (port 1 is never listening here).
    async with D360Client(
        KEY, base_url="http://127.0.0.1:1", rate_limit=None, retry=RetryPolicy.never()
    ) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.get_message_template("123")
    assert info.value.maybe_sent is False
    assert isinstance(info.value.__cause__, aiohttp.ClientConnectorError)


def test_validation_error_is_a_value_error_naming_the_field() -> None:
    err = ValidationError("template.language.code", "is required")
    assert isinstance(err, ValueError) and isinstance(err, D360Error)
    assert err.field == "template.language.code"
    assert str(err) == "template.language.code: is required"
