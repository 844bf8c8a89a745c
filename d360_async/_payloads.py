"""Request bodies: models or plain dicts turned into checked, JSON-ready payloads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from ._converter import unstructure
from ._errors import ValidationError
from ._models_events import ConversionEvent
from ._models_messages import MarketingMessageRequest
from ._params import nonempty

__all__ = [
    "MAX_EVENTS_PER_REQUEST",
    "EventInput",
    "MessageInput",
    "prepare_events",
    "prepare_message",
]

#: Meta's limit of events in one Conversions API request.
MAX_EVENTS_PER_REQUEST: Final = 1000

MessageInput = MarketingMessageRequest | Mapping[str, Any]
EventInput = ConversionEvent | Mapping[str, Any]


def prepare_message(message: MessageInput) -> dict[str, Any]:
    """The JSON body of a send: a model unstructured, or a dict with the fixed fields filled.

    Keys the SDK does not know (``template.language.policy``, ``message_send_ttl_seconds``,
    ...) pass through untouched.

    Raises:
        ValidationError: A required field is missing or has a value the API refuses.
    """
    if type(message) is dict or isinstance(message, Mapping):  # dict first: the ABC is slow
        payload = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "type": "template",
            **message,
        }
    elif isinstance(message, MarketingMessageRequest):
        payload = unstructure(message)
    else:
        raise ValidationError("message", "must be a MarketingMessageRequest or a mapping")
    to = payload.get("to")
    if type(to) is not str or not to.strip():
        nonempty("to", to)  # raises, naming the field
    if payload["type"] != "template":
        raise ValidationError("type", "MM Lite sends only template messages ('template')")
    if payload["messaging_product"] != "whatsapp":
        raise ValidationError("messaging_product", "must be 'whatsapp'")
    template = payload.get("template")
    if type(template) is not dict and not isinstance(template, Mapping):
        raise ValidationError("template", "is required")
    name = template.get("name")
    if type(name) is not str or not name.strip():
        nonempty("template.name", name)
    language = template.get("language")
    if type(language) is not dict and not isinstance(language, Mapping):
        raise ValidationError("template.language", "is required")
    code = language.get("code")
    if type(code) is not str or not code.strip():
        nonempty("template.language.code", code)
    return payload


def prepare_events(events: Sequence[EventInput]) -> tuple[list[Any], bool]:
    """JSON-ready events, and whether every one carries an ``event_id`` (safe to retry)."""
    if isinstance(events, (str, bytes, Mapping)) or not isinstance(events, Sequence):
        raise ValidationError("events", "must be a list of events")
    if not events:
        raise ValidationError("events", "must contain at least one event")
    if len(events) > MAX_EVENTS_PER_REQUEST:
        raise ValidationError(
            "events",
            f"{len(events)} events; at most {MAX_EVENTS_PER_REQUEST} per request, "
            "split them into batches",
        )
    data: list[Any] = []
    all_ids = True
    for i, event in enumerate(events):
        if isinstance(event, ConversionEvent):
            item = unstructure(event)
        elif isinstance(event, Mapping):
            item = event
        else:
            raise ValidationError(f"events[{i}]", "must be a ConversionEvent or a mapping")
        nonempty(f"events[{i}].event_name", item.get("event_name"))
        all_ids = all_ids and bool(item.get("event_id"))
        data.append(item)
    return data, all_ids
