"""Models of the WhatsApp Business Account webhooks: delivery statuses and incoming messages.

The envelope (``object``, ``entry[]``, ``changes[]``) is walked by ``parse_webhook``; the
``value`` of a ``messages`` change and everything in it are parsed by the SDK's converter.
Unknown fields are kept in ``raw`` and never break parsing; a status value Meta adds tomorrow
stays a plain ``str``. Timestamps are timezone-aware UTC ``datetime`` objects (Meta sends Unix
seconds as strings). Phone numbers, names and message texts are left out of every ``repr``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from enum import StrEnum

import attrs

from ._base import RawResponse, json_name

__all__ = [
    "Conversation",
    "ConversationOrigin",
    "DeliveryStatus",
    "IncomingButton",
    "IncomingMessage",
    "IncomingText",
    "MessageContext",
    "Pricing",
    "StatusUpdate",
    "Webhook",
    "WebhookChange",
    "WebhookContact",
    "WebhookContactProfile",
    "WebhookEntry",
    "WebhookErrorData",
    "WebhookErrorDetail",
    "WebhookMetadata",
    "WebhookValue",
]

#: ``object`` of every WhatsApp Business Account webhook.
WABA_OBJECT = "whatsapp_business_account"
#: ``field`` of the changes that carry statuses and incoming messages.
MESSAGES_FIELD = "messages"


class DeliveryStatus(StrEnum):
    """What happened to a sent message, as a status webhook reports it.

    ``read`` may arrive without ``delivered`` and ``delivered`` before ``sent``: webhooks are
    unordered. A value not listed here is kept as a plain ``str``.
    """

    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    DELETED = "deleted"
    PLAYED = "played"


@attrs.frozen(kw_only=True)
class WebhookErrorData:
    """``error_data`` of a webhook error.

    Example:
        >>> WebhookErrorData(details="Message failed to send").details
        'Message failed to send'
    """

    details: str | None = None


@attrs.frozen(kw_only=True)
class WebhookErrorDetail(RawResponse):
    """An error in a webhook: why a message failed, or an out-of-band error.

    ``code`` is Meta's error code, an ``int`` like ``APIStatusError.code`` (``131049``,
    ``131026``, ``131050``...).

    Example:
        >>> e = WebhookErrorDetail(code=131026, title="Message undeliverable")
        >>> (e.code, e.details)
        (131026, None)
    """

    code: int | None = None
    title: str | None = None
    message: str | None = None
    error_data: WebhookErrorData | None = None
    href: str | None = None

    @property
    def details(self) -> str | None:
        """``error_data.details``, when present."""
        return self.error_data.details if self.error_data else None


@attrs.frozen(kw_only=True)
class ConversationOrigin:
    """Where a conversation came from (``origin.type``: ``marketing``, ``marketing_lite``...).

    Example:
        >>> ConversationOrigin(type="marketing_lite").type
        'marketing_lite'
    """

    type: str | None = None


@attrs.frozen(kw_only=True)
class Conversation:
    """The conversation a status belongs to (absent under per-message pricing).

    Example:
        >>> Conversation(id="c-1", origin=ConversationOrigin(type="marketing")).origin.type
        'marketing'
    """

    id: str | None = None
    origin: ConversationOrigin | None = None
    expiration_timestamp: datetime | None = None


@attrs.frozen(kw_only=True)
class Pricing:
    """How a message is billed (``category``: ``marketing_lite``, ``marketing``...).

    Example:
        >>> Pricing(billable=True, pricing_model="PMP", category="marketing_lite").billable
        True
    """

    billable: bool | None = None
    pricing_model: str | None = None
    category: str | None = None
    type: str | None = None


@attrs.frozen(kw_only=True)
class StatusUpdate(RawResponse):
    """One status of one message you sent (an element of ``statuses[]``).

    Attributes:
        id: The message id (``wamid.…``) the send returned.
        status: A ``DeliveryStatus``, or the plain string of a status this SDK does not know.
        timestamp: When it happened (aware, UTC).
        recipient_id: The recipient's WhatsApp id, a phone number (not in the ``repr``). Meta
            is introducing business-scoped user ids: a status may then carry
            ``recipient_user_id`` instead.
        recipient_user_id: The recipient's business-scoped user id, when Meta sends one.
        errors: Why a ``failed`` message failed.
        biz_opaque_callback_data: The tracking string set at send time, echoed back.

    Example:
        >>> from datetime import datetime, timezone
        >>> s = StatusUpdate(
        ...     id="wamid.X",
        ...     status=DeliveryStatus.FAILED,
        ...     timestamp=datetime(2026, 1, 2, tzinfo=timezone.utc),
        ...     recipient_id="4915112345678",
        ...     errors=[WebhookErrorDetail(code=131049)],
        ... )
        >>> (s.status, s.error_code, "4915112345678" in repr(s))
        (<DeliveryStatus.FAILED: 'failed'>, 131049, False)
    """

    id: str
    status: DeliveryStatus | str
    timestamp: datetime
    recipient_id: str | None = attrs.field(default=None, repr=False)
    recipient_user_id: str | None = attrs.field(default=None, repr=False)
    recipient_type: str | None = None
    conversation: Conversation | None = None
    pricing: Pricing | None = None
    errors: Sequence[WebhookErrorDetail] = ()
    biz_opaque_callback_data: str | None = attrs.field(default=None, repr=False)

    @property
    def error_code(self) -> int | None:
        """The code of the first error, or None."""
        return self.errors[0].code if self.errors else None


@attrs.frozen(kw_only=True)
class IncomingText:
    """The text of an incoming ``text`` message (not in the ``repr``).

    Example:
        >>> IncomingText(body="STOP").body
        'STOP'
    """

    body: str | None = attrs.field(default=None, repr=False)


@attrs.frozen(kw_only=True)
class IncomingButton:
    """A quick-reply button the customer pressed on a template message.

    Example:
        >>> IncomingButton(payload="unsubscribe", text="Stop promotions").payload
        'unsubscribe'
    """

    payload: str | None = None
    text: str | None = attrs.field(default=None, repr=False)


@attrs.frozen(kw_only=True)
class MessageContext:
    """The message an incoming message replies to (``id``: the ``wamid`` you sent).

    Example:
        >>> MessageContext(id="wamid.X").id
        'wamid.X'
    """

    id: str | None = None
    sender: str | None = attrs.field(default=None, repr=False, metadata=json_name("from"))


@attrs.frozen(kw_only=True)
class IncomingMessage(RawResponse):
    """A message a customer sent to your number (an element of ``messages[]``).

    Only the common parts are typed; every other part (``interactive``, ``image``,
    ``reaction``...) is in ``raw``.

    Attributes:
        sender: The customer's WhatsApp id, a phone number (JSON ``from``; not in the
            ``repr``).

    Example:
        >>> from datetime import datetime, timezone
        >>> m = IncomingMessage(
        ...     id="wamid.IN",
        ...     sender="4915112345678",
        ...     timestamp=datetime(2026, 1, 2, tzinfo=timezone.utc),
        ...     type="button",
        ...     button=IncomingButton(payload="unsubscribe"),
        ... )
        >>> (m.button.payload, "4915112345678" in repr(m))
        ('unsubscribe', False)
    """

    id: str
    timestamp: datetime
    type: str
    sender: str | None = attrs.field(default=None, repr=False, metadata=json_name("from"))
    text: IncomingText | None = None
    button: IncomingButton | None = None
    context: MessageContext | None = None
    errors: Sequence[WebhookErrorDetail] = ()


@attrs.frozen(kw_only=True)
class WebhookContactProfile:
    """The customer's WhatsApp profile (not in the ``repr``).

    Example:
        >>> "Ada" in repr(WebhookContactProfile(name="Ada"))
        False
    """

    name: str | None = attrs.field(default=None, repr=False)


@attrs.frozen(kw_only=True)
class WebhookContact:
    """A customer an incoming message came from (an element of ``contacts[]``).

    Example:
        >>> WebhookContact(wa_id="4915112345678").wa_id
        '4915112345678'
    """

    wa_id: str | None = attrs.field(default=None, repr=False)
    profile: WebhookContactProfile | None = None


@attrs.frozen(kw_only=True)
class WebhookMetadata:
    """Which of your numbers the change is about.

    Example:
        >>> WebhookMetadata(phone_number_id="106540352242922").phone_number_id
        '106540352242922'
    """

    display_phone_number: str | None = None
    phone_number_id: str | None = None


@attrs.frozen(kw_only=True)
class WebhookValue(RawResponse):
    """The ``value`` of a ``messages`` change.

    Example:
        >>> WebhookValue(metadata=WebhookMetadata(phone_number_id="1")).statuses
        ()
    """

    messaging_product: str | None = None
    metadata: WebhookMetadata | None = None
    statuses: Sequence[StatusUpdate] = ()
    messages: Sequence[IncomingMessage] = ()
    contacts: Sequence[WebhookContact] = ()
    errors: Sequence[WebhookErrorDetail] = ()


@attrs.frozen(kw_only=True)
class WebhookChange(RawResponse):
    """One change of an entry. ``value`` is typed for ``field == "messages"``; the value of any
    other field (``message_template_status_update``...) is in ``raw["value"]``.

    Example:
        >>> WebhookChange(field="account_update").value is None
        True
    """

    field: str
    value: WebhookValue | None = None


@attrs.frozen(kw_only=True)
class WebhookEntry(RawResponse):
    """One entry of a webhook: the changes of one WhatsApp Business Account (``id``).

    Example:
        >>> WebhookEntry(id="102290129340398").changes
        ()
    """

    id: str
    changes: Sequence[WebhookChange] = ()


@attrs.frozen(kw_only=True)
class Webhook(RawResponse):
    """One webhook delivery (one HTTP request), parsed by ``parse_webhook``.

    Deliveries are at least once and unordered: the same status may come twice, and ``read``
    may come before (or without) ``delivered``.

    Example:
        >>> hook = Webhook(object="whatsapp_business_account", entry=[WebhookEntry(id="1")])
        >>> (hook.statuses, hook.messages)
        ((), ())
    """

    object: str
    entry: Sequence[WebhookEntry] = ()

    def values(self) -> Iterator[WebhookValue]:
        """The values of every ``messages`` change, in order."""
        for entry in self.entry:
            for change in entry.changes:
                if change.value is not None:
                    yield change.value

    @property
    def statuses(self) -> tuple[StatusUpdate, ...]:
        """Every status in the delivery, in order."""
        return tuple(s for value in self.values() for s in value.statuses)

    @property
    def messages(self) -> tuple[IncomingMessage, ...]:
        """Every incoming message in the delivery, in order."""
        return tuple(m for value in self.values() for m in value.messages)

    @property
    def contacts(self) -> tuple[WebhookContact, ...]:
        """Every contact in the delivery, in order."""
        return tuple(c for value in self.values() for c in value.contacts)

    @property
    def errors(self) -> tuple[WebhookErrorDetail, ...]:
        """Every out-of-band error (``value.errors``) in the delivery, in order."""
        return tuple(e for value in self.values() for e in value.errors)
