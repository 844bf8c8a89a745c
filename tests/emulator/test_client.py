"""The real ``D360Client`` against the emulator: the main behaviours end to end."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from d360_async import (
    APIConnectionError,
    BadRequestError,
    D360Client,
    InternalServerError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
)
from d360_async.testing import Emulator

from ._helpers import event


def send(to: str = "+4915100000001", name: str = "summer_sale", params: int = 3) -> dict[str, Any]:
    """A send in the client's input form (fixed fields filled in by the client)."""
    template: dict[str, Any] = {"name": name, "language": {"code": "en_US"}}
    if params:
        template["components"] = [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": f"p{i}"} for i in range(params)],
            }
        ]
    return {"to": to, "template": template}


@pytest.fixture
async def no_retry(d360_emulator: Emulator) -> AsyncIterator[D360Client]:
    """A client that never retries and has no client-side rate limit."""
    async with D360Client(
        d360_emulator.api_key,
        base_url=d360_emulator.url,
        rate_limit=None,
        retry=RetryPolicy.never(),
    ) as client:
        yield client


async def test_two_line_usage_send_is_accepted_and_recorded(
    d360_client: D360Client, d360_emulator: Emulator
) -> None:
    response = await d360_client.send_marketing_message(send())
    alt = await d360_client.send_marketing_message_alt(send(to="+4915100000002"))

    assert [m.wamid for m in d360_emulator.sent_messages] == [response.message_id, alt.message_id]
    assert d360_emulator.accepted_counts() == {"4915100000001": 1, "4915100000002": 1}
    assert [m.path for m in d360_emulator.sent_messages] == [
        "/marketing_messages",
        "/marketing/marketing_messages",
    ]


@pytest.mark.parametrize(
    ("payload", "error", "code"),
    [
        (send(name="no_such_template"), BadRequestError, 132001),
        (send(params=1), BadRequestError, 132000),
        (send(name="black_friday", params=2), PermissionDeniedError, 132015),
        (send(name="old_promo", params=1), PermissionDeniedError, 132016),
    ],
)
async def test_send_errors_map_to_client_exceptions(
    no_retry: D360Client,
    d360_emulator: Emulator,
    payload: dict[str, Any],
    error: type[Exception],
    code: int,
) -> None:
    with pytest.raises(error) as info:
        await no_retry.send_marketing_message(payload)

    assert getattr(info.value, "code", None) == code
    assert getattr(info.value, "fbtrace_id", None)
    assert d360_emulator.sent_messages == []


@pytest.mark.d360_emulator(wrap_errors=True)
async def test_wrapped_errors_are_understood(no_retry: D360Client) -> None:
    with pytest.raises(BadRequestError) as info:
        await no_retry.send_marketing_message(send(name="nope"))
    assert info.value.code == 132001


@pytest.mark.d360_emulator(rate=1, clock=lambda: 0.0)
async def test_rate_limit_429_with_retry_after(
    no_retry: D360Client, d360_emulator: Emulator
) -> None:
    await no_retry.send_marketing_message(send(to="+4915100000001"))
    with pytest.raises(RateLimitError) as info:
        await no_retry.send_marketing_message(send(to="+4915100000002"))

    assert (info.value.status, info.value.code, info.value.retry_after) == (429, 130429, 1.0)
    assert d360_emulator.rate_limited == 1
    assert list(d360_emulator.accepted_counts()) == ["4915100000001"]


@pytest.mark.d360_emulator(faults=["429", "ok"])
async def test_a_throttled_send_is_retried_once_delivered(d360_emulator: Emulator) -> None:
    async with D360Client(
        d360_emulator.api_key,
        base_url=d360_emulator.url,
        rate_limit=None,
        retry=RetryPolicy(wait=False),
    ) as client:
        response = await client.send_marketing_message(send())

    assert d360_emulator.faults_injected == {"429": 1}
    assert d360_emulator.requests["send-marketing-message"] == 2
    assert [m.wamid for m in d360_emulator.sent_messages] == [response.message_id]


