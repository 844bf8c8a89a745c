"""Webhook bodies shaped like Meta's documented examples (values made up), and builders."""

from __future__ import annotations

import copy
import json
from typing import Any

WABA_ID = "102290129340398"
PHONE = "4915112345678"  # a recipient: must never show in a repr, an error or a log line
METADATA = {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"}

SENT = {
    "id": "wamid.HBgNNDkxNTExMjM0NTY3OBUCABEYEjgxQkVFRDVBQTVDODFDOTg3MQA=",
    "status": "sent",
    "timestamp": "1767312000",
    "recipient_id": PHONE,
    "biz_opaque_callback_data": "campaign-7",
    "conversation": {
        "id": "a75d17ad06104c51166f948319b03c6a",
        "expiration_timestamp": "1767398400",
        "origin": {"type": "marketing_lite"},
    },
    "pricing": {
        "billable": True,
        "pricing_model": "PMP",
        "category": "marketing_lite",
        "type": "regular",
    },
}
DELIVERED = {
    "id": SENT["id"],
    "status": "delivered",
    "timestamp": "1767312005",
    "recipient_id": PHONE,
    "pricing": {"billable": True, "pricing_model": "PMP", "category": "marketing_lite"},
}
READ = {"id": SENT["id"], "status": "read", "timestamp": "1767312060", "recipient_id": PHONE}
FAILED = {
    "id": "wamid.HBgNNDkxNTExMjM0NTY3ORUCABEYEkZBSUxFRA==",
    "status": "failed",
    "timestamp": "1767312001",
    "recipient_id": "4915112345679",
    "errors": [
        {
            "code": 131049,
            "title": "This message was not delivered to maintain healthy ecosystem engagement.",
            "message": "This message was not delivered to maintain healthy ecosystem engagement.",
            "error_data": {"details": "In order to maintain a healthy ecosystem engagement..."},
            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
        }
    ],
}
INCOMING_BUTTON = {
    "from": PHONE,
    "id": "wamid.HBgNNDkxNTExMjM0NTY3OBUCABIYFDNBNzlCMDcyQUY2RjQxNDY3OTcA",
    "timestamp": "1767312100",
    "type": "button",
    "context": {"from": "15550783881", "id": SENT["id"]},
    "button": {"payload": "unsubscribe", "text": "Stop promotions"},
}
INCOMING_TEXT = {
    "from": PHONE,
    "id": "wamid.HBgNNDkxNTExMjM0NTY3OBUCABIYFjNFQjBDMDhGRTNGMjRBMEQ3RjZGQUEA",
    "timestamp": "1767312200",
    "type": "text",
    "text": {"body": "Is the sale still on? Call me at +49 151 12345678"},
}
CONTACT = {"profile": {"name": "Ada Lovelace"}, "wa_id": PHONE}
OUT_OF_BAND_ERROR = {
    "code": 131047,
    "title": "Re-engagement message",
    "message": "Re-engagement message",
    "error_data": {"details": "More than 24 hours have passed since the recipient last replied."},
}
TEMPLATE_STATUS_CHANGE = {
    "field": "message_template_status_update",
    "value": {
        "event": "PAUSED",
        "message_template_id": 1245678,
        "message_template_name": "summer_sale",
        "message_template_language": "en_US",
        "reason": "LOW_QUALITY",
    },
}


def value(**parts: Any) -> dict[str, Any]:
    """A ``messages`` change value with ``parts`` (``statuses=[...]``, ``messages=[...]``)."""
    return {"messaging_product": "whatsapp", "metadata": dict(METADATA), **copy.deepcopy(parts)}


def envelope(*changes: dict[str, Any], entry_id: str = WABA_ID) -> dict[str, Any]:
    """A webhook with one entry holding ``changes``."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": entry_id, "changes": [copy.deepcopy(c) for c in changes]}],
    }


def messages_change(**parts: Any) -> dict[str, Any]:
    return {"field": "messages", "value": value(**parts)}


def statuses_body(*statuses: dict[str, Any]) -> bytes:
    """The JSON body of a delivery carrying ``statuses``."""
    return json.dumps(envelope(messages_change(statuses=list(statuses)))).encode()


EVERYTHING = envelope(
    messages_change(statuses=[SENT, DELIVERED, READ, FAILED]),
    messages_change(
        contacts=[CONTACT], messages=[INCOMING_BUTTON, INCOMING_TEXT], errors=[OUT_OF_BAND_ERROR]
    ),
    TEMPLATE_STATUS_CHANGE,
)
