"""Query-parameter encoding by the Graph API's conventions, and input checks before sending."""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, TypeAlias
from urllib.parse import quote

from ._errors import ValidationError
from ._models_insights import MetricType

__all__ = [
    "ATTRIBUTION_WINDOWS",
    "DATE_PRESETS",
    "FILTER_OPERATORS",
    "LEVELS",
    "Fields",
    "check_choice",
    "compact_json",
    "count_placeholders",
    "encode_attribution_windows",
    "encode_fields",
    "encode_filtering",
    "encode_list",
    "encode_time_range",
    "flag",
    "insights_options",
    "nonempty",
    "optional_text",
    "path_id",
    "seconds",
    "shown",
    "streamed",
    "unix_seconds",
    "whole",
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

_MAX_UNIX = 253402300799  # 9999-12-31T23:59:59Z
_FIELD_NAME = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z_]+\([^(){}]*\))*$")
_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")
TEMPLATE_FILTERS = frozenset(
    {"name", "status", "category", "language", "content", "name_or_content", "quality_score"}
)
_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
#: Largest count (``limit``, sizes) a parameter may hold.
MAX_COUNT = 2**31 - 1
_SHOWN = 60


def shown(value: Any) -> str:
    """``repr(value)`` cut to a readable length, for error messages."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def nonempty(name: str, value: Any) -> str:
    """``value`` if it is a non-empty string that can be sent (valid UTF-8).

    Example:
        >>> nonempty("name", "promo")
        'promo'
    """
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(name, "is required and must be a non-empty string")
    if not _encodable(value):
        raise ValidationError(name, "is not valid Unicode text (a lone surrogate)")
    return value


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def optional_text(name: str, value: Any) -> str | None:
    """None, or ``value`` checked by :func:`nonempty`."""
    return None if value is None else nonempty(name, value)


def flag(name: str, value: Any) -> bool:
    """``value`` if it is True or False."""
    if not isinstance(value, bool):
        raise ValidationError(name, "must be True or False")
    return value


def whole(name: str, value: Any, *, minimum: int = 0) -> int:
    """``value`` if it is an int (not a bool) from ``minimum`` to ``MAX_COUNT``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(name, f"must be a whole number, got {type(value).__name__}")
    if not minimum <= value <= MAX_COUNT:
        raise ValidationError(name, f"must be from {minimum} to {MAX_COUNT}")
    return value


def seconds(name: str, value: Any) -> float:
    """``value`` if it is a finite, non-negative number of seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(name, f"must be a number of seconds, got {type(value).__name__}")
    if not 0 <= value < float("inf"):
        raise ValidationError(name, "must be a finite, non-negative number of seconds")
    return float(value)


def streamed(name: str, value: Any) -> None:
    """Raise unless ``value`` is an iterable or async iterable of items (not text or a
    mapping, which would be iterated by character or by key)."""
    if isinstance(value, (str, bytes, bytearray, Mapping)) or not isinstance(
        value, (Iterable, AsyncIterable)
    ):
        raise ValidationError(name, "must be an iterable or async iterable")


def path_id(name: str, value: str | int) -> str:
    """A path segment from an id: non-empty, URL-escaped (``/`` included)."""
    text = str(value).strip() if isinstance(value, (str, int)) and value != "" else ""
    if isinstance(value, bool) or not text:
        raise ValidationError(name, "must be a non-empty id")
    if isinstance(value, str):
        nonempty(name, value)
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
            raise ValidationError(name, f"not a field name: {shown(text)}")
        return text
    if isinstance(value, Mapping):
        parts = []
        for key, sub in value.items():
            head = _render_fields(name, key)
            inner = "" if sub is None or sub is True else _render_fields(name, sub)
            parts.append(f"{head}{{{inner}}}" if inner else head)
        return ",".join(parts)
    if isinstance(value, Iterable) and not isinstance(value, (bytes, bytearray)):
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
        text = nonempty(name, value).strip()
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
        except (ValueError, UnicodeError):
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
    elif isinstance(value, (list, tuple)) and len(value) == 2:
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
        nonempty(f"{where}.field", item["field"])
        operator = nonempty(f"{where}.operator", item["operator"]).upper()
        if operator not in FILTER_OPERATORS:
            raise ValidationError(f"{where}.operator", f"unknown operator {shown(operator)}")
        if "value" not in item and operator != "NONE":
            raise ValidationError(f"{where}.value", "is required")
        out.append({**item, "operator": operator})
    return compact_json(out, name="filtering")


def encode_attribution_windows(value: str | Sequence[str]) -> str:
    """Attribution windows, validated, as a JSON array.

    Example:
        >>> encode_attribution_windows(["1d_click", "7d_view"])
        '["1d_click","7d_view"]'
    """
    windows = _names("action_attribution_windows", value)
    for i, window in enumerate(windows):
        if window not in ATTRIBUTION_WINDOWS and not window.startswith("skan_"):
            raise ValidationError(
                f"action_attribution_windows[{i}]", f"unknown attribution window {shown(window)}"
            )
    if not windows:
        raise ValidationError("action_attribution_windows", "must not be empty")
    return _compact(windows)


def _names(name: str, value: Any) -> list[str]:
    """A name or a list of names, each a non-empty string."""
    if isinstance(value, str):
        return [nonempty(name, value)]
    if not isinstance(value, (list, tuple)):
        raise ValidationError(name, "must be a name or a list of names")
    return [nonempty(f"{name}[{i}]", item) for i, item in enumerate(value)]


def encode_list(name: str, value: str | Sequence[str]) -> str:
    """A list parameter as Graph's comma-separated form (``age,gender``)."""
    items = [item.strip() for item in _names(name, value)]
    if not items or not all(items):
        raise ValidationError(name, "must be a non-empty name or list of names")
    return ",".join(items)


