"""Query-parameter encoding by the Graph API's conventions, and input checks before sending."""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, TypeAlias
from urllib.parse import quote

from ._errors import ValidationError
from ._models_analytics import MetricType

__all__ = [
    "ATTRIBUTION_WINDOWS",
    "DATE_PRESETS",
    "FILTER_OPERATORS",
    "LEVELS",
    "Fields",
    "check_choice",
    "compact_json",
    "encode_attribution_windows",
    "encode_fields",
    "encode_filtering",
    "encode_list",
    "encode_time_range",
    "path_id",
    "unix_seconds",
]

#: A ``fields`` value: a Graph string, or names, lists and ``{name: subfields}`` mappings.
Fields: TypeAlias = str | Sequence[Any] | Mapping[str, Any]

DATE_PRESETS = frozenset(
    {
        "today",
        "yesterday",
        "this_month",
        "last_month",
        "this_quarter",
        "maximum",
        "data_maximum",
        "last_3d",
        "last_7d",
        "last_14d",
        "last_28d",
        "last_30d",
        "last_90d",
        "last_week_mon_sun",
        "last_week_sun_sat",
        "last_quarter",
        "last_year",
        "this_week_mon_today",
        "this_week_sun_today",
        "this_year",
    }
)
LEVELS = frozenset({"account", "campaign", "adset", "ad"})
ATTRIBUTION_WINDOWS = frozenset(
    {
        "1d_view",
        "7d_view",
        "28d_view",
        "1d_click",
        "7d_click",
        "28d_click",
        "1d_ev",
        "dda",
        "default",
        "skan_view",
        "skan_click",
    }
)
FILTER_OPERATORS = frozenset(
    {
        "EQUAL",
        "NOT_EQUAL",
        "GREATER_THAN",
        "GREATER_THAN_OR_EQUAL",
        "LESS_THAN",
        "LESS_THAN_OR_EQUAL",
        "IN_RANGE",
        "NOT_IN_RANGE",
        "CONTAIN",
        "NOT_CONTAIN",
        "IN",
        "NOT_IN",
        "STARTS_WITH",
        "ENDS_WITH",
        "ANY",
        "ALL",
        "AFTER",
        "BEFORE",
        "ON_OR_AFTER",
        "ON_OR_BEFORE",
        "NONE",
        "TOP",
    }
)

