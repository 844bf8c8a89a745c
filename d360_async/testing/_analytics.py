"""``GET``/``POST /marketing/template_analytics``.

Numbers are derived from the sends the emulator accepted, per template and UTC day:
``SENT`` = accepted sends, ``DELIVERED`` = 90 %, ``READ`` = 60 %, ``CLICKED`` = 10 % of SENT
(rounded down; 0 for a template without URL or quick-reply buttons, all on its first such
button). MM Lite sends are only counted when ``product_type=MARKETING_MESSAGES_LITE_API`` is
given, as on the live service.

Three answer shapes (``analytics_shape``): ``spec`` (the spec's ``{id, template_analytics:
[{template_id, analytics: [{metric_type, granularity, data_points: [{start, end, value}]}]}]}``,
``COST`` = 25 per sent message, an integer as the spec types it), ``meta`` (Meta's ``{data:
[{granularity, product_type, data_points: [{template_id, start, end, sent, delivered, read,
clicked: [...], cost: [...]}]}], paging}``, ``amount_spent`` = 0.025 per sent message) and
``expanded`` (Graph field expansion: ``{id, template_analytics: {data: [...], paging}}``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from aiohttp import web

from ._params import InvalidParam, parse_list
from ._responses import json_response
from ._state import State

DAY = 86_400
MAX_TEMPLATE_IDS = 10
MAX_DAYS = 90
METRIC_TYPES = ("SENT", "DELIVERED", "READ", "CLICKED", "COST")
MM_LITE = "MARKETING_MESSAGES_LITE_API"
PRODUCT_TYPES = frozenset({MM_LITE, "CLOUD_API"})


def _unix(raw: str | None, field: str) -> int:
    if raw is None:
        raise InvalidParam(f"{field} is required (Unix seconds)")
    try:
        return int(raw)
    except ValueError:
        raise InvalidParam(f"{field} must be Unix seconds, got {raw!r}") from None


#: Meta's click types of the buttons that count clicks.
_CLICKABLE = {"URL": "url_button", "QUICK_REPLY": "quick_reply_button"}
_PAGING = {"cursors": {"before": "MAZDZD", "after": "MjQZD"}}


def _buttons(state: State, template_id: str) -> list[tuple[str, str]]:
    """(click type, text) of the template's URL and quick-reply buttons."""
    template = state.templates.by_id.get(template_id)
    buttons = []
    for component in template.components if template is not None else ():
        for button in component.get("buttons", ()):
            kind = _CLICKABLE.get(button.get("type"))
            if kind is not None:
                buttons.append((kind, str(button.get("text", ""))))
    return buttons


def _numbers(sent: int, clickable: bool) -> dict[str, int]:
    return {
        "SENT": sent,
        "DELIVERED": sent * 9 // 10,
        "READ": sent * 6 // 10,
        "CLICKED": sent // 10 if clickable else 0,
        "COST": sent * 25,
    }


def _costs(numbers: dict[str, int]) -> list[dict[str, Any]]:
    spent = round(numbers["SENT"] * 25 / 1000, 4)
    costs: list[dict[str, Any]] = [{"type": "amount_spent", "value": spent}]
    for kind, count in (
        ("cost_per_delivered", numbers["DELIVERED"]),
        ("cost_per_url_button_click", numbers["CLICKED"]),
    ):
        costs.append({"type": kind, "value": round(spent / count, 4)} if count else {"type": kind})
    return costs


def _meta_point(
    template_id: str,
    day: int,
    numbers: dict[str, int],
    metrics: list[str],
    buttons: list[tuple[str, str]],
) -> dict[str, Any]:
    point: dict[str, Any] = {"template_id": template_id, "start": day, "end": day + DAY}
    for metric in ("SENT", "DELIVERED", "READ"):
        if metric in metrics:
            point[metric.lower()] = numbers[metric]
    if "CLICKED" in metrics:
        point["clicked"] = [
            {"type": kind, "button_content": text, "count": numbers["CLICKED"] if i == 0 else 0}
            for i, (kind, text) in enumerate(buttons)
        ]
    if "COST" in metrics:
        point["cost"] = _costs(numbers)
    return point


