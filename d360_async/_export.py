"""Models in their wire form: plain JSON data that a web framework can return as it is.

``to_dict(model)`` is what the model is on the wire: the spec's JSON names (``1d_click``,
not ``click_1d``), enums as their values, tuples as lists, ``None`` fields left out, nested
models likewise. It takes any model of the SDK (requests, responses, ``SendResult``,
``BulkReport``, ``EventsReport``, ...) and lists, tuples and dicts of them. A parsed response
gives the fields its model knows; the document exactly as the API sent it, unknown fields
included, is its ``raw``.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any

import orjson

from ._converter import unstructure
from ._errors import ValidationError

__all__ = ["to_dict", "to_json"]

_SCALARS = (str, int, float, bool, type(None))


def _plain(value: Any) -> Any:
    """``value`` with only JSON types left (what the converter hands through untouched)."""
    if isinstance(value, enum.Enum):  # before str: a StrEnum is a str
        return _plain(value.value)
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            text = _key(key)
            if text in out:
                raise ValidationError("model", f"has two keys written {text!r}")
            out[text] = _plain(item)
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, BaseException):
        return str(value)
    raise ValidationError("model", f"{type(value).__name__} has no JSON form")


def _key(key: Any) -> str:
    """A mapping's key as JSON writes it: text as it is, an enum as its value, a number, a
    boolean or None as its JSON text (``DeliveryReport.failed_by_code`` is keyed by ``int``
    error codes and None)."""
    if isinstance(key, enum.Enum):
        return _key(key.value)
    if isinstance(key, str):
        return key
    if isinstance(key, (bool, int, float)) or key is None:
        return json.dumps(key)
    raise ValidationError("model", f"has a key that is not text: {type(key).__name__}")


def to_dict(model: Any) -> Any:
    """The wire form of a model, or of a list, tuple or dict of models.

    Args:
        model: Any model of the SDK, or a list, tuple or dict holding models and JSON values.

    Returns:
        JSON-ready data: dicts, lists, strings, numbers, booleans and None only. A key that
        is not text becomes text as ``json.dumps`` writes it (``131049`` -> ``"131049"``,
        None -> ``"null"``, an enum -> its value).

    Raises:
        ValidationError: Something in it has no JSON form (``field`` is ``"model"``).

    Example:
        >>> from d360_async import InsightsAction, LanguageObject
        >>> to_dict(InsightsAction(action_type="link_click", value="412", click_1d="300"))
        {'action_type': 'link_click', 'value': '412', '1d_click': '300'}
        >>> to_dict([LanguageObject(code="en")])
        [{'code': 'en'}]

        In a FastAPI endpoint (see docs/web.md): ``return to_dict(template)``.
    """
    try:
        data = unstructure(model)
    except Exception as exc:  # cattrs' own errors for what it cannot take apart
        raise ValidationError("model", f"has no JSON form ({type(exc).__name__})") from exc
    return _plain(data)


def to_json(model: Any) -> str:
    """:func:`to_dict` as JSON text (compact, UTF-8 characters kept).

    Raises:
        ValidationError: Something in it has no JSON form.

    Example:
        >>> from d360_async import LanguageObject
        >>> to_json(LanguageObject(code="en"))
        '{"code":"en"}'
    """
    return orjson.dumps(to_dict(model)).decode()
