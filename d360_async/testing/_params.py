"""Query-parameter helpers shared by the read endpoints."""

from __future__ import annotations

import json


class InvalidParam(ValueError):
    """A query parameter the emulator rejects with Meta's code 100.

    Example:
        >>> parse_list("[1,", "template_ids")
        Traceback (most recent call last):
        ...
        d360_async.testing._params.InvalidParam: template_ids must be a JSON array of strings
    """


def parse_list(raw: str | None, field: str) -> list[str]:
    """A JSON array (``["a","b"]``) or a comma list (``a,b``) of strings.

    Example:
        >>> (parse_list('["SENT","READ"]', "m"), parse_list("a, b", "m"), parse_list(None, "m"))
        (['SENT', 'READ'], ['a', 'b'], [])
    """
    if raw is None or not raw.strip():
        return []
    text = raw.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            raise InvalidParam(f"{field} must be a JSON array of strings") from None
        if not isinstance(value, list):
            raise InvalidParam(f"{field} must be a JSON array of strings")
        return [str(item) for item in value]
    return [item.strip() for item in text.split(",") if item.strip()]
