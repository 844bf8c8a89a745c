"""Response bodies shaped as Meta documents them (WhatsApp Business Management API: message
templates, template analytics; Marketing API: Ads Insights), written for these tests from
Meta's published reference pages and formats. Ids, names and numbers are made up.

Sources of the shapes (not of the values):
- Message templates: developers.facebook.com/docs/whatsapp/business-management-api/
  message-templates (fields ``parameter_format``, ``quality_score``, ``rejected_reason``,
  ``previous_category``, ``sub_category``, ``message_send_ttl_seconds``, components with
  ``example``, ``CAROUSEL`` cards, ``LIMITED_TIME_OFFER``, buttons ``FLOW``/``OTP``/``COPY_CODE``).
- Template analytics: the ``template_analytics`` edge (``data[].data_points[]`` with
  ``clicked[]`` and ``cost[]``), and Graph field expansion of the same edge.
- Ads Insights: developers.facebook.com/docs/marketing-api/insights (numbers as strings,
  ``actions``/``action_values``/``cost_per_action_type`` lists, ``*_name`` columns).
"""

from __future__ import annotations

from typing import Any

DAY = 86_400
D1 = 1_764_028_800  # 2025-11-25 00:00 UTC
D2 = D1 + DAY

# --- message templates ------------------------------------------------------------------------

NAMED_TEMPLATE: dict[str, Any] = {
    "name": "points_reminder",
    "parameter_format": "NAMED",
    "components": [
        {
            "type": "HEADER",
            "format": "TEXT",
            "text": "A gift for {{first_name}}",
            "example": {
                "header_text_named_params": [{"param_name": "first_name", "example": "Ada"}]
            },
        },
        {
            "type": "BODY",
            "text": "Hi {{first_name}}, you have {{points}} points. Redeem them before {{expiry}}!",
            "example": {
                "body_text_named_params": [
                    {"param_name": "first_name", "example": "Ada"},
                    {"param_name": "points", "example": "120"},
                    {"param_name": "expiry", "example": "31 December"},
                ]
            },
        },
        {"type": "FOOTER", "text": "Reply STOP to opt out"},
        {
            "type": "BUTTONS",
            "buttons": [
                {
                    "type": "URL",
                    "text": "Redeem",
                    "url": "https://shop.example/points/{{1}}",
                    "example": ["https://shop.example/points/ada-120"],
                },
                {"type": "QUICK_REPLY", "text": "Not now"},
            ],
        },
    ],
    "language": "en_US",
    "status": "APPROVED",
    "category": "MARKETING",
    "previous_category": "UTILITY",
    "sub_category": "CUSTOM",
    "quality_score": {"score": "GREEN", "date": 1764028800},
    "message_send_ttl_seconds": 43200,
    "cta_url_link_tracking_opted_out": False,
    "id": "1187334412275570",
}

CAROUSEL_TEMPLATE: dict[str, Any] = {
    "name": "autumn_carousel",
    "parameter_format": "POSITIONAL",
    "components": [
        {
            "type": "BODY",
            "text": "{{1}}, three picks for your autumn wardrobe.",
            "example": {"body_text": [["Ada"]]},
        },
        {
            "type": "CAROUSEL",
            "cards": [
                {
                    "components": [
                        {
                            "type": "HEADER",
                            "format": "IMAGE",
                            "example": {"header_handle": ["4::aW1hZ2UvanBlZw==:ARb1"]},
                        },
                        {
                            "type": "BODY",
                            "text": "Wool coat, now {{1}}.",
                            "example": {"body_text": [["79 EUR"]]},
                        },
                        {
                            "type": "BUTTONS",
                            "buttons": [
                                {"type": "QUICK_REPLY", "text": "More like this"},
                                {
                                    "type": "URL",
                                    "text": "Buy",
                                    "url": "https://shop.example/p/{{1}}",
                                    "example": ["https://shop.example/p/coat"],
                                },
                            ],
                        },
                    ]
                },
                {
                    "components": [
                        {
                            "type": "HEADER",
                            "format": "VIDEO",
                            "example": {"header_handle": ["4::dmlkZW8vbXA0:ARb2"]},
                        },
                        {"type": "BODY", "text": "Leather boots."},
                        {
                            "type": "BUTTONS",
                            "buttons": [{"type": "QUICK_REPLY", "text": "More like this"}],
                        },
                    ]
                },
            ],
        },
    ],
    "language": "en_GB",
    "status": "APPROVED",
    "category": "MARKETING",
    "quality_score": {"score": "YELLOW", "date": 1763942400},
    "id": "1187334412275571",
}

