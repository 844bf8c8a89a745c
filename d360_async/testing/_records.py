"""What the emulator records: accepted sends, accepted events, datasets."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import attrs


class RecordedSend(NamedTuple):
    """One accepted send (an immutable named tuple: cheap to record at high rates).

    Attributes:
        wamid: The message id returned to the caller.
        to: The ``to`` field as sent.
        wa_id: ``to`` reduced to digits (the recipient's WhatsApp id).
        template_name: Template name.
        language: Template language code.
        template_id: Id of the template that was used.
        api_key: The API key that sent it.
        path: The route used (``/marketing_messages`` or ``/marketing/marketing_messages``).
        timestamp: Wall-clock Unix time of acceptance.
        raw: The request body as received.

    Example:
        >>> m = RecordedSend("wamid.X", "+49 151", "49151", "promo", "en_US", "1", "k",
        ...                 "/marketing_messages", 0.0, b'{"template": {"components": []}}')
        >>> (m.wa_id, m.components)
        ('49151', [])
    """

    wamid: str
    to: str
    wa_id: str
    template_name: str
    language: str
    template_id: str
    api_key: str
    path: str
    timestamp: float
    raw: bytes

    @property
    def payload(self) -> dict[str, Any]:
        """The request body, parsed."""
        data: dict[str, Any] = json.loads(self.raw)
        return data

    @property
    def components(self) -> list[Any]:
        """The request's ``template.components`` (empty list when absent)."""
        components: list[Any] = self.payload["template"].get("components", [])
        return components


@attrs.frozen
class RecordedEvent:
    """One accepted (de-duplicated) Conversions API event.

    Attributes:
        node_id: The ``meta_node_id`` it was posted to.
        event_name: ``event_name``.
        event_id: ``event_id`` (None when absent: never de-duplicated).
        event_time: ``event_time`` (Unix seconds).
        action_source: ``action_source``.
        test_event_code: The request's ``test_event_code``, if any.
        partner_agent: The request's ``partner_agent``, if any.
        data: The event as sent.

    Example:
        >>> e = RecordedEvent("1", "Purchase", "o-1", 0, "business_messaging", None, None, {})
        >>> (e.event_name, e.event_id)
        ('Purchase', 'o-1')
    """

    node_id: str
    event_name: str
    event_id: str | None
    event_time: int
    action_source: str
    test_event_code: str | None
    partner_agent: str | None
    data: dict[str, Any]


@attrs.frozen
class Dataset:
    """A conversion dataset created for a Meta node.

    Example:
        >>> Dataset("waba-1", "811", "Shop dataset").id
        '811'
    """

    node_id: str
    id: str
    name: str