def _parse(query: dict[str, str]) -> tuple[int, int, list[str], list[str], bool]:
    start = _unix(query.get("start"), "start")
    end = _unix(query.get("end"), "end")
    if end <= start:
        raise InvalidParam("end must be after start")
    granularity = query.get("granularity", "DAILY")
    if granularity != "DAILY":
        raise InvalidParam(f"granularity must be DAILY, got {granularity!r}")
    template_ids = parse_list(query.get("template_ids"), "template_ids")
    if not template_ids:
        raise InvalidParam("template_ids is required")
    if len(template_ids) > MAX_TEMPLATE_IDS:
        raise InvalidParam(
            f"template_ids has {len(template_ids)} ids; at most {MAX_TEMPLATE_IDS} are allowed"
        )
    metrics = parse_list(query.get("metric_types"), "metric_types") or list(METRIC_TYPES)
    for metric in metrics:
        if metric not in METRIC_TYPES:
            raise InvalidParam(f"metric_types: unknown metric {metric!r}")
    product_type = query.get("product_type")
    if product_type is not None and product_type not in PRODUCT_TYPES:
        raise InvalidParam(f"product_type must be one of {sorted(PRODUCT_TYPES)}")
    return start, end, template_ids, metrics, product_type == MM_LITE


async def get_template_analytics(state: State, request: web.Request, api_key: str) -> web.Response:
    """Daily data points per requested template and metric."""
    if not state.analytics_enabled:
        return state.errors.invalid(
            "Enable with POST /marketing/template_analytics?enable=true",
            "(#100) Template analytics are not enabled for this WhatsApp Business Account",
        )
    try:
        start, end, template_ids, metrics, mm_lite = _parse(dict(request.query))
    except InvalidParam as exc:
        return state.errors.invalid(str(exc))
    first_day = start - start % DAY
    last_day = end + (-end % DAY)
    days = (last_day - first_day) // DAY
    if days > MAX_DAYS:
        return state.errors.invalid(f"the range spans {days} days; at most {MAX_DAYS} allowed")
    sent: Counter[tuple[str, int]] = Counter()
    if mm_lite:
        wanted = set(template_ids)
        for message in state.sent:
            if message.template_id in wanted:
                day = int(message.timestamp) - int(message.timestamp) % DAY
                sent[(message.template_id, day)] += 1
    shape = state.config.analytics_shape
    result: list[dict[str, Any]] = []
    data_points: list[dict[str, Any]] = []
    for template_id in template_ids:
        buttons = _buttons(state, template_id)
        per_day = {
            day: _numbers(sent[(template_id, day)], bool(buttons))
            for day in range(first_day, last_day, DAY)
        }
        if shape != "spec":
            data_points.extend(
                _meta_point(template_id, day, numbers, metrics, buttons)
                for day, numbers in per_day.items()
            )
            continue
        analytics = [
            {
                "metric_type": metric,
                "granularity": "DAILY",
                "data_points": [
                    {"start": day, "end": day + DAY, "value": numbers[metric]}
                    for day, numbers in per_day.items()
                ],
            }
            for metric in metrics
        ]
        result.append({"template_id": template_id, "analytics": analytics})
    if shape == "spec":
        return json_response({"id": state.config.waba_id, "template_analytics": result})
    entry = {
        "granularity": "DAILY",
        "product_type": request.query.get("product_type", "CLOUD_API"),
        "data_points": data_points,
    }
    if shape == "meta":
        return json_response({"data": [entry], "paging": _PAGING})
    expanded = {"data": [entry], "paging": _PAGING}
    return json_response({"id": state.config.waba_id, "template_analytics": expanded})


async def enable_template_analytics(
    state: State, request: web.Request, api_key: str
) -> web.Response:
    """Turn analytics on (one way); requires ``?enable=true``."""
    if request.query.get("enable") != "true":
        return state.errors.invalid(
            "enable=true is required", "(#100) The parameter enable must be true"
        )
    state.analytics_enabled = True
    return json_response({"success": True})
