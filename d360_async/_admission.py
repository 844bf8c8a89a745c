"""Admitting a message into a campaign: everything that can be known about it before a request.

``encode_message`` is the rule for "can this body be sent at all": the right types where the
API expects them, JSON that orjson can write, and a size no template message comes near. It
answers with a ``ValidationError`` naming the field, or with the JSON bytes: the journal's
fingerprint of the message and the very bytes the transport sends (the caller's dicts are
not read again after admission: a caller may reuse and change them for its next message).

``Admission`` turns input messages into ``Item`` objects, in input order: checked, encoded,
de-duplicated. A message that cannot be sent becomes its own ``failed`` result; the others
are not affected.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from typing import Any, Final

import orjson

from ._bulk_report import SendResult, SendStatus
from ._errors import ValidationError
from ._models_messages import MarketingMessageRequest
from ._payloads import MessageInput, prepare_message
from ._recipients import RecipientSet
from ._template_fit import MessageShape, shape_of

__all__ = ["MAX_MESSAGE_BYTES", "Admission", "AdmittedItems", "Item", "encode_message"]

#: Largest JSON body a send may have. A template message is far smaller: its body text is at
#: most 1,024 characters with its parameters filled in (32,768 for a body-only template).
MAX_MESSAGE_BYTES: Final = 256 * 1024

_INT64 = (-(2**63), 2**64 - 1)  # what orjson writes: int64 and uint64
_MAX_DEPTH: Final = 255  # orjson writes no deeper


def encode_message(payload: Mapping[str, Any]) -> bytes:
    """The JSON body of a prepared send, after checking what the API will not take.

    Raises:
        ValidationError: A component or parameter of the wrong type, a value that is not
            JSON (a ``Decimal``, ``bytes``, a ``set``, ...) or a body over
            ``MAX_MESSAGE_BYTES``; ``field`` names where.

    Example:
        >>> encode_message({"to": "1", "template": {"name": "x", "language": {"code": "en"}}})
        b'{"to":"1","template":{"name":"x","language":{"code":"en"}}}'
        >>> bad = {"to": "1", "template": {"components": [{"parameters": [{"type": "text"}]}]}}
        >>> try:
        ...     encode_message(bad)
        ... except ValidationError as exc:
        ...     print(exc)
        template.components[0].parameters[0].text: must be a string, not NoneType
    """
    template = payload.get("template")
    if type(template) is dict or isinstance(template, Mapping):
        components = template.get("components")
        if components is not None:
            _check_components(components, "template.components")
    try:
        data = orjson.dumps(payload)
    except orjson.JSONEncodeError as exc:
        where = _not_json(payload, "")
        if where is None:
            raise ValidationError("message", f"cannot be sent as JSON: {exc}") from None
        raise ValidationError(*where) from None
    if len(data) > MAX_MESSAGE_BYTES:
        raise ValidationError(
            "message",
            f"is {len(data):,} bytes as JSON; a template message is at most "
            f"{MAX_MESSAGE_BYTES:,} (a text parameter holds at most 32,768 characters)",
        )
    return data


def _type_name(value: object) -> str:
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__name__}"


def _check_components(components: object, where: str) -> None:
    """Components and their parameters have the types the API expects. On the hot path: no
    copy, and the path of a field is only spelled out for an error."""
    if type(components) is not list and not isinstance(components, (list, tuple)):
        raise ValidationError(where, f"must be a list of components, not {_type_name(components)}")
    for i, component in enumerate(components):
        if type(component) is not dict and not isinstance(component, Mapping):
            raise ValidationError(
                f"{where}[{i}]", f"must be an object, not {_type_name(component)}"
            )
        kind = component.get("type")
        if kind is not None and type(kind) is not str and not isinstance(kind, str):
            raise ValidationError(f"{where}[{i}].type", "must be a string such as 'body'")
        parameters = component.get("parameters")
        if parameters is not None:
            _check_parameters(parameters, where, i)
        cards = component.get("cards")
        if cards is not None:  # a carousel: each card has its own components
            _check_cards(cards, f"{where}[{i}].cards")


def _check_parameters(parameters: object, where: str, i: int) -> None:
    if type(parameters) is not list and not isinstance(parameters, (list, tuple)):
        raise ValidationError(
            f"{where}[{i}].parameters",
            f"must be a list of parameters, not {_type_name(parameters)}",
        )
    for j, parameter in enumerate(parameters):
        if type(parameter) is not dict and not isinstance(parameter, Mapping):
            raise ValidationError(
                f"{where}[{i}].parameters[{j}]", f"must be an object, not {_type_name(parameter)}"
            )
        name = parameter.get("parameter_name")
        if name is not None and type(name) is not str and not isinstance(name, str):
            raise ValidationError(
                f"{where}[{i}].parameters[{j}].parameter_name", "must be a string"
            )
        kind = parameter.get("type")
        if kind == "text":  # a StrEnum member compares equal too
            text = parameter.get("text")
            if type(text) is not str and not isinstance(text, str):
                raise ValidationError(
                    f"{where}[{i}].parameters[{j}].text",
                    f"must be a string, not {_type_name(text)}",
                )
        elif type(kind) is not str and not isinstance(kind, str):
            raise ValidationError(
                f"{where}[{i}].parameters[{j}].type", "must be a string such as 'text'"
            )


def _check_cards(cards: object, where: str) -> None:
    if type(cards) is not list and not isinstance(cards, (list, tuple)):
        raise ValidationError(where, "must be a list of cards")
    for k, card in enumerate(cards):
        if type(card) is not dict and not isinstance(card, Mapping):
            raise ValidationError(f"{where}[{k}]", "must be an object")
        inner = card.get("components")
        if inner is not None:
            _check_components(inner, f"{where}[{k}].components")


def _not_json(value: object, where: str, depth: int = 0) -> tuple[str, str] | None:
    """The first place in ``value`` that orjson cannot write, and why (only on failure)."""
    kind = type(value)
    if value is None or kind in (float, bool):
        return None
    if kind is str:
        try:
            value.encode()  # type: ignore[attr-defined]
        except UnicodeEncodeError:
            return where or "message", "is not valid text (it holds a lone surrogate)"
        return None
    if depth >= _MAX_DEPTH and isinstance(value, (Mapping, list, tuple)):
        return where or "message", f"is nested too deeply (more than {_MAX_DEPTH} levels)"
    if kind is int:
        low, high = _INT64
        return None if low <= value <= high else (where, "is out of the 64-bit integer range")  # type: ignore[operator]
    if isinstance(value, Mapping):
        for key, item in value.items():
            if type(key) is not str:
                return where or "message", f"has a key that is not a string: {_type_name(key)}"
            found = _not_json(item, f"{where}.{key}" if where else key, depth + 1)
            if found is not None:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = _not_json(item, f"{where}[{i}]", depth + 1)
            if found is not None:
                return found
        return None
    hint = {"Decimal": "a str or a float", "bytes": "a str", "set": "a list"}.get(kind.__name__)
    advice = f" (send {hint} instead)" if hint else ""
    return where or "message", f"a {_type_name(value)} cannot be sent as JSON{advice}"


class Item:
    """A message admitted for sending (internal; cheaper than an attrs class on the hot path).

    ``body`` is what is sent, ``shape`` what its template check needs: both taken at
    admission, nothing refers back to the caller's (mutable) message. Awaiting the item is
    its ``on_wire`` callback: ``wire`` says how far its request got (0: not on the wire,
    2: it may have been written).
    """

    __slots__ = ("body", "index", "shape", "to", "wire")

    def __init__(self, index: int, to: str, body: bytes, shape: MessageShape) -> None:
        self.index = index
        self.to = to
        self.body = body
        self.shape = shape
        self.wire = 0

    async def __call__(self) -> None:
        self.wire = 2

    async def refused(self) -> None:
        """The written attempt was certainly refused; a retry follows (``on_refused``)."""
        self.wire = 0


class AdmittedItems(AsyncIterable[Item]):
    """Messages admitted elsewhere, each an ``Item`` at its own position in its campaign: a
    worker's share of a campaign that a producer admitted and queued (``d360_async.redis``).

    The bulk sender takes them as they come, in any order of positions, without admitting
    them again (no check, no encoding, no de-duplication: the producer did it) and without a
    preflight window (templates are checked as they are first seen).
    """

    @abc.abstractmethod
    def __aiter__(self) -> AsyncIterator[Item]:
        """The items, as they are claimed."""


class Admission:
    """Checks, encodes and de-duplicates messages in input order.

    Example:
        >>> admission = Admission(dedupe=True)
        >>> m = {"to": "+49 151 1", "template": {"name": "x", "language": {"code": "en"}}}
        >>> type(admission.admit(0, m)).__name__, admission.admit(1, m).status.value
        ('Item', 'skipped')
    """

    __slots__ = ("_seen",)

    def __init__(self, *, dedupe: bool) -> None:
        self._seen = RecipientSet() if dedupe else None

    def admit(self, index: int, message: MessageInput) -> Item | SendResult:
        """The message as an ``Item`` to send, or its result when it must not be sent."""
        try:
            payload = prepare_message(message)
            body = encode_message(payload)
        except ValidationError as exc:
            return SendResult(
                index=index,
                to=_raw_to(message),
                status=SendStatus.FAILED,
                error=exc,
                reason=str(exc),
            )
        to: str = payload["to"]
        if self._seen is not None and not self._seen.add(to):
            return SendResult(
                index=index, to=to, status=SendStatus.SKIPPED, reason="duplicate recipient"
            )
        return Item(index, to, body, shape_of(payload))


def _raw_to(message: object) -> str:
    if isinstance(message, MarketingMessageRequest):
        to: object = message.to
    elif isinstance(message, Mapping):
        to = message.get("to")
    else:
        to = None
    return to if isinstance(to, str) else ""