AUTH_TEMPLATE: dict[str, Any] = {
    "name": "login_code",
    "parameter_format": "POSITIONAL",
    "components": [
        {
            "type": "BODY",
            "text": "*{{1}}* is your verification code. For your security, do not share this code.",
            "add_security_recommendation": True,
            "example": {"body_text": [["123456"]]},
        },
        {
            "type": "FOOTER",
            "text": "This code expires in 10 minutes.",
            "code_expiration_minutes": 10,
        },
        {
            "type": "BUTTONS",
            "buttons": [
                {
                    "type": "OTP",
                    "otp_type": "ONE_TAP",
                    "text": "Copy code",
                    "autofill_text": "Autofill",
                    "supported_apps": [
                        {"package_name": "com.example.shop", "signature_hash": "K8a%2FAINcGX7"}
                    ],
                }
            ],
        },
    ],
    "language": "en_US",
    "status": "APPROVED",
    "category": "AUTHENTICATION",
    "message_send_ttl_seconds": 600,
    "quality_score": {"score": "UNKNOWN"},
    "id": "1187334412275572",
}

FLOW_TEMPLATE: dict[str, Any] = {
    "name": "vip_signup",
    "parameter_format": "POSITIONAL",
    "components": [
        {"type": "HEADER", "format": "LOCATION"},
        {"type": "BODY", "text": "Join our VIP club: early access and free shipping."},
        {
            "type": "LIMITED_TIME_OFFER",
            "limited_time_offer": {"text": "Offer ends soon", "has_expiration": True},
        },
        {
            "type": "BUTTONS",
            "buttons": [
                {
                    "type": "COPY_CODE",
                    "text": "Copy offer code",
                    "example": ["VIP2025"],
                },
                {
                    "type": "FLOW",
                    "text": "Sign up",
                    "flow_id": "1409856726541234",
                    "flow_action": "navigate",
                    "navigate_screen": "WELCOME_SCREEN",
                },
                {"type": "PHONE_NUMBER", "text": "Call us", "phone_number": "+4930123456"},
            ],
        },
    ],
    "language": "de",
    "status": "REJECTED",
    "rejected_reason": "INVALID_FORMAT",
    "category": "MARKETING",
    "correct_category": "MARKETING",
    "id": "1187334412275573",
}

TEMPLATES: tuple[dict[str, Any], ...] = (
    NAMED_TEMPLATE,
    CAROUSEL_TEMPLATE,
    AUTH_TEMPLATE,
    FLOW_TEMPLATE,
)

# --- template analytics: Meta's shape ---------------------------------------------------------


def meta_point(
    template_id: str, start: int, sent: int, url_clicks: int, spent: float
) -> dict[str, Any]:
    """A data point as Meta returns it (cost per delivered and per click omitted when 0)."""
    delivered = sent * 95 // 100
    cost: list[dict[str, Any]] = [{"type": "amount_spent", "value": spent}]
    if spent and delivered:
        cost.append({"type": "cost_per_delivered", "value": round(spent / delivered, 4)})
    else:
        cost.append({"type": "cost_per_delivered"})
    if url_clicks:
        cost.append({"type": "cost_per_url_button_click", "value": round(spent / url_clicks, 4)})
    else:
        cost.append({"type": "cost_per_url_button_click"})
    return {
        "template_id": template_id,
        "start": start,
        "end": start + DAY,
        "sent": sent,
        "delivered": delivered,
        "read": sent * 70 // 100,
        "clicked": [
            {"type": "unique_url_button", "button_content": "Redeem", "count": url_clicks},
            {"type": "quick_reply_button", "button_content": "Not now", "count": 2},
        ]
        if sent
        else [],
        "cost": cost,
    }


ANALYTICS_META: dict[str, Any] = {
    "data": [
        {
            "granularity": "DAILY",
            "product_type": "MARKETING_MESSAGES_LITE_API",
            "data_points": [
                meta_point("1187334412275570", D1, 1200, 87, 30.75),
                meta_point("1187334412275570", D2, 800, 13, 20.5),
                meta_point("1187334412275571", D1, 0, 0, 0),
                meta_point("1187334412275571", D2, 100, 5, 2.55),
            ],
        }
    ],
    "paging": {"cursors": {"before": "MAZDZD", "after": "MjQZD"}},
}

