"""Models for conversion datasets and Conversions API events."""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import Any, Final

import attrs
import orjson

from ._base import RawResponse
from ._converter import unstructure
from ._errors import ValidationError
from ._models_event_results import (
    BatchResult,
    DroppedValue,
    EventsReport,
    FailedEvent,
    RejectedEvent,
)

__all__ = [
    "EVENT_ID_NAMESPACE",
    "ActionSource",
    "BatchResult",
    "ContentType",
    "ConversionDataset",
    "ConversionDatasetRequest",
    "ConversionEvent",
    "ConversionEventRequest",
    "ConversionEventsResponse",
    "CustomData",
    "DeliveryCategory",
    "DroppedValue",
    "ErrorResponse",
    "EventContent",
    "EventsReport",
    "FailedEvent",
    "MessagingChannel",
    "RejectedEvent",
    "UserData",
    "check_event",
    "derived_event_id",
    "event_payload",
    "new_event_id",
]

#: Oldest ``event_time`` Meta accepts, in seconds before now.
MAX_EVENT_AGE: Final = 7 * 24 * 3600
#: How far ahead of this machine's clock an ``event_time`` may be (clock skew).
FUTURE_SKEW: Final = 60


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
            raise ValidationError("event_time", "datetime must be timezone-aware")
        return int(value.timestamp())
    return value


def new_event_id() -> str:
    """A fresh ``event_id`` (a random UUID): Meta keeps the first event of a given
    ``event_name`` + ``event_id`` within 48 hours, so a retried or re-run event is counted once.

    Example:
        >>> len(new_event_id()), new_event_id() != new_event_id()
        (36, True)
    """
    return str(uuid.uuid4())


#: The namespace of the ``event_id`` derived for an event that has none (``uuid5``).
EVENT_ID_NAMESPACE: Final = uuid.UUID("6f0d5a43-2f3e-5c4b-9f59-d360a5e7e1d0")


