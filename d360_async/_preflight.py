"""What preflight found before a campaign: problems grouped, each with the messages it hits.

301 messages with the same problem are one problem with 301 message indices, told in one
line: ``template 'promo' (en): 301 messages: 2 body parameters for a template with 1
placeholder (messages 0-300)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum

import attrs

from ._errors import D360Error

__all__ = ["PreflightError", "PreflightProblem", "PreflightProblemKind", "number_ranges"]

#: Ranges written out before "and N more".
_LISTED_RANGES = 10


class PreflightProblemKind(StrEnum):
    """What is wrong: the template (missing, not approved) or a message's parameters."""

    TEMPLATE_NOT_FOUND = "template_not_found"
    TEMPLATE_NOT_APPROVED = "template_not_approved"
    PARAMETERS = "parameters"


def number_ranges(numbers: Sequence[int], limit: int = _LISTED_RANGES) -> str:
    """Sorted numbers as ranges, the first ``limit`` of them written out.

    Example:
        >>> number_ranges([0, 1, 2, 3, 4, 7, 9, 10])
        '0-4, 7, 9-10'
        >>> number_ranges(list(range(1, 30, 2)), limit=3)
        '1, 3, 5, and 12 more'
    """
    ranges: list[tuple[int, int]] = []
    for n in sorted(set(numbers)):
        if ranges and n == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], n)
        else:
            ranges.append((n, n))
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges[:limit])
    rest = sum(b - a + 1 for a, b in ranges[limit:])
    return f"{text}, and {rest} more" if rest else text


def _noun(n: int, noun: str) -> str:
    return noun if n == 1 else f"{noun}s"


@attrs.frozen(kw_only=True)
class PreflightProblem:
    """One problem and every message it hits.

    Attributes:
        kind: What is wrong.
        template: The template's name.
        language: The template's language.
        reason: What is wrong, naming no message (``"is PAUSED, not APPROVED"``, ``"2 body
            parameters for a template with 1 placeholder"``).
        messages: Indices (0-based) of the messages it hits, in order.

    Example:
        >>> p = PreflightProblem(kind=PreflightProblemKind.PARAMETERS, template="promo",
        ...     language="en", reason="2 body parameters for a template with 1 placeholder",
        ...     messages=(0, 1, 2))
        >>> print(p)  # doctest: +NORMALIZE_WHITESPACE
        template 'promo' (en): 3 messages: 2 body parameters for a template with 1
        placeholder (messages 0-2)
    """

    kind: PreflightProblemKind
    template: str
    language: str
    reason: str
    messages: tuple[int, ...] = ()

    @property
    def summary(self) -> str:
        """The problem of one message: ``template 'promo' (en): 2 body parameters ...``."""
        label = f"template {self.template!r} ({self.language})"
        if self.kind is PreflightProblemKind.PARAMETERS:
            return f"{label}: {self.reason}"
        return f"{label} {self.reason}"

    def describe(
        self, noun: str = "message", where: Callable[[Sequence[int]], str] | None = None
    ) -> str:
        """The problem of all its messages in one line.

        Args:
            noun: What a message is called (the command line says ``"row"``).
            where: Writes out which ones, from the message indices (default: ``messages
                0-300``). A template that is missing or not approved is one line without them.
        """
        if self.kind is not PreflightProblemKind.PARAMETERS:
            return self.summary
        n = len(self.messages)
        which = (
            where(self.messages)
            if where is not None
            else f"{_noun(n, noun)} {number_ranges(self.messages)}"
        )
        label = f"template {self.template!r} ({self.language})"
        return f"{label}: {n} {_noun(n, noun)}: {self.reason} ({which})"

    def __str__(self) -> str:
        return self.describe()


def _group(problems: Iterable[PreflightProblem]) -> tuple[PreflightProblem, ...]:
    """Equal problems (kind, template, reason) merged, their messages joined, in first-seen
    order."""
    merged: dict[tuple[str, str, str, str], list[int]] = {}
    first: dict[tuple[str, str, str, str], PreflightProblem] = {}
    for problem in problems:
        key = (problem.kind, problem.template, problem.language, problem.reason)
        first.setdefault(key, problem)
        merged.setdefault(key, []).extend(problem.messages)
    return tuple(
        attrs.evolve(first[key], messages=tuple(sorted(set(indices))))
        for key, indices in merged.items()
    )


class PreflightError(D360Error):
    """The campaign cannot work (a template missing or not approved, parameters that do not
    fit); nothing was sent.

    Attributes:
        grouped: The problems, equal ones merged, each with the indices of its messages.
        problems: One line per problem (``str`` of each of ``grouped``).

    Example:
        >>> error = PreflightError([PreflightProblem(kind=PreflightProblemKind.TEMPLATE_NOT_FOUND,
        ...     template="x", language="en", reason="not found", messages=(0,))])
        >>> str(error)
        "preflight failed: template 'x' (en) not found"
    """

    def __init__(self, problems: Iterable[PreflightProblem]) -> None:
        self.grouped = _group(problems)
        self.problems = tuple(str(p) for p in self.grouped)
        super().__init__("preflight failed: " + "; ".join(self.problems))

    def __reduce__(self) -> tuple[type[PreflightError], tuple[tuple[PreflightProblem, ...]]]:
        return type(self), (self.grouped,)  # pickles (to another process) whole