#: The same numbers through Graph field expansion (``?fields=template_analytics...``).
ANALYTICS_EXPANDED: dict[str, Any] = {
    "id": "102290129340398",
    "template_analytics": {
        "data": ANALYTICS_META["data"],
        "paging": ANALYTICS_META["paging"],
    },
}


def spec_shape(meta: dict[str, Any], waba_id: str = "102290129340398") -> dict[str, Any]:
    """The spec's shape of the same numbers: per template, per metric, {start, end, value}."""
    by_template: dict[str, dict[str, list[dict[str, int]]]] = {}
    for entry in meta["data"]:
        for point in entry["data_points"]:
            metrics = by_template.setdefault(point["template_id"], {})
            span = {"start": point["start"], "end": point["end"]}
            for metric in ("sent", "delivered", "read"):
                metrics.setdefault(metric.upper(), []).append({**span, "value": point[metric]})
            clicks = sum(c["count"] for c in point.get("clicked", []))
            metrics.setdefault("CLICKED", []).append({**span, "value": clicks})
            spent = next(c.get("value", 0) for c in point["cost"] if c["type"] == "amount_spent")
            metrics.setdefault("COST", []).append({**span, "value": spent})
    return {
        "id": waba_id,
        "template_analytics": [
            {
                "template_id": template_id,
                "analytics": [
                    {"metric_type": metric, "granularity": "DAILY", "data_points": points}
                    for metric, points in metrics.items()
                ],
            }
            for template_id, metrics in by_template.items()
        ],
    }


# --- ads insights -----------------------------------------------------------------------------

INSIGHTS_AD_ROW: dict[str, Any] = {
    "account_id": "1029384756102938",
    "account_name": "Shop Example GmbH",
    "account_currency": "EUR",
    "campaign_id": "120210000000001",
    "campaign_name": "Autumn sale - WhatsApp",
    "adset_id": "120210000000101",
    "adset_name": "DE 25-44",
    "ad_id": "120210000001001",
    "ad_name": "Carousel A",
    "objective": "OUTCOME_SALES",
    "optimization_goal": "OFFSITE_CONVERSIONS",
    "buying_type": "AUCTION",
    "attribution_setting": "7d_click_1d_view",
    "impressions": "18211",
    "reach": "15020",
    "frequency": "1.212450",
    "clicks": "412",
    "unique_clicks": "371",
    "inline_link_clicks": "398",
    "spend": "152.33",
    "cpc": "0.369733",
    "cpm": "8.364725",
    "cpp": "10.141811",
    "ctr": "2.262369",
    "unique_ctr": "2.470040",
    "cost_per_unique_click": "0.410593",
    "cost_per_inline_link_click": "0.382739",
    "actions": [
        {"action_type": "link_click", "value": "398", "1d_click": "300", "7d_click": "398"},
        {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "17", "1d_view": "4"},
        {"action_type": "omni_purchase", "value": "17"},
    ],
    "action_values": [
        {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "1519.83"},
        {"action_type": "omni_purchase", "value": "1519.83", "7d_click": "1402.10"},
    ],
    "cost_per_action_type": [
        {"action_type": "link_click", "value": "0.382739"},
        {"action_type": "omni_purchase", "value": "8.960588"},
    ],
    "purchase_roas": [{"action_type": "omni_purchase", "value": "9.977221"}],
    "marketing_messages_sent": "20000",
    "marketing_messages_delivered": "19120",
    "marketing_messages_read": "13012",
    "marketing_messages_link_btn_click": "1410",
    "marketing_messages_delivery_rate": "95.6",
    "marketing_messages_read_rate": "68.054393",
    "marketing_messages_link_btn_click_rate": "10.836151",
    "marketing_messages_spend": "98.15",
    "marketing_messages_cost_per_delivered": "0.005133",
    "marketing_messages_cost_per_link_btn_click": "0.069610",
    "age": "25-34",
    "gender": "female",
    "marketing_messages_btn_name": "Shop now",
    "date_start": "2025-11-01",
    "date_stop": "2025-11-24",
    "a_metric_meta_adds_tomorrow": "42",
}

INSIGHTS_PAGE: dict[str, Any] = {
    "data": [INSIGHTS_AD_ROW],
    "paging": {"cursors": {"before": "MAZDZD", "after": "MAZDZD"}},
}