def check_choice(name: str, value: str, choices: frozenset[str]) -> str:
    """``value`` if it is one of ``choices``, else a ValidationError naming the field."""
    if not isinstance(value, str) or value not in choices:
        raise ValidationError(
            name, f"unknown value {shown(value)}; expected one of {sorted(choices)}"
        )
    return value


def unix_seconds(name: str, value: datetime | date | int) -> int:
    """Unix seconds from a timezone-aware ``datetime``, a ``date`` (UTC midnight) or an int."""
    if isinstance(value, bool):
        raise ValidationError(name, "must be a datetime, a date or Unix seconds")
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValidationError(name, "datetime must be timezone-aware")
        seconds = int(value.timestamp())
    elif isinstance(value, date):
        seconds = calendar.timegm(value.timetuple())
    elif isinstance(value, int):
        seconds = value
    else:
        raise ValidationError(name, "must be a datetime, a date or Unix seconds")
    if not 0 <= seconds <= _MAX_UNIX:
        raise ValidationError(name, "must be between 1970 and 9999")
    return seconds


def count_placeholders(text: str) -> int:
    """Distinct ``{{n}}`` placeholders in a template text.

    Example:
        >>> count_placeholders("Hi {{1}}, {{2}} off until {{3}}. {{1}}!")
        3
    """
    return len(set(_PLACEHOLDER.findall(text)))


def compact_json(value: Any, *, name: str = "value") -> str:
    """Compact JSON, as Graph wants it in query strings.

    Raises:
        ValidationError: ``value`` holds something JSON cannot carry (NaN, a ``Decimal``...).
    """
    try:
        text = _compact(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValidationError(name, f"cannot be sent as JSON: {exc}") from None
    if not _encodable(text):
        raise ValidationError(name, "is not valid Unicode text (a lone surrogate)")
    return text


def positive_int(name: str, value: int) -> str:
    return str(whole(name, value, minimum=1))


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
    ids = list(dict.fromkeys(_names("template_ids", template_ids)))
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
        values = [
            check_choice("metric_types", m, known) for m in _names("metric_types", metric_types)
        ]
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
        unified = flag("use_unified_attribution_setting", use_unified_attribution_setting)
        params["use_unified_attribution_setting"] = "true" if unified else "false"
    if limit is not None:
        params["limit"] = positive_int("limit", limit)
    return params


#: The options ``get_ad_object_insights`` takes besides the id and the cursor.
INSIGHTS_OPTIONS = frozenset(
    {
        "fields",
        "date_preset",
        "time_range",
        "level",
        "filtering",
        "sort",
        "breakdowns",
        "action_breakdowns",
        "action_attribution_windows",
        "use_unified_attribution_setting",
    }
)


def insights_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` if every key is an insights option (a ``ValidationError`` names the first
    that is not)."""
    for key in options:
        if key not in INSIGHTS_OPTIONS:
            raise ValidationError(
                key, f"unknown insights option; expected one of {sorted(INSIGHTS_OPTIONS)}"
            )
    return dict(options)
