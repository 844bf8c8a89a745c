"""Receive WhatsApp status webhooks (sent, delivered, read, failed) and incoming messages.

- ``parse_webhook(body, headers, app_secret=None)``: framework-neutral parsing (FastAPI,
  Starlette, Django, aiohttp...) into a typed ``Webhook``; a body that is not a webhook raises
  ``WebhookError``, a bad signature ``WebhookSignatureError``.
- ``WebhookReceiver``: the answering policy (200 only once your code has handled a delivery,
  4xx for bad bodies, 5xx so that the sender retries when your code fails), with an
  ``aiohttp.web`` handler and application, and an async iterator.
- ``sign`` / ``verify_signature``: Meta's ``X-Hub-Signature-256``.
- ``DeliveryTracker``: statuses recorded in your campaigns' journals (``send_bulk(journal=...)``):
  delivered, read and failed per campaign, unknown messages settled by evidence.

See ``docs/webhooks.md``.

Example:
    >>> from d360_async.webhooks import DeliveryStatus, parse_webhook
    >>> body = (
    ...     b'{"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": '
    ...     b'[{"field": "messages", "value": {"statuses": [{"id": "wamid.X", '
    ...     b'"status": "delivered", "timestamp": "1767312000", "recipient_id": "491511"}]}}]}]}'
    ... )
    >>> parse_webhook(body, {}).statuses[0].status is DeliveryStatus.DELIVERED
    True
"""

from ._campaign_journal import DeliveryReport
from ._delivery import DeliveryCounts, DeliveryTracker
from ._errors import WebhookError, WebhookSignatureError
from ._models_webhooks import (
    Conversation,
    ConversationOrigin,
    DeliveryStatus,
    IncomingButton,
    IncomingMessage,
    IncomingText,
    MessageContext,
    Pricing,
    StatusUpdate,
    Webhook,
    WebhookChange,
    WebhookContact,
    WebhookContactProfile,
    WebhookEntry,
    WebhookErrorData,
    WebhookErrorDetail,
    WebhookMetadata,
    WebhookValue,
)
from ._webhook_parse import SIGNATURE_HEADER, parse_webhook, sign, verify_signature
from ._webhook_receiver import DEFAULT_HANDLER_TIMEOUT, WebhookAnswer, WebhookReceiver

__all__ = [
    "DEFAULT_HANDLER_TIMEOUT",
    "SIGNATURE_HEADER",
    "Conversation",
    "ConversationOrigin",
    "DeliveryCounts",
    "DeliveryReport",
    "DeliveryStatus",
    "DeliveryTracker",
    "IncomingButton",
    "IncomingMessage",
    "IncomingText",
    "MessageContext",
    "Pricing",
    "StatusUpdate",
    "Webhook",
    "WebhookAnswer",
    "WebhookChange",
    "WebhookContact",
    "WebhookContactProfile",
    "WebhookEntry",
    "WebhookError",
    "WebhookErrorData",
    "WebhookErrorDetail",
    "WebhookMetadata",
    "WebhookReceiver",
    "WebhookSignatureError",
    "WebhookValue",
    "parse_webhook",
    "sign",
    "verify_signature",
]
