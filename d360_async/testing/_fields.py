"""Graph API field expansion: parse ``a{b,c{d}}`` and project documents onto it."""

from __future__ import annotations

from typing import Any

#: A parsed selection: field name -> sub-selection (None selects the whole value).
Selection = dict[str, "Selection | None"]


class FieldsError(ValueError):
    """A ``fields`` expression that cannot be parsed or names unknown fields.

    Example:
        >>> parse_fields("web{event_name")
        Traceback (most recent call last):
        ...
        d360_async.testing._fields.FieldsError: unbalanced braces in 'web{event_name'
    """


def parse_fields(text: str) -> Selection:
    """Parse a Graph ``fields`` expression.

    Example:
        >>> parse_fields("web{event_name,event_match_quality{composite_score}}")
        {'web': {'event_name': None, 'event_match_quality': {'composite_score': None}}}
    """
    selection, position = _parse_list(text.replace(" ", ""), 0)
    if position != len(text.replace(" ", "")):
        raise FieldsError(f"unexpected {text[position:]!r} in fields")
    return selection


def _parse_list(text: str, position: int) -> tuple[Selection, int]:
    selection: Selection = {}
    while True:
        start = position
        while position < len(text) and (text[position].isalnum() or text[position] == "_"):
            position += 1
        name = text[start:position]
        if not name:
            raise FieldsError(f"expected a field name at offset {start} in {text!r}")
        sub: Selection | None = None
        if position < len(text) and text[position] == "{":
            sub, position = _parse_list(text, position + 1)
            if position >= len(text) or text[position] != "}":
                raise FieldsError(f"unbalanced braces in {text!r}")
            position += 1
        selection[name] = _merge(selection.get(name), sub) if name in selection else sub
        if position < len(text) and text[position] == ",":
            position += 1
            continue
        return selection, position


def _merge(left: Selection | None, right: Selection | None) -> Selection | None:
    if left is None or right is None:
        return None
    merged = dict(left)
    for key, value in right.items():
        merged[key] = _merge(merged[key], value) if key in merged else value
    return merged


def project(value: Any, selection: Selection | None, path: str = "") -> Any:
    """Keep only the selected fields of ``value`` (lists are projected item by item).

    Raises:
        FieldsError: a selected field does not exist.

    Example:
        >>> project([{"a": 1, "b": {"c": 2, "d": 3}}], {"b": {"c": None}})
        [{'b': {'c': 2}}]
    """
    if selection is None:
        return value
    if isinstance(value, list):
        return [project(item, selection, path) for item in value]
    if not isinstance(value, dict):
        raise FieldsError(f"field {path or 'root'} has no sub-fields")
    result: dict[str, Any] = {}
    for name, sub in selection.items():
        if name not in value:
            where = f"{path}.{name}" if path else name
            raise FieldsError(f"Tried accessing nonexisting field ({where})")
        result[name] = project(value[name], sub, f"{path}.{name}" if path else name)
    return result
