"""Does a message fit its template? Pure functions from a template and a send payload.

A template's parameters are positional (``{{1}}``, ``{{2}}``: a send gives as many values, in
order) or named (``{{first_name}}``: a send gives each value with its ``parameter_name``).
The BODY and a TEXT header are checked; media headers, buttons and carousel cards are not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ._models_templates import HeaderFormat, MessageTemplate, ParameterFormat, TemplateComponentType

__all__ = ["TemplateFit", "misfit", "placeholders"]

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


def misfit(fit: TemplateFit, payload: Mapping[str, Any]) -> str | None:
    """Why a send payload does not fit the template, or None when it does.

    The reason names no message and no value, so equal problems of many messages read the
    same (``"2 body parameters for a template with 1 placeholder"``).
    """
    header: Sequence[Any] = ()
    body: Sequence[Any] = ()
    for component in payload["template"].get("components") or ():
        if type(component) is not dict and not isinstance(component, Mapping):
            continue
        kind = component.get("type")
        if kind in _BODY:
            body = _parameters(component)
        elif kind in _HEADER:
            header = _parameters(component)
    if fit.header is not None and (fit.header or header):
        problem = _check(fit.named, "header", fit.header, header)
        if problem is not None:
            return problem
    return _check(fit.named, "body", fit.body, body)


def _parameters(component: Mapping[str, Any]) -> Sequence[Any]:
    parameters = component.get("parameters")
    return parameters if isinstance(parameters, (list, tuple)) else ()


def _names(parameters: Sequence[Any]) -> list[str | None]:
    return [
        p.get("parameter_name") if type(p) is dict or isinstance(p, Mapping) else None
        for p in parameters
    ]


def _check(named: bool, where: str, expected: tuple[str, ...], given: Sequence[Any]) -> str | None:
    if not named:
        for parameter in given:
            if (type(parameter) is dict or isinstance(parameter, Mapping)) and parameter.get(
                "parameter_name"
            ):
                braces = ", ".join(f"{{{{{p}}}}}" for p in expected)
                return (
                    f"{where} parameters are named ({_join([n for n in _names(given) if n])}); "
                    f"the template's are positional ({braces})"
                )
        if len(given) == len(expected):
            return None
        owner = "a template" if where == "body" else "a header"
        return (
            f"{_count(len(given), f'{where} parameter')} for {owner} with "
            f"{_count(len(expected), 'placeholder')}"
        )
    names = _names(given)
    if given and not all(names):
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
