"""Request builders and small helpers shared by the emulator tests."""

from __future__ import annotations

import time
from typing import Any

import aiohttp

from d360_async.testing import Emulator

SUMMER = ("summer_sale", "en_US", 3)  # name, language, body placeholders


def message(
    to: str = "+4915100000001",
    name: str = "summer_sale",
    language: str = "en_US",
    params: int | None = 3,
    **extra: Any,
) -> dict[str, Any]:
    """A template send payload with ``params`` body parameters (None: no components)."""
    template: dict[str, Any] = {"name": name, "language": {"code": language}}
    if params is not None:
        template["components"] = [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": f"v{i}"} for i in range(params)],
            }
        ]
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "template",
        "template": template,
        **extra,
    }


def event(index: int = 0, **overrides: Any) -> dict[str, Any]:
    """A valid business-messaging Conversions API event."""
    data: dict[str, Any] = {
        "event_name": "Purchase",
        "event_time": int(time.time()) - 60,
        "event_id": f"order-{index}",
        "action_source": "business_messaging",
        "messaging_channel": "whatsapp",
        "user_data": {"whatsapp_business_account_id": "102290129340398", "ctwa_clid": "c1"},
        "custom_data": {"currency": "EUR", "value": 10.5},
    }
    data.update(overrides)
    return data


def headers(emu: Emulator, key: str | None = None) -> dict[str, str]:
    """The API-key header for ``emu`` (or for ``key``)."""
    return {"D360-API-KEY": key if key is not None else emu.api_key}


async def call(
    http: aiohttp.ClientSession,
    emu: Emulator,
    method: str,
    path: str,
    *,
    key: str | None = None,
    **kwargs: Any,
) -> tuple[int, Any, aiohttp.ClientResponse]:
    """Make a request; returns (status, parsed JSON body or text, response)."""
    async with http.request(method, emu.url + path, headers=headers(emu, key), **kwargs) as resp:
        text = await resp.text()
        try:
            body: Any = await resp.json(content_type=None)
        except ValueError:
            body = text
        return resp.status, body, resp


def meta_error(body: Any) -> dict[str, Any]:
    """The Meta error object of a (possibly 360dialog-wrapped) error body."""
    assert isinstance(body, dict), body
    error = body["detail"]["error"] if "detail" in body else body["error"]
    assert isinstance(error, dict), body
    return error
