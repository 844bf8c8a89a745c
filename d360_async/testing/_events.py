"""Conversion datasets (``/marketing/{meta_node_id}/dataset``) and events (``.../events``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ._records import RecordedEvent
from ._responses import json_response, parse_json_object
from ._state import State

MAX_EVENTS = 1000
MAX_AGE = 7 * 24 * 3600
#: Seconds an ``event_time`` may be ahead of the emulator's clock.
FUTURE_SKEW = 60
ACTION_SOURCES = frozenset(
    {
        "email",
        "website",
        "app",
        "phone_call",
        "chat",
        "physical_store",
        "system_generated",
        "business_messaging",
        "other",
    }
)
MESSAGING_CHANNELS = frozenset({"whatsapp", "messenger", "instagram"})


async def post_dataset(state: State, request: web.Request, api_key: str) -> web.Response:
    """Create the node's dataset, or return the existing one."""
    raw = await request.read()
    payload = parse_json_object(raw) if raw.strip() else {}
    if payload is None:
        return state.errors.invalid("Request body must be a JSON object")
    name = payload.get("name")
    if name is not None and not isinstance(name, str):
        return state.errors.invalid("name must be a string")
    dataset = state.dataset_for(request.match_info["meta_node_id"], name)
    return json_response({"id": dataset.id, "name": dataset.name})


async def get_dataset(state: State, request: web.Request, api_key: str) -> web.Response:
    """The node's dataset; 400 when none was created."""
    node_id = request.match_info["meta_node_id"]
    dataset = state.datasets.get(node_id)
    if dataset is None:
        return state.errors.response(
            400,
            100,
            f"(#100) No conversion dataset exists for node {node_id}",
            details="Create one with POST /marketing/{meta_node_id}/dataset",
        )
    return json_response({"id": dataset.id, "name": dataset.name})


def event_problem(event: Any, now: float) -> tuple[str, str] | None:
    """(field, reason) for the first problem with one event, or None when it is valid."""
    if not isinstance(event, dict):
        return "event", "must be an object"
    name = event.get("event_name")
    if not isinstance(name, str) or not name:
        return "event_name", "is required"
    event_time = event.get("event_time")
    if isinstance(event_time, bool) or not isinstance(event_time, int):
        return "event_time", "must be an integer (Unix seconds)"
    if event_time < now - MAX_AGE:
        return "event_time", "is older than 7 days"
    if event_time > now + FUTURE_SKEW:
        return "event_time", "is in the future"
    source = event.get("action_source")
    if source not in ACTION_SOURCES:
        return "action_source", f"must be one of {', '.join(sorted(ACTION_SOURCES))}"
    channel = event.get("messaging_channel")
    if channel is not None and channel not in MESSAGING_CHANNELS:
        return "messaging_channel", f"must be one of {', '.join(sorted(MESSAGING_CHANNELS))}"
    event_id = event.get("event_id")
    if event_id is not None and not isinstance(event_id, str):
        return "event_id", "must be a string"
    for field in ("user_data", "custom_data"):
        value = event.get(field)
        if value is not None and not isinstance(value, dict):
            return field, "must be an object"
    return None


async def post_events(state: State, request: web.Request, api_key: str) -> web.Response:
    """Accept 1-1000 events atomically; record them per node, de-duplicated."""
    errors = state.errors
    payload = parse_json_object(await request.read())
    if payload is None:
        return errors.invalid("Request body must be a JSON object")
    data = payload.get("data")
    if not isinstance(data, list) or not data:
        return errors.invalid("data must be a non-empty array of events", "(#100) data is required")
    if len(data) > MAX_EVENTS:
        return errors.invalid(
            f"data has {len(data)} events; at most {MAX_EVENTS} are allowed per request",
            f"(#100) The number of events in the data param exceeds the limit of {MAX_EVENTS}",
        )
    test_code = payload.get("test_event_code")
    agent = payload.get("partner_agent")
    for field, value in (("test_event_code", test_code), ("partner_agent", agent)):
        if value is not None and not isinstance(value, str):
            return errors.invalid(f"{field} must be a string")
    now = state.wall_clock()
    for index, event in enumerate(data):
        problem = event_problem(event, now)
        if problem is not None:
            field, reason = problem
            return errors.response(
                400,
                100,
                f"data[{index}]: {field} {reason}",
                details=f"data[{index}].{field}: {reason}",
                extra={
                    "is_transient": False,
                    "error_user_title": "Invalid event",
                    "error_user_msg": f"Event {index} is invalid: {field} {reason}.",
                },
            )
    node_id = request.match_info["meta_node_id"]
    recorded = state.events.setdefault(node_id, [])
    seen = state.event_keys.setdefault(node_id, set())
    for event in data:
        event_id = event.get("event_id")
        if event_id is not None:
            key = (event["event_name"], event_id)
            if key in seen:
                state.duplicate_events += 1
                continue
            seen.add(key)
        recorded.append(
            RecordedEvent(
                node_id=node_id,
                event_name=event["event_name"],
                event_id=event_id,
                event_time=event["event_time"],
                action_source=event["action_source"],
                test_event_code=test_code,
                partner_agent=agent,
                data=event,
            )
        )
    return json_response(
        {"events_received": len(data), "messages": [], "fbtrace_id": state.trace_id()}
    )
