"""Models for sending marketing messages (and the paging block every list response has)."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import attrs

from ._base import RawResponse

__all__ = [
    "ButtonSubType",
    "ComponentType",
    "Currency",
    "DateTime",
    "LanguageObject",
    "LocationMessage",
    "MarketingMessageRequest",
    "MarketingMessageResponse",
    "MediaObject",
    "MessageContact",
    "MessageStatus",
    "Paging",
    "PagingCursors",
    "ParameterType",
    "SentMessage",
    "TemplateComponent",
    "TemplateObject",
    "TemplateParameter",
]


class ComponentType(StrEnum):
    """Kind of a component in a template *send* (lowercase on the wire)."""

    HEADER = "header"
    BODY = "body"
    BUTTON = "button"


class ButtonSubType(StrEnum):
    """Kind of button a ``button`` component fills in."""

    QUICK_REPLY = "quick_reply"
    URL = "url"


class ParameterType(StrEnum):
    """Kind of a template parameter value."""

    TEXT = "text"
    CURRENCY = "currency"
    DATE_TIME = "date_time"
    IMAGE = "image"
    DOCUMENT = "document"
    VIDEO = "video"
    LOCATION = "location"


class MessageStatus(StrEnum):
    """What the service did with an accepted send (none of these means delivered)."""

    ACCEPTED = "accepted"
    HELD_FOR_QUALITY_ASSESSMENT = "held_for_quality_assessment"
    PAUSED = "paused"


# --- the send request -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Currency:
    """A currency parameter: ``amount_1000`` is the amount times 1,000.

    Example:
        >>> Currency(fallback_value="$12.50", code="USD", amount_1000=12500).code
        'USD'
    """

    fallback_value: str | None = None
    code: str | None = None
    amount_1000: int | None = None


@attrs.frozen(kw_only=True)
class DateTime:
    """A date-time parameter, rendered from its fallback value.

    Example:
        >>> DateTime(fallback_value="February 25, 1977").fallback_value
        'February 25, 1977'
    """

    fallback_value: str | None = None


@attrs.frozen(kw_only=True)
class MediaObject:
    """A media reference: an uploaded media ``id`` or a public ``link``.

    Example:
        >>> MediaObject(link="https://example.com/banner.png").link
        'https://example.com/banner.png'
    """

    id: str | None = None
    link: str | None = None


@attrs.frozen(kw_only=True)
class LocationMessage:
    """A location header parameter.

    Example:
        >>> LocationMessage(latitude=52.52, longitude=13.405, name="Berlin").name
        'Berlin'
    """

    latitude: float | None = None
    longitude: float | None = None
    name: str | None = None
    address: str | None = None


@attrs.frozen(kw_only=True)
class TemplateParameter:
    """One value filled into a template placeholder.

    ``parameter_name`` names the placeholder it fills in a template whose
    ``parameter_format`` is ``NAMED`` (``{{first_name}}``); positional templates go without.

    Example:
        >>> TemplateParameter(type=ParameterType.TEXT, text="Ada", parameter_name="first_name").text
        'Ada'
    """

    type: ParameterType
    parameter_name: str | None = None
    # a parameter's value is personal data (a name, an amount, a link): not in the repr
    text: str | None = attrs.field(default=None, repr=False)
    currency: Currency | None = attrs.field(default=None, repr=False)
    date_time: DateTime | None = attrs.field(default=None, repr=False)
    image: MediaObject | None = attrs.field(default=None, repr=False)
    document: MediaObject | None = attrs.field(default=None, repr=False)
    video: MediaObject | None = attrs.field(default=None, repr=False)
    location: LocationMessage | None = attrs.field(default=None, repr=False)


@attrs.frozen(kw_only=True)
class TemplateComponent:
    """The parameters of one component (header, body or one button) of a template send.

    Example:
        >>> body = TemplateComponent(
        ...     type=ComponentType.BODY,
        ...     parameters=[TemplateParameter(type=ParameterType.TEXT, text="Ada")],
        ... )
        >>> body.type
        <ComponentType.BODY: 'body'>
    """

    type: ComponentType
    sub_type: ButtonSubType | None = None
    index: int | None = None
    parameters: Sequence[TemplateParameter] | None = None


@attrs.frozen(kw_only=True)
class LanguageObject:
    """The template's language; ``policy`` ("deterministic") is accepted by the live API.

    Example:
        >>> LanguageObject(code="en_US").code
        'en_US'
    """

    code: str
    policy: str | None = None


@attrs.frozen(kw_only=True)
class TemplateObject:
    """Which template to send, in which language, with which parameters.

    Example:
        >>> TemplateObject(name="spring_sale", language=LanguageObject(code="en")).name
        'spring_sale'
    """

    name: str
    language: LanguageObject
    components: Sequence[TemplateComponent] | None = None


@attrs.frozen(kw_only=True)
class MarketingMessageRequest:
    """A marketing template message to one recipient.

    ``messaging_product``, ``recipient_type`` and ``type`` have the only values the API
    accepts. ``message_send_ttl_seconds`` is an MM Lite field the spec lacks.

    Example:
        >>> msg = MarketingMessageRequest(
        ...     to="4915112345678",
        ...     template=TemplateObject(name="spring_sale", language=LanguageObject(code="en")),
        ... )
        >>> msg.messaging_product, msg.type
        ('whatsapp', 'template')
    """

    to: str = attrs.field(repr=False)  # a phone number
    template: TemplateObject
    messaging_product: str = "whatsapp"
    recipient_type: str = "individual"
    type: str = "template"
    message_activity_sharing: bool | None = None
    product_policy: str | None = None
    message_send_ttl_seconds: int | None = None


# --- the send response ------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class MessageContact:
    """The recipient as sent (``input``) and as WhatsApp knows it (``wa_id``).

    Example:
        >>> MessageContact(input="+49 151 1234", wa_id="491511234").wa_id
        '491511234'
    """

    input: str | None = attrs.field(default=None, repr=False)  # phone numbers
    wa_id: str | None = attrs.field(default=None, repr=False)


@attrs.frozen(kw_only=True)
class SentMessage:
    """The id (``wamid.…``) and status of an accepted message (spec: ``MessageResponse``).

    Example:
        >>> SentMessage(id="wamid.X", message_status=MessageStatus.ACCEPTED).id
        'wamid.X'
    """

    id: str | None = None
    message_status: MessageStatus | str | None = None


@attrs.frozen(kw_only=True)
class MarketingMessageResponse(RawResponse):
    """The answer to a send.

    Example:
        >>> r = MarketingMessageResponse(messages=[SentMessage(id="wamid.X")])
        >>> r.message_id
        'wamid.X'
    """

    messaging_product: str | None = None
    contacts: Sequence[MessageContact] = ()
    messages: Sequence[SentMessage] = ()

    @property
    def message_id(self) -> str | None:
        """The id of the (first) accepted message, or None."""
        return self.messages[0].id if self.messages else None


# --- paging ----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class PagingCursors:
    """Opaque cursors around a page (spec: ``MMLitePagingCursors``).

    Example:
        >>> PagingCursors(after="QVFI").after
        'QVFI'
    """

    before: str | None = None
    after: str | None = None


@attrs.frozen(kw_only=True)
class Paging:
    """Paging block of a list response (spec: ``MMLitePaging``; ``next`` is Meta's).

    Example:
        >>> Paging(cursors=PagingCursors(after="A"), next="https://...").next
        'https://...'
    """

    cursors: PagingCursors | None = None
    next: str | None = None
    previous: str | None = None
