"""Shared fixtures: a mocked API (aioresponses) and a client wired to it."""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any
from unittest.mock import Mock

import aioresponses.core as aioresponses_core
import pytest
from aiohttp import ClientResponse
from aioresponses import aioresponses
from hypothesis import settings
from yarl import URL

from d360_async import D360Client, RetryPolicy

from .redis_server import RedisProcess

#: No example may fail for being slow: a loaded CI machine is not a defect (no assertion on
#: wall-clock speed). Tests that set their own ``settings`` inherit this.
settings.register_profile("d360", deadline=None)
settings.load_profile("d360")

API = "https://waba-v2.360dialog.io"
#: Looks like a real key so that a leak would be visible in any text.
KEY = "k3y-SECRET-9f8e7d6c5b4a"


class _CompatResponse(ClientResponse):
    """aiohttp 3.14 made ``stream_writer`` a required argument of ``ClientResponse``, which
    aioresponses 0.7.9 does not pass (pnuckowski/aioresponses#289, fix pending in #288). aiohttp
    reads only ``stream_writer.output_size`` from it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if "stream_writer" in inspect.signature(ClientResponse.__init__).parameters:
            kwargs.setdefault("stream_writer", Mock(output_size=0))
        super().__init__(*args, **kwargs)


@pytest.fixture(autouse=True)
def _no_base_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``D360_BASE_URL`` in the developer's shell must not redirect the tests' clients."""
    monkeypatch.delenv("D360_BASE_URL", raising=False)


@pytest.fixture
def mock_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[aioresponses]:
    monkeypatch.setattr(aioresponses_core, "ClientResponse", _CompatResponse)
    with aioresponses() as mocked:
        yield mocked


@pytest.fixture
async def client() -> AsyncIterator[D360Client]:
    async with D360Client(KEY, rate_limit=None, retry=RetryPolicy(wait=False)) as c:
        yield c


def requests_to(mocked: aioresponses, method: str, path: str) -> list[dict[str, Any]]:
    """Every request made to ``method path`` (any query), as aioresponses saw it."""
    out = []
    for (m, url), calls in mocked.requests.items():
        if m == method and url.path == path:
            for call in calls:
                out.append({"url": url, **call.kwargs})
    return out


def only_request(mocked: aioresponses, method: str, path: str) -> dict[str, Any]:
    calls = requests_to(mocked, method, path)
    assert len(calls) == 1, f"expected one {method} {path}, got {len(calls)}"
    return calls[0]


def sent_json(call: dict[str, Any]) -> Any:
    return json.loads(call["data"])


def query(call: dict[str, Any]) -> dict[str, str]:
    """The query string as sent: URL query merged with ``params``."""
    url: URL = call["url"]
    params = dict(url.query)
    params.update({k: str(v) for k, v in (call.get("params") or {}).items()})
    return params


@pytest.fixture
def redis_server() -> Iterator[RedisProcess]:
    """A real ``valkey-server`` on 127.0.0.1 (never a fake), stopped after the test."""
    server = RedisProcess()
    try:
        yield server
    finally:
        server.close()
