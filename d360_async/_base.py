"""What every model shares: the ``raw`` JSON of parsed responses and the wire-name metadata."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["JSON_NAME", "NUMBER_AS_TEXT", "RawResponse", "json_name", "number_as_text"]

#: Field metadata key holding the JSON name of a field whose name is not a Python identifier.
JSON_NAME = "d360_json_name"
#: Field metadata key of a number that the API writes as a JSON string (``"152.33"``).
NUMBER_AS_TEXT = "d360_number_as_text"


def json_name(name: str) -> dict[str, str]:
    """Metadata for a field whose JSON name differs from its Python name."""
    return {JSON_NAME: name}


def number_as_text(name: str | None = None) -> dict[str, Any]:
    """Metadata for a number the API sends as a string: parsed into a number, written back
    as a string (optionally under the JSON name ``name``)."""
    return {NUMBER_AS_TEXT: True, **(json_name(name) if name is not None else {})}


@attrs.frozen(kw_only=True)
class RawResponse:
    """Base of parsed response objects: keeps the JSON they were parsed from.

    Fields the spec does not know (Meta adds new ones all the time) are never an error: they are
    ignored by the typed attributes and stay reachable in ``raw``.

    Attributes:
        raw: The JSON object this instance was parsed from, unchanged. Not part of equality or
            ``repr``.

    Example:
        >>> from d360_async import MessageTemplate
        >>> from d360_async._converter import structure
        >>> t = structure({"id": "1", "name": "promo", "new_field": 7}, MessageTemplate)
        >>> (t.name, t.raw["new_field"])
        ('promo', 7)
    """

    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False)
