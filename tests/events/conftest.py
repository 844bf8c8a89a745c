"""Fixtures of the events pipeline tests: the emulator client, raw events, a request tracker."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Mapping
from typing import Any

import orjson
import pytest

from d360_async import D360Client, RetryPolicy
from d360_async._events import EventsRun
from d360_async._models_events import ConversionEventsResponse

NODE = "1122334455667788"


@pytest.fixture
def d360_client_options() -> dict[str, Any]:
    """Retries without waiting, no client-side rate limit: the tests never sleep."""
    return {"retry": RetryPolicy(wait=False), "rate_limit": None}


def raw_event(index: int, **overrides: Any) -> dict[str, Any]:
    """A valid Purchase with raw (unhashed) customer data, as an application holds it."""
    data: dict[str, Any] = {
        "event_name": "Purchase",
        "event_time": int(time.time()) - 600,
        "event_id": f"order-{index}",
        "user_data": {
            "em": f"Customer.{index}@Example.com",
            "ph": f"+49 151 {index:08d}",
            "ct": "Menlo Park",
            "ctwa_clid": f"clid-{index}",
            "whatsapp_business_account_id": "102290129340398",
        },
        "custom_data": {"currency": "EUR", "value": 10 + index % 7},
    }
    data.update(overrides)
    return data


def events_run(client: D360Client, events: Any, **options: Any) -> EventsRun:
    """What ``send_conversion_events`` builds, with the options it does not expose."""
    return EventsRun(functools.partial(client._post_events_payload, NODE), NODE, events, **options)


class PostTracker:
    """Wraps ``D360Client._post_events_payload``: events per request, body sizes, concurrency,
    cancellations."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.body_bytes: list[int] = []
        self.in_flight = 0
        self.peak = 0
        self.started = 0
        self.finished = 0
        self.cancelled = 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = D360Client._post_events_payload
        tracker = self

        async def tracked(
            client: D360Client, meta_node_id: str, body: Mapping[str, Any]
        ) -> ConversionEventsResponse:
            tracker.sizes.append(len(body["data"]))
            tracker.body_bytes.append(len(orjson.dumps(body)))
            tracker.started += 1
            tracker.in_flight += 1
            tracker.peak = max(tracker.peak, tracker.in_flight)
            try:
                response = await original(client, meta_node_id, body)
            except asyncio.CancelledError:
                tracker.cancelled += 1
                raise
            finally:
                tracker.in_flight -= 1
            tracker.finished += 1
            return response

        monkeypatch.setattr(D360Client, "_post_events_payload", tracked)


@pytest.fixture
def posts(monkeypatch: pytest.MonkeyPatch) -> PostTracker:
    """Every events request the client makes, recorded."""
    tracker = PostTracker()
    tracker.install(monkeypatch)
    return tracker
