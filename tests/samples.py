"""Sample bodies, shaped like the live service's; each success body validates against the spec
(``test_contract.py`` checks that)."""

from __future__ import annotations

from typing import Any

SEND_OK: dict[str, Any] = {
    "messaging_product": "whatsapp",
    "contacts": [{"input": "+49 151 12345678", "wa_id": "4915112345678"}],
    "messages": [{"id": "wamid.HBgNNDkxNTExMjM0NTY3OBUCABEYEjQ2", "message_status": "accepted"}],
}

TEMPLATE: dict[str, Any] = {
    "id": "1029384756",
    "name": "spring_sale",
    "language": "en_US",
    "status": "APPROVED",
    "category": "MARKETING",
    "components": [
        {"type": "HEADER", "format": "IMAGE"},
        {"type": "BODY", "text": "Hi {{1}}, take {{2}} off until {{3}}."},
        {"type": "FOOTER", "text": "Reply STOP to opt out"},
        {
            "type": "BUTTONS",
            "buttons": [
                {"type": "URL", "text": "Shop", "url": "https://shop.example/{{1}}"},
                {"type": "QUICK_REPLY", "text": "Stop promotions"},
            ],
        },
    ],
}

TEMPLATES_PAGE_1: dict[str, Any] = {
    "data": [TEMPLATE, {**TEMPLATE, "id": "1029384757", "name": "autumn_sale"}],
    "paging": {
        "cursors": {"before": "QVFIUmxB", "after": "QVFIUzJB"},
        "next": "https://graph.facebook.com/v21.0/x/message_templates?after=QVFIUzJB",
    },
}
TEMPLATES_PAGE_2: dict[str, Any] = {
    "data": [{**TEMPLATE, "id": "1029384758", "name": "winter_sale", "status": "PAUSED"}],
    "paging": {"cursors": {"before": "QVFIUzJC", "after": "QVFIUzJD"}},
}

ANALYTICS: dict[str, Any] = {
    "id": "102290129340398",
    "template_analytics": [
        {
            "template_id": "1029384756",
            "analytics": [
                {
                    "metric_type": "SENT",
                    "granularity": "DAILY",
                    "data_points": [{"start": 1764028800, "end": 1764115200, "value": 1200}],
                },
                {
                    "metric_type": "CLICKED",
                    "granularity": "DAILY",
                    "data_points": [{"start": 1764028800, "end": 1764115200, "value": 87}],
                },
            ],
        }
    ],
}

ENABLE_ANALYTICS: dict[str, Any] = {"success": True}

INSIGHTS_PAGE_1: dict[str, Any] = {
    "data": [
        {
            "date_start": "2026-11-01",
            "date_stop": "2026-11-24",
            "campaign_id": "120210000000001",
            "impressions": "18211",
            "spend": "152.33",
            "actions": [{"action_type": "link_click", "value": "412", "1d_click": "300"}],
            "marketing_messages_sent": "20000",
        }
    ],
    "paging": {"cursors": {"before": "MAZDZD", "after": "MQZDZD"}, "next": "https://x/next"},
}
INSIGHTS_PAGE_2: dict[str, Any] = {
    "data": [
        {
            "date_start": "2026-11-01",
            "date_stop": "2026-11-24",
            "campaign_id": "120210000000002",
            "impressions": "911",
            "spend": "9.10",
        }
    ],
    "paging": {"cursors": {"before": "MgZDZD", "after": "MwZDZD"}},
}

DATASET: dict[str, Any] = {"id": "1122334455667788", "name": "WhatsApp conversions"}

EVENTS_OK: dict[str, Any] = {
    "events_received": 2,
    "messages": [],
    "fbtrace_id": "AbCdEfGhIjKlMnOp",
}

DATASET_QUALITY: dict[str, Any] = {
    "web": [
        {
            "event_name": "Purchase",
            "event_match_quality": {
                "composite_score": 7.4,
                "match_key_feedback": [
                    {"identifier": "em", "coverage": {"percentage": 88.2}},
                    {"identifier": "ph", "coverage": {"percentage": 61.0}},
                ],
                "diagnostics": [
                    {
                        "name": "missing_external_id",
                        "description": "Send external_id",
                        "solution": "Add external_id to user_data",
                        "percentage": 40.0,
                        "affected_event_count": 400,
                        "total_event_count": 1000,
                    }
                ],
            },
            "event_coverage": {"percentage": 52.0, "goal_percentage": 75.0},
            "dedupe_key_feedback": [
                {"dedupe_key": "event_id", "server_events_with_dedupe_key": {"percentage": 99.0}}
            ],
            "data_freshness": {"upload_frequency": "real_time"},
            "acr": {"percentage": 3.2},
        }
    ]
}

#: Success bodies by operation id, for the contract test.
SUCCESS_BODIES: dict[str, list[dict[str, Any]]] = {
    "send-marketing-message": [SEND_OK],
    "send-marketing-message-alt": [SEND_OK],
    "get-mmlite-message-templates": [TEMPLATES_PAGE_1, TEMPLATES_PAGE_2],
    "get-message-template": [TEMPLATE],
    "get-template-analytics": [ANALYTICS],
    "enable-template-analytics": [ENABLE_ANALYTICS],
    "get-ad-object-insights": [INSIGHTS_PAGE_1, INSIGHTS_PAGE_2],
    "get-conversion-dataset": [DATASET],
    "post-conversion-dataset": [DATASET],
    "post-conversion-events": [EVENTS_OK],
    "get-dataset-quality": [DATASET_QUALITY],
}

# --- error bodies, every shape seen in the wild (api-facts.md) --------------------------------

ERROR_TEXT: dict[str, Any] = {"error": "Invalid api token."}


def meta_error(code: int, message: str = "(#%d) error", **extra: Any) -> dict[str, Any]:
    return {
        "error": {
            "message": message % code if "%d" in message else message,
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": f"details of {code}"},
            "fbtrace_id": "AzYxWvUtSrQ",
            **extra,
        }
    }


def wrapped_meta_error(code: int, message: str = "wrapped") -> dict[str, Any]:
    return {"detail": meta_error(code, message)}


META_GENERIC: dict[str, Any] = {
    "meta": {
        "api_status": "stable",
        "version": "2.35.4",
        "httpCode": 400,
        "developerMessage": "You have exceeded the limit of 1 request every 5 seconds",
        "success": False,
    }
}

HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>"
