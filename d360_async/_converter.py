"""The one private cattrs converter: models to JSON-ready dicts and back.

Rules it enforces:
- ``None`` fields are omitted on the wire; fields with other defaults are always sent.
- JSON names that are not identifiers (``1d_click``) come from field metadata.
- Unknown response fields are ignored by the typed attributes and kept in ``raw``.
- A value outside a response enum (a status Meta added yesterday) stays a plain ``str``.
- Numbers are never silently truncated (``1.5`` is not turned into ``1``). A ``Decimal`` keeps
  the digits it was sent with (``"152.33"`` or ``152.33``); numbers the API writes as strings
  (``number_as_text`` fields) are written back as strings, other decimals as JSON numbers.
- Template analytics are rewritten into one shape before parsing (``_analytics_shapes``).
- A ``str`` field takes a string or a number (ids are sometimes numbers), never ``null``, a
  boolean, an object or an array (cattrs would turn them into ``"None"`` or ``"{...}"``).
- A ``datetime`` is Unix seconds on the wire (a number or a string of digits, as Meta's
  webhooks send it) and a timezone-aware UTC ``datetime`` in Python.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, Final, TypeVar

import attrs
import cattrs
from cattrs.cols import is_sequence
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._analytics_shapes import normalise_template_analytics
from ._base import JSON_NAME, NUMBER_AS_TEXT, RawResponse
from ._models_analytics import TemplateAnalyticsResponse

__all__ = ["locate_error", "make_converter", "structure", "unstructure"]

T = TypeVar("T")

#: Responses whose wire shapes are rewritten into one before parsing (``raw`` keeps the original).
_SHAPES: dict[type, Callable[[Mapping[str, Any]], Mapping[str, Any]]] = {
    TemplateAnalyticsResponse: normalise_template_analytics,
}


def _union_args(tp: Any) -> tuple[Any, ...] | None:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return typing.get_args(tp)
    return None


def _enum_or_str(tp: Any) -> type[enum.Enum] | None:
    """The enum of an ``SomeEnum | str [| None]`` annotation, else None."""
    args = _union_args(tp)
    if not args or str not in args:
        return None
    enums = [a for a in args if isinstance(a, type) and issubclass(a, enum.Enum)]
    others = [a for a in args if a not in (str, type(None)) and a not in enums]
    return enums[0] if len(enums) == 1 and not others else None


def _admits_none(tp: Any) -> bool:
    return type(None) in (_union_args(tp) or ())


def _is_number_union(tp: Any) -> bool:
    args = _union_args(tp) or ()
    return {a for a in args if a is not type(None)} == {int, float}


def _structure_number(value: Any, _: Any) -> int | float | None:
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return float(value)
    raise TypeError(f"expected a number, got {type(value).__name__}")


#: The integers a response may carry: 64-bit, as Meta's API and every store of them (SQLite, a
#: journal) have them. A larger one is not the API's (and no column could keep it).
_INT64: Final = range(-(2**63), 2**63)
#: The largest float that is certainly the integer it was written as (a JSON parser reads a
#: larger integer than 64 bits as a float: ``-(2**63) - 1`` comes back as ``-(2**63)``).
_EXACT_FLOAT: Final = 2**53


def _structure_int(value: Any, _: Any) -> int:
    number: int | None = None
    exact_float = isinstance(value, float) and value.is_integer() and abs(value) <= _EXACT_FLOAT
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif exact_float or isinstance(value, str):
        number = int(value)
    if number is None:
        raise TypeError(f"expected an integer, got {value!r:.40}")
    if number not in _INT64:
        raise TypeError(f"expected an integer of 64 bits, got {value!r:.40}")
    return number


def _structure_decimal(value: Any, _: Any) -> Decimal:
    """A decimal from a JSON string or number, keeping its digits (a float by its shortest
    repr: ``152.33`` becomes ``Decimal("152.33")``, not the binary float's expansion)."""
    if isinstance(value, (int, float, str, Decimal)) and not isinstance(value, bool):
        try:
            number = Decimal(repr(value) if isinstance(value, float) else value)
        except InvalidOperation:
            pass
        else:
            if number.is_finite():
                return number
    raise TypeError(f"expected a decimal number, got {value!r:.40}")


def _text(value: Any) -> str:
    return str(value)


def _structure_bool(value: Any, _: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "True", 1):
        return True
    if value in ("false", "False", 0):
        return False
    raise TypeError(f"expected a boolean, got {value!r:.40}")


def _structure_str(value: Any, _: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _structure_datetime(value: Any, _: Any) -> datetime:
    seconds = _structure_int(value, int)
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"Unix time out of range: {seconds}") from None


def _unstructure_datetime(value: datetime) -> int:
    if value.tzinfo is None:
        raise ValueError("a datetime sent as Unix seconds must be timezone-aware")
    return int(value.timestamp())


def _renames(cls: type) -> dict[str, Any]:
    return {
        a.name: override(rename=a.metadata[JSON_NAME])
        for a in attrs.fields(cls)
        if JSON_NAME in a.metadata
    }


def make_converter() -> cattrs.Converter:
    """Build the SDK's converter (never cattrs' global one).

    Returns:
        A converter with the hooks described in this module's docstring.
    """
    conv = cattrs.Converter(detailed_validation=False, forbid_extra_keys=False)

    def enum_or_str_hook(tp: Any) -> Callable[[Any, Any], Any]:
        enum_cls = _enum_or_str(tp)
        assert enum_cls is not None
        members: Mapping[Any, Any] = enum_cls._value2member_map_
        nullable = _admits_none(tp)

        def hook(value: Any, _: Any) -> Any:
            if value is None:
                if nullable:
                    return None
                raise TypeError(f"expected a {enum_cls.__name__} value, got null")
            member = members.get(value) if isinstance(value, str | int) else None
            return member if member is not None else _structure_str(value, str)

        return hook

    conv.register_structure_hook_factory(lambda tp: _enum_or_str(tp) is not None, enum_or_str_hook)
    conv.register_structure_hook_func(_is_number_union, _structure_number)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(Decimal, _structure_decimal)
    conv.register_unstructure_hook(Decimal, float)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(datetime, _structure_datetime)
    conv.register_unstructure_hook(datetime, _unstructure_datetime)

    def unstructure_factory(cls: type) -> Callable[[Any], dict[str, Any]]:
        overrides: dict[str, Any] = {}
        nullable: list[str] = []  # None-able fields with another default: dropped when None
        hints = typing.get_type_hints(cls)
        for a in attrs.fields(cls):
            if a.name == "raw" and issubclass(cls, RawResponse):
                overrides[a.name] = override(omit=True)
                continue
            options: dict[str, Any] = {}
            if JSON_NAME in a.metadata:
                options["rename"] = a.metadata[JSON_NAME]
            if a.metadata.get(NUMBER_AS_TEXT):
                options["unstruct_hook"] = _text
            if a.default is None:
                options["omit_if_default"] = True
            elif _admits_none(hints[a.name]):
                nullable.append(options.get("rename", a.name))
            if options:
                overrides[a.name] = override(**options)
        inner: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(cls, conv, **overrides)
        if not nullable:
            return inner

        def without_none(obj: Any) -> dict[str, Any]:
            data = inner(obj)
            for key in nullable:
                if data.get(key, 0) is None:
                    del data[key]
            return data

        return without_none

    def sequence_hook(tp: Any) -> Callable[[Any, Any], tuple[Any, ...]]:
        (item_type,) = typing.get_args(tp) or (Any,)
        item_hook = conv.get_structure_hook(item_type)

        def hook(value: Any, _: Any) -> tuple[Any, ...]:
            if not isinstance(value, (list, tuple)):
                raise TypeError(f"expected a JSON array, got {type(value).__name__}")
            return tuple([item_hook(item, item_type) for item in value])

        return hook

    conv.register_structure_hook_factory(is_sequence, sequence_hook)

    def structure_factory(cls: type) -> Callable[[Any, Any], Any]:
        overrides = _renames(cls)
        is_raw = issubclass(cls, RawResponse)
        if is_raw:
            overrides["raw"] = override(omit=True)
        inner: Callable[[Any, Any], Any] = make_dict_structure_fn(cls, conv, **overrides)
        reshape = _SHAPES.get(cls)

        def checked(data: Any, tp: Any) -> Any:
            if not isinstance(data, Mapping):
                raise TypeError(f"expected a JSON object for {cls.__name__}")
            instance = inner(data if reshape is None else reshape(data), tp)
            if not is_raw:
                return instance
            # Frozen classes refuse attribute assignment; ``raw`` is set once, right after
            # construction, before the instance is visible to anybody.
            object.__setattr__(instance, "raw", data)
            return instance

        return checked

    conv.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    conv.register_structure_hook_factory(attrs.has, structure_factory)
    return conv


@cache
def _converter() -> cattrs.Converter:
    return make_converter()


def structure(data: Any, cls: type[T]) -> T:
    """Parse JSON data into a model with the SDK's converter."""
    return _converter().structure(data, cls)


def unstructure(obj: Any) -> Any:
    """Turn a model into JSON-ready data with the SDK's converter."""
    return _converter().unstructure(obj)


_EXPECTED: dict[Any, str] = {
    int: "an integer",
    bool: "a boolean",
    str: "a string",
    datetime: "Unix seconds",
}


def _fails(data: Any, tp: Any) -> bool:
    try:
        _converter().structure(data, tp)
    except Exception:  # cattrs raises several types; all mean "does not fit"
        return True
    return False


def locate_error(data: Any, tp: Any, path: str) -> tuple[str, str]:
    """Where and why ``data`` does not structure into ``tp``, without quoting any value.

    Args:
        data: JSON data that failed to structure.
        tp: The type it was structured into (an attrs class, a sequence, a union...).
        path: The path of ``data`` itself, e.g. ``"entry[0].changes[0].value"``.

    Returns:
        ``(path, reason)`` of the innermost part that does not fit.

    Example:
        >>> from d360_async import MessageTemplatePage
        >>> locate_error({"data": [{"name": "a"}, {"name": {}}]}, MessageTemplatePage, "body")
        ('body.data[1].name', 'expected a string')
    """
    args = _union_args(tp)
    if args is not None:
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            return locate_error(data, options[0], path)
        return path, "expected a string" if str in options else "unexpected value"
    if attrs.has(tp):
        if not isinstance(data, Mapping):
            return path, "expected a JSON object"
        hints = typing.get_type_hints(tp)
        for field in attrs.fields(tp):
            if field.name == "raw" and issubclass(tp, RawResponse):
                continue
            key = field.metadata.get(JSON_NAME, field.name)
            if key not in data:
                if field.default is attrs.NOTHING:
                    return f"{path}.{key}", "missing"
            elif _fails(data[key], hints[field.name]):
                return locate_error(data[key], hints[field.name], f"{path}.{key}")
        return path, "unexpected value"
    if is_sequence(tp):
        if not isinstance(data, (list, tuple)):
            return path, "expected a JSON array"
        (item_type,) = typing.get_args(tp) or (Any,)
        for index, item in enumerate(data):
            if _fails(item, item_type):
                return locate_error(item, item_type, f"{path}[{index}]")
        return path, "unexpected value"
    return path, f"expected {_EXPECTED.get(tp, getattr(tp, '__name__', 'another type'))}"