@pytest.mark.d360_emulator(faults=["503", "ok"])
async def test_a_send_answered_503_is_not_retried(d360_emulator: Emulator) -> None:
    # A proxy may answer 503 after forwarding the request: retrying could deliver it twice.
    async with D360Client(
        d360_emulator.api_key,
        base_url=d360_emulator.url,
        rate_limit=None,
        retry=RetryPolicy(wait=False),
    ) as client:
        with pytest.raises(InternalServerError):
            await client.send_marketing_message(send())

    assert d360_emulator.requests["send-marketing-message"] == 1


@pytest.mark.d360_emulator(faults=["drop_after"])
async def test_ambiguous_drop_is_not_retried_so_nothing_is_doubled(
    d360_emulator: Emulator,
) -> None:
    async with D360Client(
        d360_emulator.api_key,
        base_url=d360_emulator.url,
        rate_limit=None,
        retry=RetryPolicy(wait=False),
    ) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.send_marketing_message(send())

    assert info.value.maybe_sent
    assert d360_emulator.accepted_counts() == {"4915100000001": 1}
    assert d360_emulator.requests["send-marketing-message"] == 1


async def test_templates_paging_through_the_iterator(
    d360_client: D360Client, d360_emulator: Emulator
) -> None:
    names = [(t.id, t.name, t.language) async for t in d360_client.iter_message_templates(limit=5)]
    approved = [t.id async for t in d360_client.iter_message_templates(limit=2, status="APPROVED")]

    assert names == [(t.id, t.name, t.language) for t in d360_emulator.templates]
    assert approved == [t.id for t in d360_emulator.templates if t.status == "APPROVED"]
    # 12 templates by 5: 3 pages. 8 approved by 2: 4 full pages; the client then asks once
    # more (a full last page), and the emulator's empty page ends the listing.
    assert d360_emulator.requests["get-mmlite-message-templates"] == 3 + 5


async def test_template_by_id_and_unknown_id(
    d360_client: D360Client, d360_emulator: Emulator
) -> None:
    expected = d360_emulator.get_template("cart_reminder", "en_US")

    template = await d360_client.get_message_template(expected.id)
    with pytest.raises(BadRequestError) as info:
        await d360_client.get_message_template("999")

    assert (template.id, template.name) == (expected.id, "cart_reminder")
    assert info.value.code == 100


async def test_events_are_posted_and_recorded(
    d360_client: D360Client, d360_emulator: Emulator
) -> None:
    response = await d360_client.post_conversion_events(
        "ds-1", [event(1), event(2)], test_event_code="T1", partner_agent="d360"
    )

    assert response.events_received == 2
    assert [e.event_id for e in d360_emulator.events["ds-1"]] == ["order-1", "order-2"]
    assert d360_emulator.events["ds-1"][0].test_event_code == "T1"


async def test_invalid_event_rejection_names_the_index(
    no_retry: D360Client, d360_emulator: Emulator
) -> None:
    events = [event(0), event(1, event_time=int(time.time()) - 8 * 86_400)]

    with pytest.raises(BadRequestError) as info:
        await no_retry.post_conversion_events("ds-1", events)

    assert info.value.code == 100
    assert re.match(r"data\[1\]\.event_time:", info.value.details or "")
    assert d360_emulator.events == {}


async def test_datasets_create_or_retrieve(
    d360_client: D360Client, d360_emulator: Emulator
) -> None:
    with pytest.raises(BadRequestError):
        await d360_client.get_conversion_dataset("waba-9")
    created = await d360_client.post_conversion_dataset("waba-9", name="Shop")
    again = await d360_client.post_conversion_dataset("waba-9")
    fetched = await d360_client.get_conversion_dataset("waba-9")

    assert created.id == again.id == fetched.id == d360_emulator.datasets["waba-9"].id
    assert fetched.name == "Shop"
