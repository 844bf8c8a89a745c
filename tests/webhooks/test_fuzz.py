"""Fuzzed bodies: parsing raises only WebhookError (naming a place, quoting nothing), and the
receiver never answers 5xx to a body it can reject, in process and over HTTP."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from d360_async.webhooks import Webhook, WebhookError, WebhookReceiver, parse_webhook

from . import samples
from .conftest import serving

REASONS = {
    "missing",
    "empty",
    "not valid JSON",
    "expected a JSON object",
    "expected a JSON array",
    "expected a string",
    "expected an integer",
    "expected a boolean",
    "expected Unix seconds",
    "expected 'whatsapp_business_account'",
    "unexpected value",
}
PATH = re.compile(r"^(body|object|entry(\[\d+\])?(\.[a-z_]+(\[\d+\])?)*)$")
MARKER = "4915199999999"  # planted in fuzzed values: must never come back in an error

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.just(MARKER)
    | st.sampled_from(["1767312000", "read", "messages", "whatsapp_business_account"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _paths(node: Any, here: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield here
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _paths(child, (*here, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _paths(child, (*here, index))


PATHS = [p for p in _paths(samples.EVERYTHING) if p]


def mutate(path: tuple[Any, ...], replacement: Any, delete: bool) -> Any:
    """``samples.EVERYTHING`` with the node at ``path`` replaced (or deleted)."""
    data = copy.deepcopy(samples.EVERYTHING)
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return data


mutated_bodies = st.builds(
    lambda path, value, delete: json.dumps(mutate(path, value, delete)).encode(),
    st.sampled_from(PATHS),
    json_values,
    st.booleans(),
)
any_bodies = (
    st.binary(max_size=300) | mutated_bodies | json_values.map(lambda v: json.dumps(v).encode())
)


def check(body: bytes) -> Webhook | None:
    """Parse ``body``; on error, check that the error is well-formed and return None."""
    try:
        return parse_webhook(body, {})
    except WebhookError as exc:
        error = exc
    assert error.reason in REASONS, error
    assert PATH.match(error.path), error
    assert MARKER not in str(error)
    return None


@settings(max_examples=400, deadline=None)
@given(mutated_bodies)
def test_a_damaged_webhook_parses_or_raises_only_webhook_error(body: bytes) -> None:
    hook = check(body)
    if hook is not None:
        assert len(hook.statuses) <= 4 and len(hook.messages) <= 2


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=500) | json_values.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_bytes_and_json_raise_only_webhook_error(body: bytes) -> None:
    check(body)


@settings(max_examples=300, deadline=None)
@given(any_bodies)
async def test_the_receiver_answers_4xx_or_200_never_5xx(body: bytes) -> None:
    seen: list[Webhook] = []

    async def on_webhook(webhook: Webhook) -> None:
        seen.append(webhook)

    receiver = WebhookReceiver(on_webhook)
    answer = await receiver.receive(body, {})

    parsed = check(body)
    assert answer.status == (400 if parsed is None else 200)
    assert len(seen) == (0 if parsed is None else 1)
    assert MARKER.encode() not in answer.body


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(any_bodies)
async def test_over_http_a_malformed_body_is_never_a_5xx(
    http: aiohttp.ClientSession, body: bytes
) -> None:
    async def on_webhook(webhook: Webhook) -> None:
        return None

    receiver = WebhookReceiver(on_webhook)
    async with serving(receiver.app()) as url, http.post(url + "/", data=body) as response:
        await response.read()
    assert response.status == (400 if check(body) is None else 200)
