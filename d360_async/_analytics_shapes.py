"""Template analytics as the service may send them, rewritten into one shape before parsing.

Accepted (and mixed freely):

- Meta's: ``{"data": [{"granularity", "product_type", "data_points": [{"template_id", "start",
  "end", "sent", "delivered", "read", "clicked": [...], "cost": [...]}]}], "paging"}``;
- the spec's: ``{"id", "template_analytics": [{"template_id", "analytics": [{"metric_type",
  "granularity", "data_points": [{"start", "end", "value"}]}]}]}``;
- Graph field expansion: ``{"id", "template_analytics": {"data": [...Meta's...], "paging"}}``;
- several responses merged by the client: ``{"responses": [any of the above, ...]}``;
- the SDK's own wire form: ``{"id", "granularity", "product_type", "data_points": [...]}``.

The result is the SDK's wire form. Anything else that carries data raises ``ValueError``:
numbers are never dropped silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["normalise_template_analytics"]

#: The spec's metric types that are plain counts, and their data-point field.
_COUNTS = {"SENT": "sent", "DELIVERED": "delivered", "READ": "read"}
_POINT_FIELDS = frozenset({"sent", "delivered", "read", "clicked", "cost"})
_QUIET_KEYS = frozenset({"id", "paging"})  # a response with only these has no data


def normalise_template_analytics(data: Mapping[str, Any]) -> dict[str, Any]:
    """The SDK's wire form of any accepted shape (see the module docstring).

    Raises:
        ValueError: The data is in no known shape.

    Example:
        >>> normalise_template_analytics({"template_analytics": [{"template_id": "7",
        ...     "analytics": [{"metric_type": "SENT", "granularity": "DAILY",
        ...     "data_points": [{"start": 0, "end": 86400, "value": 12}]}]}]})["data_points"]
        [{'template_id': '7', 'start': 0, 'end': 86400, 'sent': 12}]
    """
    out: dict[str, Any] = {"data_points": []}
    responses = data.get("responses")
    if isinstance(responses, list):
        for response in responses:
            _collect(_mapping(response, "a response"), out)
        out.pop("paging", None)  # the cursors of one of several requests mean nothing
    else:
        _collect(data, out)
    return out


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"template analytics: {what} is not a JSON object")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"template analytics: {what} is not a JSON array")
    return value


def _first(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None and out.get(key) is None:
        out[key] = value


def _collect(data: Mapping[str, Any], out: dict[str, Any]) -> None:
    _first(out, "id", data.get("id"))
    found = False
    if "data_points" in data:  # the SDK's wire form
        _meta_entry(data, out)
        _first(out, "paging", data.get("paging"))
        found = True
    if "data" in data:  # Meta's
        _entries(data["data"], out)
        _first(out, "paging", data.get("paging"))
        found = True
    expanded = data.get("template_analytics")
    if isinstance(expanded, Mapping) and "data" in expanded:  # field expansion
        _entries(expanded["data"], out)
        _first(out, "paging", expanded.get("paging"))
        found = True
    elif expanded is not None:  # the spec's
        _entries(expanded, out)
        found = True
    if not found:
        _first(out, "paging", data.get("paging"))
        unknown = sorted(set(data) - _QUIET_KEYS)
        if unknown:
            raise ValueError(f"template analytics in an unknown shape (keys: {', '.join(unknown)})")


def _entries(items: Any, out: dict[str, Any]) -> None:
    for item in _list(items, "data"):
        entry = _mapping(item, "an entry")
        if "data_points" in entry:
            _meta_entry(entry, out)
        elif "analytics" in entry:
            _spec_entry(entry, out)
        elif _POINT_FIELDS & entry.keys():
            out["data_points"].append(_point(entry))
        else:
            keys = ", ".join(sorted(entry))
            raise ValueError(f"template analytics: an entry in an unknown shape (keys: {keys})")


def _meta_entry(entry: Mapping[str, Any], out: dict[str, Any]) -> None:
    _first(out, "granularity", entry.get("granularity"))
    _first(out, "product_type", entry.get("product_type"))
    for point in _list(entry["data_points"], "data_points"):
        out["data_points"].append(_point(_mapping(point, "a data point")))


def _point(point: Mapping[str, Any]) -> dict[str, Any]:
    """A data point, with a bare number of clicks or a bare cost made a list like Meta's."""
    out = dict(point)
    clicked = out.get("clicked")
    if clicked is not None and not isinstance(clicked, list):
        out["clicked"] = [{"count": clicked}]
    cost = out.get("cost")
    if cost is not None and not isinstance(cost, list):
        out["cost"] = [{"type": "amount_spent", "value": cost}]
    return out


def _spec_entry(entry: Mapping[str, Any], out: dict[str, Any]) -> None:
    """One template of the spec's shape: its metrics' points merged per time bucket."""
    template_id = entry.get("template_id")
    buckets: dict[tuple[Any, Any], dict[str, Any]] = {}
    for item in _list(entry["analytics"], "analytics"):
        metric = _mapping(item, "a metric")
        _first(out, "granularity", metric.get("granularity"))
        kind = metric.get("metric_type")
        for raw in _list(metric.get("data_points") or [], "data_points"):
            value = _mapping(raw, "a data point")
            span = (value.get("start"), value.get("end"))
            point = buckets.get(span)
            if point is None:
                point = buckets[span] = {
                    "template_id": template_id,
                    "start": span[0],
                    "end": span[1],
                }
            number = value.get("value")
            if kind in _COUNTS:
                point[_COUNTS[kind]] = number
            elif kind == "CLICKED":
                point["clicked"] = [{"count": number}] if number is not None else []
            elif kind == "COST":
                point["cost"] = [{"type": "amount_spent", "value": number}]
    out["data_points"].extend(buckets.values())
