"""The receiver in a FastAPI app (the framework-neutral ``receive`` and ``parse_webhook``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from d360_async.webhooks import (
    SIGNATURE_HEADER,
    Webhook,
    WebhookError,
    WebhookReceiver,
    WebhookSignatureError,
    parse_webhook,
    sign,
)

from . import samples

SECRET = "fastapi-app-secret"
BODY = samples.statuses_body(samples.SENT, samples.FAILED)


def build_app(receiver: WebhookReceiver) -> FastAPI:
    app = FastAPI()

    @app.post("/webhooks/whatsapp")
    async def whatsapp_webhook(request: Request) -> Response:
        answer = await receiver.receive(await request.body(), request.headers)
        return Response(answer.body, status_code=answer.status, media_type=answer.content_type)

    @app.post("/raw")
    async def raw(request: Request) -> Response:  # parse_webhook on its own
        try:
            webhook = parse_webhook(await request.body(), request.headers, app_secret=SECRET)
        except WebhookSignatureError:
            return Response(status_code=403)
        except WebhookError as exc:
            return Response(str(exc), status_code=400)
        return Response(",".join(str(s.status) for s in webhook.statuses))

    return app


@pytest.fixture
def seen() -> list[Webhook]:
    return []


@pytest.fixture
async def client(seen: list[Webhook]) -> AsyncIterator[httpx.AsyncClient]:
    calls: list[Webhook] = []

    async def on_webhook(webhook: Webhook) -> None:
        calls.append(webhook)
        if len(calls) == 1:
            raise ConnectionError("the queue is down")  # the first delivery fails
        seen.append(webhook)

    app = build_app(WebhookReceiver(on_webhook, app_secret=SECRET))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as c:
        yield c


def signed(body: bytes) -> dict[str, str]:
    return {SIGNATURE_HEADER: sign(body, SECRET), "Content-Type": "application/json"}


async def test_fastapi_gets_the_same_policy(client: httpx.AsyncClient, seen: list[Webhook]) -> None:
    url = "/webhooks/whatsapp"
    failed = await client.post(url, content=BODY, headers=signed(BODY))
    retried = await client.post(url, content=BODY, headers=signed(BODY))
    unsigned = await client.post(url, content=BODY)
    forged = await client.post(url, content=BODY, headers=signed(b"other"))
    malformed = await client.post(url, content=b"{}", headers=signed(b"{}"))

    assert [r.status_code for r in (failed, retried, unsigned, forged, malformed)] == [
        500,
        200,
        401,
        403,
        400,
    ]
    assert retried.json() == {"status": "ok"}
    assert malformed.json() == {"error": "object: missing"}
    (webhook,) = seen
    assert [s.status for s in webhook.statuses] == ["sent", "failed"]
    assert webhook.statuses[1].error_code == 131049


async def test_parse_webhook_with_starlette_headers(client: httpx.AsyncClient) -> None:
    ok = await client.post("/raw", content=BODY, headers=signed(BODY))
    bad = await client.post("/raw", content=b"[]", headers=signed(b"[]"))
    forged = await client.post("/raw", content=BODY, headers={SIGNATURE_HEADER: "sha256=00"})

    assert (ok.status_code, ok.text) == (200, "sent,failed")
    assert (bad.status_code, bad.text) == (400, "body: expected a JSON object")
    assert forged.status_code == 403
