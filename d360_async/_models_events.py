"""Models for conversion datasets and Conversions API events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

import attrs

from ._base import RawResponse

__all__ = [
    "ActionSource",
    "ContentType",
    "ConversionDataset",
    "ConversionDatasetRequest",
    "ConversionEvent",
    "ConversionEventRequest",
    "ConversionEventsResponse",
    "CustomData",
    "DeliveryCategory",
    "ErrorResponse",
    "EventContent",
    "MessagingChannel",
    "UserData",
]


class ActionSource(StrEnum):
    """Where the conversion happened (WhatsApp: ``business_messaging``)."""

    EMAIL = "email"
    WEBSITE = "website"
    APP = "app"
    PHONE_CALL = "phone_call"
    CHAT = "chat"
    PHYSICAL_STORE = "physical_store"
    SYSTEM_GENERATED = "system_generated"
    BUSINESS_MESSAGING = "business_messaging"
    OTHER = "other"


class MessagingChannel(StrEnum):
    """The messaging app of a ``business_messaging`` event."""

    WHATSAPP = "whatsapp"
    MESSENGER = "messenger"
    INSTAGRAM = "instagram"


class ContentType(StrEnum):
    """What ``content_ids`` refer to."""

    PRODUCT = "product"
    PRODUCT_GROUP = "product_group"


class DeliveryCategory(StrEnum):
    """How a purchased item is delivered."""

    IN_STORE = "in_store"
    CURBSIDE = "curbside"
    HOME_DELIVERY = "home_delivery"


def _unix_seconds(value: int | datetime) -> int:
    """``event_time`` accepts a timezone-aware ``datetime`` or Unix seconds."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            from ._errors import ValidationError

            raise ValidationError("event_time", "datetime must be timezone-aware")
        return int(value.timestamp())
    return value


@attrs.frozen(kw_only=True)
class ConversionDatasetRequest:
    """Body of the create-or-retrieve dataset call.

    Example:
        >>> ConversionDatasetRequest(name="shop").name
        'shop'
    """

    name: str | None = None


@attrs.frozen(kw_only=True)
class ConversionDataset(RawResponse):
    """A conversion dataset; ``id`` is the dataset id used for events (spec:
    ``ConversionDatasetResponse``).

    Example:
        >>> ConversionDataset(id="1234").id
        '1234'
    """

    id: str | None = None
    name: str | None = None


@attrs.frozen(kw_only=True)
class UserData:
    """Customer information to match an event (spec: ``ConversionUserData``).

    The PII keys (``em``, ``ph``, ``fn``, ``ln``, ``ge``, ``db``, ``ct``, ``st``, ``zp``,
    ``country``, ``external_id``) must be normalised and SHA-256 hashed before sending; the
    ids (``ctwa_clid``, ``whatsapp_business_account_id``, ...) are sent as they are.

    Example:
        >>> UserData(ctwa_clid="ARAkLkA8rmlF", whatsapp_business_account_id="1029384756").ctwa_clid
        'ARAkLkA8rmlF'
    """

    em: Sequence[str] | None = None
    ph: Sequence[str] | None = None
    fn: Sequence[str] | None = None
    ln: Sequence[str] | None = None
    ge: Sequence[str] | None = None
    db: Sequence[str] | None = None
    ct: Sequence[str] | None = None
    st: Sequence[str] | None = None
    zp: Sequence[str] | None = None
    country: Sequence[str] | None = None
    external_id: Sequence[str] | None = None
    client_ip_address: str | None = None
    client_user_agent: str | None = None
    fbc: str | None = None
    fbp: str | None = None
    fb_login_id: str | None = None
    lead_id: str | None = None
    subscription_id: str | None = None
    page_id: str | None = None
    page_scoped_user_id: str | None = None
    ig_account_id: str | None = None
    ig_sid: str | None = None
    ctwa_clid: str | None = None
    whatsapp_business_account_id: str | None = None


@attrs.frozen(kw_only=True)
class EventContent:
    """A product in an event (spec: ``ConversionEventContent``).

    Example:
        >>> EventContent(id="sku-1", quantity=2, item_price=9.99).quantity
        2
    """

    id: str | None = None
    quantity: int | None = None
    item_price: float | None = None
    title: str | None = None
    description: str | None = None
    brand: str | None = None
    category: str | None = None
    delivery_category: DeliveryCategory | None = None


@attrs.frozen(kw_only=True)
class CustomData:
    """Purchase value and details (spec: ``ConversionCustomData``).

    Example:
        >>> CustomData(currency="EUR", value=42.5).value
        42.5
    """

    value: float | None = None
    currency: str | None = None
    content_name: str | None = None
    content_category: str | None = None
    content_ids: Sequence[str] | None = None
    content_type: ContentType | None = None
    contents: Sequence[EventContent] | None = None
    num_items: int | None = None
    order_id: str | None = None
    search_string: str | None = None
    status: str | None = None


@attrs.frozen(kw_only=True)
class ConversionEvent:
    """One Conversions API event (spec: ``ConversionEventData``).

    ``event_time`` takes Unix seconds or a timezone-aware ``datetime``; ``action_source``
    and ``messaging_channel`` default to the WhatsApp values.

    Example:
        >>> from datetime import datetime, timezone
        >>> e = ConversionEvent(
        ...     event_name="Purchase",
        ...     event_time=datetime(2026, 1, 2, tzinfo=timezone.utc),
        ...     user_data=UserData(ctwa_clid="ARAkLkA8rmlF"),
        ... )
        >>> (e.event_time, e.action_source)
        (1767312000, <ActionSource.BUSINESS_MESSAGING: 'business_messaging'>)
    """

    event_name: str
    event_time: int = attrs.field(converter=_unix_seconds)
    action_source: ActionSource = ActionSource.BUSINESS_MESSAGING
    messaging_channel: MessagingChannel | None = MessagingChannel.WHATSAPP
    event_id: str | None = None
    user_data: UserData | None = None
    custom_data: CustomData | None = None
    event_source_url: str | None = None
    referrer_url: str | None = None
    opt_out: bool | None = None
    data_processing_options: Sequence[str] | None = None
    data_processing_options_country: int | None = None
    data_processing_options_state: int | None = None


@attrs.frozen(kw_only=True)
class ConversionEventRequest:
    """Body of one events request: at most 1,000 events.

    Example:
        >>> ConversionEventRequest(data=[], test_event_code="TEST123").test_event_code
        'TEST123'
    """

    data: Sequence[ConversionEvent]
    test_event_code: str | None = None
    partner_agent: str | None = None


@attrs.frozen(kw_only=True)
class ConversionEventsResponse(RawResponse):
    """Answer to an events request (spec: ``ConversionEventResponse``).

    Example:
        >>> ConversionEventsResponse(events_received=3).events_received
        3
    """

    events_received: int | None = None
    messages: Sequence[str] = ()
    fbtrace_id: str | None = None


@attrs.frozen(kw_only=True)
class ErrorResponse(RawResponse):
    """The spec's error body (``utils.ErrorResp``); see ``APIStatusError`` for parsed errors.

    Example:
        >>> ErrorResponse(error="Invalid api token.").error
        'Invalid api token.'
    """

    error: str | None = None
