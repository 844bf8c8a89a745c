"""Helpers of the campaign tests: messages, a raw Redis client, a campaign's states."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis

from d360_async import D360Client, RetryPolicy
from d360_async.redis._layout import STATUS_OF, campaign_keys
from d360_async.testing import Emulator


def number(i: int) -> str:
    return f"49151{i:08d}"


def message(i: int, *, template: str = "welcome_offer", to: str | None = None) -> dict[str, Any]:
    return {
        "to": to or number(i),
        "template": {
            "name": template,
            "language": {"code": "en_US"},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": f"friend {i}"}]}
            ],
        },
    }


def messages(n: int, start: int = 0, **kwargs: Any) -> Iterator[dict[str, Any]]:
    for i in range(start, start + n):
        yield message(i, **kwargs)


@asynccontextmanager
async def raw(url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(url)
    try:
        yield client
    finally:
        await client.aclose()


async def states(url: str, campaign: str) -> dict[int, str | None]:
    """Every message's status (None: queued), by position."""
    keys = campaign_keys(campaign)
    async with raw(url) as client:
        found = await client.hgetall(keys.state)
    return {int(k): STATUS_OF[v.decode()[0]] for k, v in found.items()}


async def queue_length(url: str, campaign: str) -> int:
    async with raw(url) as client:
        return int(await client.xlen(campaign_keys(campaign).queue))


@asynccontextmanager
async def client_of(emu: Emulator, **kwargs: Any) -> AsyncIterator[D360Client]:
    settings: dict[str, Any] = {"rate_limit": None, "retry": RetryPolicy(wait=False)}
    settings.update(kwargs)
    async with D360Client(emu.api_key, base_url=emu.url, **settings) as client:
        yield client
