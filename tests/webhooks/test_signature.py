"""X-Hub-Signature-256: HMAC-SHA256 of the raw body with the app secret, compared in constant
time; a missing signature is 401, a wrong one 403, both typed errors."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import aiohttp
import pytest

from d360_async import ValidationError
from d360_async.webhooks import (
    SIGNATURE_HEADER,
    Webhook,
    WebhookReceiver,
    WebhookSignatureError,
    parse_webhook,
    sign,
    verify_signature,
)

from . import samples
from .conftest import serving

SECRET = "0a1b2c3d4e5f-app-secret"
BODY = samples.statuses_body(samples.READ)


def meta_signature(body: bytes, secret: str) -> str:
    """What Meta sends, computed independently of the SDK."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_sign_is_meta_s_hmac_sha256_of_the_raw_body() -> None:
    assert sign(BODY, SECRET) == meta_signature(BODY, SECRET)
    assert sign(BODY, SECRET) != sign(BODY + b" ", SECRET)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Hub-Signature-256": meta_signature(BODY, SECRET)},
        {"x-hub-signature-256": meta_signature(BODY, SECRET)},
        {"X-HUB-SIGNATURE-256": meta_signature(BODY, SECRET).upper().replace("SHA256=", "sha256=")},
        {"X-Hub-Signature-256": f"  {meta_signature(BODY, SECRET)} "},
    ],
)
def test_a_valid_signature_passes_in_any_header_case(headers: dict[str, str]) -> None:
    assert parse_webhook(BODY, headers, app_secret=SECRET).statuses


@pytest.mark.parametrize(
    ("headers", "missing", "reason"),
    [
        ({}, True, "missing"),
        ({"X-Hub-Signature": "sha1=abc"}, True, "missing"),
        (
            {SIGNATURE_HEADER: meta_signature(BODY, "another-secret")},
            False,
            "does not match the body",
        ),
        (
            {SIGNATURE_HEADER: meta_signature(BODY + b"\n", SECRET)},
            False,
            "does not match the body",
        ),
        (
            {SIGNATURE_HEADER: meta_signature(BODY, SECRET)[7:]},
            False,
            "expected 'sha256=' and 64 hex digits",
        ),
        ({SIGNATURE_HEADER: "sha256=" + "g" * 64}, False, "expected 'sha256=' and 64 hex digits"),
        ({SIGNATURE_HEADER: "sha256=" + "é" * 64}, False, "expected 'sha256=' and 64 hex digits"),
        ({SIGNATURE_HEADER: ""}, False, "expected 'sha256=' and 64 hex digits"),
    ],
)
def test_a_missing_or_wrong_signature_is_a_typed_error(
    headers: dict[str, str], missing: bool, reason: str
) -> None:
    with pytest.raises(WebhookSignatureError) as info:
        parse_webhook(BODY, headers, app_secret=SECRET)
    assert (info.value.missing, info.value.reason, info.value.path) == (
        missing,
        reason,
        SIGNATURE_HEADER,
    )
    assert SECRET not in str(info.value)


def test_the_signature_is_checked_before_the_body_is_parsed() -> None:
    """An unauthenticated sender learns nothing about what the parser thinks of its body."""
    with pytest.raises(WebhookSignatureError):
        parse_webhook(b"not json", {}, app_secret=SECRET)


def test_the_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    verify_signature(BODY, {SIGNATURE_HEADER: meta_signature(BODY, SECRET)}, SECRET)
    with pytest.raises(WebhookSignatureError):
        verify_signature(BODY, {SIGNATURE_HEADER: meta_signature(b"x", SECRET)}, SECRET)
    assert len(calls) == 2


def test_without_an_app_secret_the_signature_is_not_required() -> None:
    assert parse_webhook(BODY, {SIGNATURE_HEADER: "sha256=whatever"}).statuses


@pytest.mark.parametrize("secret", ["", None, 123])
def test_a_bad_app_secret_is_a_validation_error(secret: Any) -> None:
    with pytest.raises(ValidationError) as info:
        sign(BODY, secret)
    assert info.value.field == "app_secret"
    if secret is not None:
        with pytest.raises(ValidationError):
            parse_webhook(BODY, {}, app_secret=secret)


async def test_the_receiver_answers_401_when_missing_and_403_when_wrong(
    http: aiohttp.ClientSession,
) -> None:
    seen: list[Webhook] = []

    async def on_webhook(webhook: Webhook) -> None:
        seen.append(webhook)

    receiver = WebhookReceiver(on_webhook, app_secret=SECRET)
    async with serving(receiver.app()) as url:
        results = []
        for headers in (
            {},
            {SIGNATURE_HEADER: meta_signature(BODY, "wrong")},
            {SIGNATURE_HEADER: meta_signature(BODY, SECRET)},
        ):
            async with http.post(url + "/", data=BODY, headers=headers) as response:
                results.append((response.status, await response.json()))
    assert results == [
        (401, {"error": "X-Hub-Signature-256: missing"}),
        (403, {"error": "X-Hub-Signature-256: does not match the body"}),
        (200, {"status": "ok"}),
    ]
    assert len(seen) == 1
    assert (receiver.accepted, receiver.rejected) == (1, 2)


@pytest.mark.parametrize(
    "headers",
    [
        [("X-Hub-Signature-256", sign(BODY, SECRET))],  # a list of pairs
        ((b"x-hub-signature-256", sign(BODY, SECRET).encode()),),  # ASGI's raw headers
        {"x-HUB-signature-256": sign(BODY, SECRET)},
    ],
)
def test_headers_may_be_any_mapping_or_pairs(headers: Any) -> None:
    assert isinstance(parse_webhook(BODY, headers, app_secret=SECRET), Webhook)
    verify_signature(BODY, headers, SECRET)


@pytest.mark.parametrize("headers", [None, 42, "X-Hub-Signature-256", [("a",)], [1, 2]])
async def test_headers_of_another_kind_are_a_validation_error(headers: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_webhook(BODY, headers, app_secret=SECRET)
    assert caught.value.field == "headers"
    answer = await WebhookReceiver(lambda webhook: None, app_secret=SECRET).receive(BODY, headers)
    assert answer.status == 400
