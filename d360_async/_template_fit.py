"""Does a message fit its template? Pure functions from a template and a send payload.

A template's parameters are positional (``{{1}}``, ``{{2}}``: a send gives as many values, in
order) or named (``{{first_name}}``: a send gives each value with its ``parameter_name``).
The BODY and a TEXT header are checked; media headers, buttons and carousel cards are not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import attrs

from ._models_templates import HeaderFormat, MessageTemplate, ParameterFormat, TemplateComponentType

__all__ = ["MessageShape", "TemplateFit", "misfit", "misfit_shape", "placeholders", "shape_of"]

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_HEADER = frozenset({"header", "HEADER", "Header"})
_BODY = frozenset({"body", "BODY", "Body"})


def placeholders(text: str) -> tuple[str, ...]:
    """The distinct ``{{...}}`` placeholders of a template text, in order of first use.

    Example:
        >>> placeholders("Hi {{1}}, {{2}} off until {{3}}. {{1}}!")
        ('1', '2', '3')
        >>> placeholders("Hi {{first_name}}, {{points}} points")
        ('first_name', 'points')
    """
    return tuple(dict.fromkeys(_PLACEHOLDER.findall(text)))


@attrs.frozen
class TemplateFit:
    """What a send to a template must carry.

    Attributes:
        named: Parameters go by name (``parameter_format`` ``NAMED``).
        body: The BODY's placeholders (names, or ``"1"``, ``"2"``, ... for positional ones).
        header: The TEXT header's placeholders; None when there is no text header.

    Example:
        >>> from d360_async import MessageTemplate, MessageTemplateComponent
        >>> TemplateFit.of(MessageTemplate(components=[
        ...     MessageTemplateComponent(type="BODY", text="Hi {{first_name}}")]))
        TemplateFit(named=True, body=('first_name',), header=None)
    """

    named: bool
    body: tuple[str, ...]
    header: tuple[str, ...] | None

    @classmethod
    def of(cls, template: MessageTemplate) -> TemplateFit:
        """The fit of a template. Without ``parameter_format`` (older API versions), a
        placeholder that is not a number makes the template named."""
        body: tuple[str, ...] = ()
        header: tuple[str, ...] | None = None
        for component in template.components:
            if component.type == TemplateComponentType.BODY:
                body = placeholders(component.text or "")
            elif component.type == TemplateComponentType.HEADER and component.format in (
                None,
                HeaderFormat.TEXT,
            ):
                header = placeholders(component.text or "")
        declared = template.parameter_format
        if declared == ParameterFormat.NAMED:
            named = True
        elif declared == ParameterFormat.POSITIONAL:
            named = False
        else:
            named = any(not p.isdigit() for p in (*body, *(header or ())))
        if not named:  # only {{1}}, {{2}}, ... count in a positional template
            body = tuple(p for p in body if p.isdigit())
            header = None if header is None else tuple(p for p in header if p.isdigit())
        return cls(named=named, body=body, header=header)


class MessageShape(NamedTuple):
    """What of a send ``misfit`` looks at, taken once (at admission): immutable, so a caller
    that reuses and changes its dicts after handing a message over changes nothing.

    Attributes:
        template: The template's name and language code.
        header: The ``parameter_name`` (or None) of each parameter of the TEXT header.
        body: Likewise for the BODY.
    """

    template: tuple[str, str]
    header: tuple[str | None, ...]
    body: tuple[str | None, ...]


def shape_of(payload: Mapping[str, Any]) -> MessageShape:
    """The shape of a prepared send payload (its template name and language are strings).

    Example:
        >>> shape_of({"template": {"name": "x", "language": {"code": "en"}, "components": [
        ...     {"type": "body", "parameters": [{"type": "text", "text": "Ada"}]}]}})
        MessageShape(template=('x', 'en'), header=(), body=(None,))
    """
    template = payload["template"]
    header: tuple[str | None, ...] = ()
    body: tuple[str | None, ...] = ()
    for component in template.get("components") or ():
        if type(component) is not dict and not isinstance(component, Mapping):
            continue
        kind = component.get("type")
        if type(kind) is not str and not isinstance(kind, str):
            continue
        if kind in _BODY:
            body = _names(component)
        elif kind in _HEADER:
            header = _names(component)
    return MessageShape((template["name"], template["language"]["code"]), header, body)


def misfit(fit: TemplateFit, payload: Mapping[str, Any]) -> str | None:
    """Why a send payload does not fit the template, or None when it does.

    The reason names no message and no value, so equal problems of many messages read the
    same (``"2 body parameters for a template with 1 placeholder"``).
    """
    return misfit_shape(fit, shape_of(payload))


def misfit_shape(fit: TemplateFit, shape: MessageShape) -> str | None:
    """``misfit`` of a message by its shape."""
    if fit.header is not None and (fit.header or shape.header):
        problem = _check(fit.named, "header", fit.header, shape.header)
        if problem is not None:
            return problem
    return _check(fit.named, "body", fit.body, shape.body)


def _names(component: Mapping[str, Any]) -> tuple[str | None, ...]:
    parameters = component.get("parameters")
    if not isinstance(parameters, (list, tuple)):
        return ()
    names: list[str | None] = []
    for p in parameters:
        name = p.get("parameter_name") if type(p) is dict or isinstance(p, Mapping) else None
        names.append(name if isinstance(name, str) else None)
    return tuple(names)


def _check(
    named: bool, where: str, expected: tuple[str, ...], names: tuple[str | None, ...]
) -> str | None:
    if not named:
        if any(names):
            braces = ", ".join(f"{{{{{p}}}}}" for p in expected)
            return (
                f"{where} parameters are named ({_join([n for n in names if n])}); "
                f"the template's are positional ({braces})"
            )
        if len(names) == len(expected):
            return None
        owner = "a template" if where == "body" else "a header"
        return (
            f"{_count(len(names), f'{where} parameter')} for {owner} with "
            f"{_count(len(expected), 'placeholder')}"
        )
    if names and not all(names):
        return (
            f"{where} parameters have no parameter_name; the template's are named "
            f"({', '.join(expected)})"
        )
    unknown = [n for n in dict.fromkeys(names) if n not in expected]
    if unknown:
        verb = "is" if len(unknown) == 1 else "are"
        return (
            f"{where} {_plural('parameter', len(unknown))} {_join(unknown)} {verb} not in the "
            f"template (its {where} has {', '.join(expected)})"
        )
    missing = [n for n in expected if n not in names]
    if missing:
        return (
            f"{where} parameters lack {', '.join(missing)} (the template's {where} has "
            f"{', '.join(expected)})"
        )
    if len(names) != len(expected):
        twice = sorted({n for n in names if names.count(n) > 1}, key=names.index)
        return f"{where} {_plural('parameter', len(twice))} {_join(twice)} given more than once"
    return None


def _join(names: Sequence[str | None]) -> str:
    return ", ".join(str(n) for n in names)


def _plural(word: str, n: int) -> str:
    return word if n == 1 else f"{word}s"


def _count(n: int, word: str) -> str:
    return f"{n} {_plural(word, n)}"
