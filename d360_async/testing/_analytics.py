"""``GET``/``POST /marketing/template_analytics``.

Numbers are derived from the sends the emulator accepted, per template and UTC day:
``SENT`` = accepted sends, ``DELIVERED`` = 90 %, ``READ`` = 60 %, ``CLICKED`` = 10 % of SENT
(rounded down) and ``COST`` = 25 per sent message. MM Lite sends are only counted when
``product_type=MARKETING_MESSAGES_LITE_API`` is given, as on the live service.
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


def _derive(metric: str, sent: int) -> int:
    if metric == "SENT":
        return sent
    if metric == "DELIVERED":
        return sent * 9 // 10
    if metric == "READ":
        return sent * 6 // 10
    if metric == "CLICKED":
        return sent // 10
    return sent * 25


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
    result: list[dict[str, Any]] = []
    for template_id in template_ids:
        analytics = []
        for metric in metrics:
            points = [
                {
                    "start": day,
                    "end": day + DAY,
                    "value": _derive(metric, sent[(template_id, day)]),
                }
                for day in range(first_day, last_day, DAY)
            ]
            analytics.append({"metric_type": metric, "granularity": "DAILY", "data_points": points})
        result.append({"template_id": template_id, "analytics": analytics})
    return json_response({"id": state.config.waba_id, "template_analytics": result})


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