_FIELD_NAME = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z_]+\([^(){}]*\))*$")
TEMPLATE_FILTERS = frozenset(
    {"name", "status", "category", "language", "content", "name_or_content", "quality_score"}
)
_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def nonempty(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(name, "is required and must be a non-empty string")
    return value


def path_id(name: str, value: str | int) -> str:
    """A path segment from an id: non-empty, URL-escaped (``/`` included)."""
    text = str(value).strip() if isinstance(value, (str, int)) else ""
    if isinstance(value, bool) or not text:
        raise ValidationError(name, "must be a non-empty id")
    return quote(text, safe="")


def _check_balanced(name: str, text: str) -> None:
    depth = 0
    for char in text:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                raise ValidationError(name, "unbalanced braces: '}' without '{'")
    if depth:
        raise ValidationError(name, "unbalanced braces: '{' not closed")


def _render_fields(name: str, value: Any) -> str:
    if isinstance(value, str):
        text = value.strip()
        if not _FIELD_NAME.match(text):
            raise ValidationError(name, f"not a field name: {text!r}")
        return text
    if isinstance(value, Mapping):
        parts = []
        for key, sub in value.items():
            head = _render_fields(name, key)
            inner = _render_fields(name, sub) if sub not in (None, True) else ""
            parts.append(f"{head}{{{inner}}}" if inner else head)
        return ",".join(parts)
    if isinstance(value, Iterable):
        rendered = [_render_fields(name, item) for item in value]
        return ",".join(r for r in rendered if r)
    raise ValidationError(name, f"unsupported value of type {type(value).__name__}")


def encode_fields(value: Fields, *, name: str = "fields") -> str:
    """Render ``fields`` in Graph field-expansion syntax.

    Args:
        value: A string (checked for balanced braces and sent as is), or a structure of
            names, lists and ``{name: subfields}`` mappings.
        name: The parameter name used in errors.

    Returns:
        The query value.

    Raises:
        ValidationError: Unbalanced braces, an empty value, or something that is not a name.

    Example:
        >>> encode_fields({"web": ["event_name", {"event_match_quality": ["composite_score"]}]})
        'web{event_name,event_match_quality{composite_score}}'
    """
    if isinstance(value, str):
        text = value.strip()
        _check_balanced(name, text)
    else:
        text = _render_fields(name, value)
    if not text:
        raise ValidationError(name, "must not be empty")
    return text


def _day(name: str, value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise ValidationError(name, "must be a date or a 'YYYY-MM-DD' string")


def encode_time_range(value: Mapping[str, Any] | Sequence[Any]) -> str:
    """``{"since": ..., "until": ...}`` or a ``(since, until)`` pair as Graph JSON.

    Example:
        >>> encode_time_range((date(2026, 1, 1), date(2026, 1, 31)))
        '{"since":"2026-01-01","until":"2026-01-31"}'
    """
    if isinstance(value, Mapping):
        extra = set(value) - {"since", "until"}
        if extra or len(value) != 2:
            raise ValidationError("time_range", "needs exactly the keys 'since' and 'until'")
        since, until = value["since"], value["until"]
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        since, until = value
    else:
        raise ValidationError("time_range", "must be a {since, until} mapping or a pair of dates")
    since_s, until_s = _day("time_range.since", since), _day("time_range.until", until)
    if since_s > until_s:
        raise ValidationError("time_range", "since is after until")
    return _compact({"since": since_s, "until": until_s})


def encode_filtering(value: Sequence[Mapping[str, Any]]) -> str:
    """A list of ``{field, operator, value}`` filters as a JSON array.

    Example:
        >>> encode_filtering([{"field": "spend", "operator": "GREATER_THAN", "value": 0}])
        '[{"field":"spend","operator":"GREATER_THAN","value":0}]'
    """
    if isinstance(value, (str, Mapping)) or not isinstance(value, Sequence):
        raise ValidationError("filtering", "must be a list of {field, operator, value} objects")
    out = []
    for i, item in enumerate(value):
        where = f"filtering[{i}]"
        if not isinstance(item, Mapping) or not {"field", "operator"} <= set(item):
            raise ValidationError(where, "needs 'field', 'operator' and 'value'")
        operator = str(item["operator"]).upper()
        if operator not in FILTER_OPERATORS:
            raise ValidationError(f"{where}.operator", f"unknown operator {operator!r}")
        if "value" not in item and operator != "NONE":
            raise ValidationError(f"{where}.value", "is required")
        out.append({**item, "operator": operator})
    return _compact(out)


def encode_attribution_windows(value: str | Sequence[str]) -> str:
    """Attribution windows, validated, as a JSON array.

    Example:
        >>> encode_attribution_windows(["1d_click", "7d_view"])
        '["1d_click","7d_view"]'
    """
    windows = [value] if isinstance(value, str) else list(value)
    for i, window in enumerate(windows):
        if window not in ATTRIBUTION_WINDOWS and not str(window).startswith("skan_"):
            raise ValidationError(
                f"action_attribution_windows[{i}]", f"unknown attribution window {window!r}"
            )
    if not windows:
        raise ValidationError("action_attribution_windows", "must not be empty")
    return _compact(windows)


def encode_list(name: str, value: str | Sequence[str]) -> str:
    """A list parameter as Graph's comma-separated form (``age,gender``)."""
    items = [value] if isinstance(value, str) else list(value)
    items = [str(i).strip() for i in items]
    if not items or not all(items):
        raise ValidationError(name, "must be a non-empty name or list of names")
    return ",".join(items)


def check_choice(name: str, value: str, choices: frozenset[str]) -> str:
    """``value`` if it is one of ``choices``, else a ValidationError naming the field."""
    if value not in choices:
        raise ValidationError(name, f"unknown value {value!r}; expected one of {sorted(choices)}")
    return value


def unix_seconds(name: str, value: datetime | date | int) -> int:
    """Unix seconds from a timezone-aware ``datetime``, a ``date`` (UTC midnight) or an int."""
    if isinstance(value, bool):
        raise ValidationError(name, "must be a datetime, a date or Unix seconds")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValidationError(name, "datetime must be timezone-aware")
        return int(value.timestamp())
    if isinstance(value, date):
        return calendar.timegm(value.timetuple())
    if isinstance(value, int):
        if value < 0:
            raise ValidationError(name, "must not be negative")
        return value
    raise ValidationError(name, "must be a datetime, a date or Unix seconds")


def compact_json(value: Any) -> str:
    """Compact JSON, as Graph wants it in query strings."""
    return _compact(value)


def positive_int(name: str, value: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(name, "must be a positive integer")
    return str(value)


def template_params(limit: int | None, filters: Mapping[str, str]) -> dict[str, str]:
    params: dict[str, str] = {}
    if limit is not None:
        params["limit"] = positive_int("limit", limit)
    for key, value in filters.items():
        if key not in TEMPLATE_FILTERS:
            raise ValidationError(
                key, f"unknown filter; expected one of {sorted(TEMPLATE_FILTERS)}"
            )
        params[key] = nonempty(key, value)
    return params


def clean_template_ids(template_ids: Sequence[str]) -> list[str]:
    if isinstance(template_ids, str):
        template_ids = [template_ids]
    ids = list(dict.fromkeys(nonempty("template_ids", t) for t in template_ids))
    if not ids:
        raise ValidationError("template_ids", "must contain at least one template id")
    return ids


def analytics_params(
    start: datetime | date | int,
    end: datetime | date | int,
    metric_types: Sequence[MetricType | str] | None,
    granularity: str,
    product_type: str | None,
) -> dict[str, str]:
    start_s, end_s = unix_seconds("start", start), unix_seconds("end", end)
    if start_s >= end_s:
        raise ValidationError("end", "must be after start")
    params = {
        "start": str(start_s),
        "end": str(end_s),
        "granularity": check_choice("granularity", granularity, frozenset({"DAILY"})),
    }
    if metric_types is not None:
        known = frozenset(m.value for m in MetricType)
        values = [check_choice("metric_types", str(m), known) for m in metric_types]
        if not values:
            raise ValidationError("metric_types", "must not be empty (None means all)")
        params["metric_types"] = compact_json(values)
    if product_type is not None:
        params["product_type"] = nonempty("product_type", product_type)
    return params


def insights_params(
    *,
    fields: Fields | None = None,
    date_preset: str | None = None,
    time_range: Mapping[str, Any] | Sequence[date | str] | None = None,
    level: str | None = None,
    filtering: Sequence[Mapping[str, Any]] | None = None,
    sort: str | Sequence[str] | None = None,
    breakdowns: str | Sequence[str] | None = None,
    action_breakdowns: str | Sequence[str] | None = None,
    action_attribution_windows: str | Sequence[str] | None = None,
    use_unified_attribution_setting: bool | None = None,
    limit: int | None = None,
) -> dict[str, str]:
    params: dict[str, str] = {}
    if fields is not None:
        params["fields"] = encode_fields(fields)
    if date_preset is not None:
        params["date_preset"] = check_choice("date_preset", date_preset, DATE_PRESETS)
    if time_range is not None:
        params["time_range"] = encode_time_range(time_range)
    if level is not None:
        params["level"] = check_choice("level", level, LEVELS)
    if filtering is not None:
        params["filtering"] = encode_filtering(filtering)
    if sort is not None:
        params["sort"] = encode_list("sort", sort)
    if breakdowns is not None:
        params["breakdowns"] = encode_list("breakdowns", breakdowns)
    if action_breakdowns is not None:
        params["action_breakdowns"] = encode_list("action_breakdowns", action_breakdowns)
    if action_attribution_windows is not None:
        params["action_attribution_windows"] = encode_attribution_windows(
            action_attribution_windows
        )
    if use_unified_attribution_setting is not None:
        params["use_unified_attribution_setting"] = (
            "true" if use_unified_attribution_setting else "false"
        )
    if limit is not None:
        params["limit"] = positive_int("limit", limit)
    return params