def derived_event_id(dataset_id: str, data: Mapping[str, Any]) -> str:
    """The ``event_id`` of an event that has none: the same event sent again to the same
    dataset gets the same id, so that Meta counts it once (a re-run, a resumed file).

    ``uuid5(EVENT_ID_NAMESPACE, dataset_id + "\n" + canonical JSON)``, the canonical JSON
    being the event as given (with its defaults, before its ``user_data`` is hashed), keys
    sorted, without ``event_id`` (a text with a lone surrogate, whose value is dropped, is
    escaped as ``json`` does). Two events equal in every field are one event to Meta: give
    them ids of your own to count both. An event that is not JSON gets a random id (it
    cannot be sent anyway).

    Example:
        >>> event = {"event_name": "Purchase", "event_time": 1767312000}
        >>> derived_event_id("1234", event) == derived_event_id("1234", dict(event))
        True
        >>> derived_event_id("1234", event) == derived_event_id("5678", event)
        False
    """
    content = {key: value for key, value in data.items() if key != "event_id"}
    try:
        canonical = orjson.dumps(content, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError too: a lone surrogate (its value is dropped)...
        try:
            canonical = json.dumps(content, sort_keys=True, default=repr)
        except (TypeError, ValueError):  # ...or no JSON at all: the event is refused
            return new_event_id()
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{dataset_id}\n{canonical}"))


def _listify(value: Sequence[str] | str | None) -> Sequence[str] | None:
    """A lone string given to a multi-valued key is one value, not a list of characters."""
    return [value] if isinstance(value, str) else value


def _default_channel(event: ConversionEvent) -> MessagingChannel | None:
    """``whatsapp`` for business-messaging events; other action sources have no channel."""
    if event.action_source == ActionSource.BUSINESS_MESSAGING:
        return MessagingChannel.WHATSAPP
    return None


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
    ``country``, ``external_id``) must be normalised and SHA-256 hashed before sending
    (``send_conversion_events`` does it, or see ``d360_async.hashing``); each takes a list of
    values or a single string. So do the partial keys ``f5first``, ``f5last``, ``fi``
    (initial), ``dobd``, ``dobm``, ``doby`` (day, month, year of birth) and ``app_user_id``,
    one value each. The ids (``ctwa_clid``, ``whatsapp_business_account_id``, ``madid``...)
    are sent as they are. Only the business's own ids (``page_id``, ``ig_account_id``,
    ``whatsapp_business_account_id``) show in the ``repr``: the rest is about a person.

    Example:
        >>> UserData(ctwa_clid="ARAkLkA8rmlF", whatsapp_business_account_id="1029384756").ctwa_clid
        'ARAkLkA8rmlF'
        >>> UserData(em="mary@example.com").em
        ['mary@example.com']
    """

    em: Sequence[str] | None = attrs.field(default=None, converter=_listify, repr=False)
    ph: Sequence[str] | None = attrs.field(default=None, converter=_listify, repr=False)
    fn: Sequence[str] | None = attrs.field(default=None, converter=_listify, repr=False)
    ln: Sequence[str] | None = attrs.field(default=None, converter=_listify, repr=False)
    ge: Sequence[str] | None = attrs.field(default=None, converter=_listify, repr=False)
    db: Sequence[str] | None = attrs.field(default=None, converter=_listify, repr=False)
    ct: Sequence[str] | None = attrs.field(default=None, converter=_listify, repr=False)
    st: Sequence[str] | None = attrs.field(default=None, converter=_listify, repr=False)
    zp: Sequence[str] | None = attrs.field(default=None, converter=_listify, repr=False)
    country: Sequence[str] | None = attrs.field(default=None, converter=_listify, repr=False)
    external_id: Sequence[str] | None = attrs.field(default=None, converter=_listify, repr=False)
    f5first: str | None = attrs.field(default=None, repr=False)
    f5last: str | None = attrs.field(default=None, repr=False)
    fi: str | None = attrs.field(default=None, repr=False)
    dobd: str | None = attrs.field(default=None, repr=False)
    dobm: str | None = attrs.field(default=None, repr=False)
    doby: str | None = attrs.field(default=None, repr=False)
    app_user_id: str | None = attrs.field(default=None, repr=False)
    client_ip_address: str | None = attrs.field(default=None, repr=False)
    client_user_agent: str | None = attrs.field(default=None, repr=False)
    fbc: str | None = attrs.field(default=None, repr=False)
    fbp: str | None = attrs.field(default=None, repr=False)
    fb_login_id: str | None = attrs.field(default=None, repr=False)
    lead_id: str | None = attrs.field(default=None, repr=False)
    subscription_id: str | None = attrs.field(default=None, repr=False)
    page_id: str | None = None
    page_scoped_user_id: str | None = attrs.field(default=None, repr=False)
    ig_account_id: str | None = None
    ig_sid: str | None = attrs.field(default=None, repr=False)
    ctwa_clid: str | None = attrs.field(default=None, repr=False)
    whatsapp_business_account_id: str | None = None
    madid: str | None = attrs.field(default=None, repr=False)
    anon_id: str | None = attrs.field(default=None, repr=False)


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
    defaults to ``business_messaging``, and ``messaging_channel`` to ``whatsapp`` for
    business-messaging events. ``send_conversion_events`` adds an ``event_id`` to events
    without one (or call ``with_event_id()``), and checks every event (``validate()``) before
    sending it.

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
    messaging_channel: MessagingChannel | None = attrs.field(
        default=attrs.Factory(_default_channel, takes_self=True)
    )
    event_id: str | None = None
    user_data: UserData | None = None
    custom_data: CustomData | None = None
    event_source_url: str | None = None
    referrer_url: str | None = None
    opt_out: bool | None = None
    data_processing_options: Sequence[str] | None = None
    data_processing_options_country: int | None = None
    data_processing_options_state: int | None = None

    def with_event_id(self) -> ConversionEvent:
        """This event with a new random ``event_id`` if it has none (else itself).

        Example:
            >>> e = ConversionEvent(event_name="Purchase", event_time=1767312000)
            >>> e.event_id is None, e.with_event_id().event_id is not None
            (True, True)
        """
        if self.event_id:
            return self
        return attrs.evolve(self, event_id=new_event_id())

    def validate(self, *, now: float | None = None) -> None:
        """Check the event as the Conversions API will (see ``check_event``).

        Args:
            now: The current Unix time (defaults to the wall clock).

        Raises:
            ValidationError: The first problem found; ``field`` names the offending field.

        Example:
            >>> event = ConversionEvent(event_name="Purchase", event_time=1767312000)
            >>> try:
            ...     event.validate(now=1767312000 + 60)
            ... except ValidationError as exc:
            ...     print(exc.field, "-", exc.reason)
            custom_data - currency and value are required for Purchase events
        """
        check_event(unstructure(self), time.time() if now is None else now)


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


# --- checks before sending --------------------------------------------------------------------

_ACTION_SOURCES: Final = frozenset(ActionSource)
_CHANNELS: Final = frozenset(MessagingChannel)
_CONTENT_TYPES: Final = frozenset(ContentType)
_DELIVERY_CATEGORIES: Final = frozenset(DeliveryCategory)
_PURCHASE_NEEDS: Final = "currency and value are required for Purchase events"


@cache
def _currencies() -> frozenset[str]:
    """ISO 4217 alphabetic codes (upper case), from pycountry."""
    import pycountry

    return frozenset(c.alpha_3 for c in pycountry.currencies)


def _one_of(field: str, value: Any, allowed: frozenset[StrEnum]) -> None:
    if value not in allowed:
        raise ValidationError(field, f"must be one of {', '.join(sorted(allowed))}")


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return False
    return math.isfinite(value)


def _check_custom_data(data: Any, event_name: str) -> None:
    if data is None:
        if event_name == "Purchase":
            raise ValidationError("custom_data", _PURCHASE_NEEDS)
        return
    if type(data) is not dict and not isinstance(data, Mapping):
        raise ValidationError("custom_data", "must be an object")
    currency = data.get("currency")
    if currency is not None and (
        not isinstance(currency, str) or currency.upper() not in _currencies()
    ):
        raise ValidationError("custom_data.currency", "must be a 3-letter ISO 4217 code ('USD')")
    value = data.get("value")
    if value is not None and not _is_number(value):
        raise ValidationError("custom_data.value", "must be a finite number")
    if event_name == "Purchase" and (currency is None or value is None):
        raise ValidationError("custom_data", _PURCHASE_NEEDS)
    content_type = data.get("content_type")
    if content_type is not None:
        _one_of("custom_data.content_type", content_type, _CONTENT_TYPES)
    num_items = data.get("num_items")
    if num_items is not None and (isinstance(num_items, bool) or not isinstance(num_items, int)):
        raise ValidationError("custom_data.num_items", "must be an integer")
    contents = data.get("contents")
    if contents is not None:
        if not isinstance(contents, (list, tuple)):
            raise ValidationError("custom_data.contents", "must be a list")
        for i, item in enumerate(contents):
            if not isinstance(item, Mapping):
                raise ValidationError(f"custom_data.contents[{i}]", "must be an object")
            category = item.get("delivery_category")
            if category is not None:
                _one_of(
                    f"custom_data.contents[{i}].delivery_category", category, _DELIVERY_CATEGORIES
                )


def event_payload(
    event: ConversionEvent | Mapping[str, Any], *, dataset_id: str | None = None
) -> dict[str, Any]:
    """An event as a new JSON-ready dict (``user_data`` not hashed yet), defaults filled in.

    A mapping gets what the model gives by default: ``action_source`` ``business_messaging``,
    then ``messaging_channel`` ``whatsapp``; a ``datetime`` or float ``event_time`` becomes
    Unix seconds; models in ``custom_data`` are unstructured and a ``Decimal`` ``value``
    becomes a float. Every event gets an ``event_id``: one without gets
    ``derived_event_id(dataset_id, ...)`` (a new random UUID without ``dataset_id``).

    Raises:
        ValidationError: Not an event, or a naive ``datetime``.

    Example:
        >>> data = event_payload({"event_name": "Purchase", "event_time": 1767312000.5})
        >>> data["event_time"], data["action_source"], data["messaging_channel"]
        (1767312000, 'business_messaging', 'whatsapp')
    """
    if type(event) is not dict and isinstance(event, ConversionEvent):
        data: dict[str, Any] = unstructure(event)  # the model has its defaults
    elif type(event) is dict or isinstance(event, Mapping):
        data = dict(event)
        if data.get("action_source") is None:
            data["action_source"] = ActionSource.BUSINESS_MESSAGING.value
        if "messaging_channel" not in data:
            if data["action_source"] == ActionSource.BUSINESS_MESSAGING:
                data["messaging_channel"] = MessagingChannel.WHATSAPP.value
        elif data["messaging_channel"] is None:
            del data["messaging_channel"]
        event_time = data.get("event_time")
        if isinstance(event_time, datetime):
            data["event_time"] = _unix_seconds(event_time)
        elif isinstance(event_time, float) and math.isfinite(event_time):
            data["event_time"] = int(event_time)  # time.time() and friends
    else:
        raise ValidationError("event", "must be a ConversionEvent or a mapping")
    custom = data.get("custom_data")
    if custom is not None and type(custom) is not dict:
        if attrs.has(type(custom)):
            data["custom_data"] = custom = unstructure(custom)
        elif isinstance(custom, Mapping):
            data["custom_data"] = custom = dict(custom)
    if type(custom) is dict and isinstance(custom.get("value"), Decimal):
        data["custom_data"] = {**custom, "value": float(custom["value"])}
    if not data.get("event_id"):
        data["event_id"] = (
            new_event_id() if dataset_id is None else derived_event_id(dataset_id, data)
        )
    return data


def check_event(event: Mapping[str, Any], now: float) -> None:
    """Check one JSON-ready event the way the Conversions API will, before sending it.

    Checks: ``event_name`` present; ``event_time`` integer Unix seconds within the last 7 days
    and not in the future (60 s of clock skew allowed); ``action_source``,
    ``messaging_channel``, ``custom_data.content_type`` and ``delivery_category`` from their
    enums; ``custom_data.currency`` an ISO 4217 code, ``value`` a finite number, both required
    for ``Purchase``; ``user_data`` an object. Reasons never quote a value.

    Args:
        event: The event as sent (a dict).
        now: The current Unix time.

    Raises:
        ValidationError: The first problem; ``field`` names it (``custom_data.currency``).

    Example:
        >>> check_event({"event_name": "LeadSubmitted", "event_time": 1000,
        ...              "action_source": "business_messaging"}, now=1000 + 8 * 86400)
        Traceback (most recent call last):
        ...
        d360_async._errors.ValidationError: event_time: is older than 7 days
    """
    name = event.get("event_name")
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("event_name", "is required")
    event_time = event.get("event_time")
    if isinstance(event_time, bool) or not isinstance(event_time, int):
        raise ValidationError("event_time", "must be Unix seconds (int) or an aware datetime")
    if event_time < now - MAX_EVENT_AGE:
        raise ValidationError("event_time", "is older than 7 days")
    if event_time > now + FUTURE_SKEW:
        raise ValidationError("event_time", "is in the future")
    _one_of("action_source", event.get("action_source"), _ACTION_SOURCES)
    channel = event.get("messaging_channel")
    if channel is not None:
        _one_of("messaging_channel", channel, _CHANNELS)
    event_id = event.get("event_id")
    if event_id is not None and (not isinstance(event_id, str) or not event_id):
        raise ValidationError("event_id", "must be a non-empty string")
    user_data = event.get("user_data")
    if user_data is not None and type(user_data) is not dict and not isinstance(user_data, Mapping):
        raise ValidationError("user_data", "must be an object")
    _check_custom_data(event.get("custom_data"), name)
