"""``GET /marketing/{ad_object_id}/insights``: deterministic, paged Ads Insights rows.

Rows: one per object at ``level`` (account 1, campaign 3, adset 6, ad 12; the object itself
when no level is given), times the cross product of ``breakdowns`` values. Metric values are
a hash of (object, row, date range), formatted as strings like Meta's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ._paging import CursorError, page, parse_limit
from ._params import InvalidParam, parse_list
from ._responses import json_response
from ._state import State

LEVELS = {"account": 1, "campaign": 3, "adset": 6, "ad": 12}
BREAKDOWNS: dict[str, tuple[str, ...]] = {
    "age": ("18-24", "25-34", "35-44", "45-54", "55-64", "65+"),
    "gender": ("female", "male", "unknown"),
    "country": ("BR", "DE", "IN", "US"),
    "publisher_platform": ("facebook", "instagram", "whatsapp"),
    "marketing_messages_btn_name": ("Shop now", "Not interested", "Browse"),
}
COMMON_FIELDS = (
    "impressions",
    "reach",
    "frequency",
    "clicks",
    "unique_clicks",
    "spend",
    "cpc",
    "cpm",
    "ctr",
    "cost_per_unique_click",
    "actions",
    "cost_per_action_type",
)
MM_FIELDS = (
    "marketing_messages_sent",
    "marketing_messages_delivered",
    "marketing_messages_read",
    "marketing_messages_link_btn_click",
    "marketing_messages_delivery_rate",
    "marketing_messages_read_rate",
    "marketing_messages_link_btn_click_rate",
    "marketing_messages_spend",
    "marketing_messages_cost_per_delivered",
    "marketing_messages_cost_per_link_btn_click",
)
ID_FIELDS = ("account_id", "campaign_id", "adset_id", "ad_id")
KNOWN_FIELDS = frozenset({*COMMON_FIELDS, *MM_FIELDS, *ID_FIELDS, "date_start", "date_stop"})
OPERATORS = frozenset(
    {
        *("EQUAL", "NOT_EQUAL", "GREATER_THAN", "GREATER_THAN_OR_EQUAL", "LESS_THAN"),
        *("LESS_THAN_OR_EQUAL", "IN_RANGE", "NOT_IN_RANGE", "CONTAIN", "NOT_CONTAIN", "IN"),
        *("NOT_IN", "STARTS_WITH", "ENDS_WITH", "ANY", "ALL", "AFTER", "BEFORE", "ON_OR_AFTER"),
        *("ON_OR_BEFORE", "NONE", "TOP"),
    }
)
WINDOWS = frozenset(
    {
        *("1d_view", "7d_view", "28d_view", "1d_click", "7d_click", "28d_click", "1d_ev"),
        *("dda", "default", "skan_view", "skan_click"),
    }
)
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "EQUAL": lambda a, b: a == b,
    "NOT_EQUAL": lambda a, b: a != b,
    "GREATER_THAN": lambda a, b: a > b,
    "GREATER_THAN_OR_EQUAL": lambda a, b: a >= b,
    "LESS_THAN": lambda a, b: a < b,
    "LESS_THAN_OR_EQUAL": lambda a, b: a <= b,
    "IN": lambda a, b: a in b,
    "NOT_IN": lambda a, b: a not in b,
    "CONTAIN": lambda a, b: str(b) in str(a),
    "NOT_CONTAIN": lambda a, b: str(b) not in str(a),
    "STARTS_WITH": lambda a, b: str(a).startswith(str(b)),
    "ENDS_WITH": lambda a, b: str(a).endswith(str(b)),
}


def preset_range(preset: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """The (since, until) dates of a ``date_preset``; raises ``ValueError`` when unknown."""
    day = dt.timedelta(days=1)
    monday = today - dt.timedelta(days=today.weekday())
    sunday = today - dt.timedelta(days=(today.weekday() + 1) % 7)
    quarter = dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    month = today.replace(day=1)
    fixed = {
        "today": (today, today),
        "yesterday": (today - day, today - day),
        "this_month": (month, today),
        "last_month": ((month - day).replace(day=1), month - day),
        "this_quarter": (quarter, today),
        "last_quarter": (_quarter_start(quarter - day), quarter - day),
        "this_year": (today.replace(month=1, day=1), today),
        "last_year": (dt.date(today.year - 1, 1, 1), dt.date(today.year - 1, 12, 31)),
        "this_week_mon_today": (monday, today),
        "this_week_sun_today": (sunday, today),
        "last_week_mon_sun": (monday - 7 * day, monday - day),
        "last_week_sun_sat": (sunday - 7 * day, sunday - day),
        "maximum": (today - dt.timedelta(days=37 * 30), today),
    }
    fixed["data_maximum"] = fixed["lifetime"] = fixed["maximum"]
    if preset in fixed:
        return fixed[preset]
    if preset.startswith("last_") and preset.endswith("d") and preset[5:-1].isdigit():
        days = int(preset[5:-1])
        if days in (3, 7, 14, 28, 30, 90):
            return today - dt.timedelta(days=days), today - day
    raise ValueError(f"unknown date_preset {preset!r}")


def _quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _date_range(query: dict[str, str], today: dt.date) -> tuple[dt.date, dt.date]:
    raw = query.get("time_range")
    if raw:
        try:
            value = json.loads(raw)
            since = dt.date.fromisoformat(value["since"])
            until = dt.date.fromisoformat(value["until"])
        except (ValueError, KeyError, TypeError):
            raise InvalidParam(
                'time_range must be JSON {"since": "YYYY-MM-DD", "until": "YYYY-MM-DD"}'
            ) from None
        if since > until:
            raise InvalidParam("time_range: since is after until")
        return since, until
    try:
        return preset_range(query.get("date_preset") or "last_30d", today)
    except ValueError as exc:
        raise InvalidParam(str(exc)) from None


def _fields(query: dict[str, str]) -> tuple[str, ...]:
    raw = query.get("fields")
    if not raw:
        return COMMON_FIELDS
    fields = tuple(dict.fromkeys(f.strip() for f in raw.split(",") if f.strip()))
    for field in fields:
        if field not in KNOWN_FIELDS:
            raise InvalidParam(f"{field} is not a valid insights field")
    return fields


def _filters(query: dict[str, str]) -> list[tuple[str, str, Any]]:
    raw = query.get("filtering")
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidParam("filtering must be a JSON array") from None
    if not isinstance(value, list):
        raise InvalidParam("filtering must be a JSON array")
    filters = []
    for item in value:
        if not isinstance(item, dict) or not {"field", "operator", "value"} <= item.keys():
            raise InvalidParam("filtering entries need field, operator and value")
        if item["operator"] not in OPERATORS:
            raise InvalidParam(f"filtering: unknown operator {item['operator']!r}")
        filters.append((str(item["field"]), str(item["operator"]), item["value"]))
    return filters


def _metrics(seed: bytes, windows: list[str]) -> dict[str, Any]:
    digest = hashlib.blake2b(seed, digest_size=32).digest()

    def roll(i: int, low: int, high: int) -> int:
        return low + int.from_bytes(digest[2 * i : 2 * i + 2], "big") % (high - low + 1)

    impressions = roll(0, 1_000, 60_000)
    reach = impressions * roll(1, 55, 90) // 100
    clicks = impressions * roll(2, 5, 50) // 1000
    unique = clicks * roll(3, 70, 95) // 100
    spend = impressions * roll(4, 200, 1200) / 100_000
    sent = roll(5, 500, 8_000)
    delivered = sent * roll(6, 85, 99) // 100
    read = delivered * roll(7, 40, 80) // 100
    link = read * roll(8, 3, 20) // 100
    mm_spend = sent * roll(9, 5, 30) / 1000

    def money(value: float) -> str:
        return f"{value:.2f}"

    def ratio(value: float) -> str:
        return f"{value:.6f}"

    def action(kind: str, value: int) -> dict[str, str]:
        entry = {"action_type": kind, "value": str(value)}
        for window in windows:
            share = 60 if "click" in window else 40
            entry[window] = str(value * share // 100)
        return entry

    def cost(kind: str, value: int) -> dict[str, str]:
        return {"action_type": kind, "value": ratio(spend / max(1, value))}

    conversations = clicks * roll(10, 20, 60) // 100
    return {
        "impressions": str(impressions),
        "reach": str(reach),
        "frequency": ratio(impressions / max(1, reach)),
        "clicks": str(clicks),
        "unique_clicks": str(unique),
        "spend": money(spend),
        "cpc": ratio(spend / max(1, clicks)),
        "cpm": ratio(spend * 1000 / impressions),
        "ctr": ratio(clicks * 100 / impressions),
        "cost_per_unique_click": ratio(spend / max(1, unique)),
        "actions": [
            action("link_click", clicks),
            action("onsite_conversion.messaging_conversation_started_7d", conversations),
        ],
        "cost_per_action_type": [
            cost("link_click", clicks),
            cost("onsite_conversion.messaging_conversation_started_7d", conversations),
        ],
        "marketing_messages_sent": str(sent),
        "marketing_messages_delivered": str(delivered),
        "marketing_messages_read": str(read),
        "marketing_messages_link_btn_click": str(link),
        "marketing_messages_delivery_rate": ratio(delivered * 100 / sent),
        "marketing_messages_read_rate": ratio(read * 100 / max(1, delivered)),
        "marketing_messages_link_btn_click_rate": ratio(link * 100 / max(1, read)),
        "marketing_messages_spend": money(mm_spend),
        "marketing_messages_cost_per_delivered": ratio(mm_spend / max(1, delivered)),
        "marketing_messages_cost_per_link_btn_click": ratio(mm_spend / max(1, link)),
    }


def _ids(object_id: str, level: str | None, index: int) -> dict[str, str]:
    account = object_id.removeprefix("act_")
    if level is None or level == "account":
        return {"account_id": account} if level else {}
    base = int(hashlib.blake2b(object_id.encode(), digest_size=4).hexdigest(), 16) % 10**8
    campaign = index * 3 // LEVELS[level]
    ids = {"account_id": account, "campaign_id": f"23850{base:08d}{campaign:02d}"}
    if level in ("adset", "ad"):
        ids["adset_id"] = f"23851{base:08d}{index * 6 // LEVELS[level]:02d}"
    if level == "ad":
        ids["ad_id"] = f"23852{base:08d}{index:02d}"
    return ids


def _sort_key(query: dict[str, str]) -> tuple[str, bool] | None:
    raw = parse_list(query.get("sort"), "sort")
    if not raw:
        return None
    field, _, direction = raw[0].rpartition("_")
    if direction not in ("ascending", "descending") or field not in KNOWN_FIELDS - {
        "actions",
        "cost_per_action_type",
    }:
        raise InvalidParam(f"sort: cannot sort by {raw[0]!r}")
    return field, direction == "descending"


def _number(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _build_rows(state: State, object_id: str, query: dict[str, str]) -> list[dict[str, Any]]:
    today = dt.datetime.fromtimestamp(state.wall_clock(), dt.UTC).date()
    since, until = _date_range(query, today)
    level = query.get("level") or None
    if level is not None and level not in LEVELS:
        raise InvalidParam(f"level must be one of {', '.join(LEVELS)}")
    fields = _fields(query)
    breakdowns = [b.strip() for b in (query.get("breakdowns") or "").split(",") if b.strip()]
    for name in breakdowns:
        if name not in BREAKDOWNS:
            raise InvalidParam(f"breakdowns: unsupported breakdown {name!r}")
    windows = parse_list(query.get("action_attribution_windows"), "action_attribution_windows")
    for window in windows:
        if window not in WINDOWS:
            raise InvalidParam(f"action_attribution_windows: unknown window {window!r}")
    unified = query.get("use_unified_attribution_setting")
    if unified is not None and unified not in ("true", "false"):
        raise InvalidParam("use_unified_attribution_setting must be true or false")
    filters = _filters(query)
    sort = _sort_key(query)
    rows = []
    objects = LEVELS[level] if level else 1
    for index in range(objects):
        ids = _ids(object_id, level, index)
        for combo in itertools.product(*(BREAKDOWNS[name] for name in breakdowns)):
            split = dict(zip(breakdowns, combo, strict=True))
            seed = f"{object_id}|{sorted(ids.items())}|{sorted(split.items())}|{since}|{until}"
            metrics = _metrics(seed.encode(), windows)
            row: dict[str, Any] = {name: metrics[name] for name in fields if name in metrics}
            row.update(ids)
            row.update(split)
            row["date_start"], row["date_stop"] = since.isoformat(), until.isoformat()
            if all(_keep(row, metrics, flt) for flt in filters):
                rows.append(row)
    if sort is not None:
        field, reverse = sort
        rows.sort(key=lambda r: _number(r.get(field, 0)), reverse=reverse)
    return rows


def _keep(row: dict[str, Any], metrics: dict[str, Any], flt: tuple[str, str, Any]) -> bool:
    field, operator, expected = flt
    compare = _COMPARE.get(operator)
    actual = row.get(field, metrics.get(field))
    if compare is None or actual is None:
        return True
    try:
        if isinstance(expected, list):
            return compare(_number(actual), [_number(e) for e in expected])
        return compare(_number(actual), _number(expected))
    except TypeError:
        return compare(str(actual), str(expected))


async def get_insights(state: State, request: web.Request, api_key: str) -> web.Response:
    """Deterministic insights rows, paged with ``limit``/``after``/``before``."""
    query = dict(request.query)
    try:
        limit = parse_limit(query.get("limit"))
        rows = _build_rows(state, request.match_info["ad_object_id"], query)
        chunk, paging = page(
            rows,
            list(range(len(rows))),
            request.url,
            limit=limit,
            after=query.get("after"),
            before=query.get("before"),
        )
    except (InvalidParam, CursorError) as exc:
        return state.errors.invalid(str(exc))
    return json_response({"data": chunk, "paging": paging})
