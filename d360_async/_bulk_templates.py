"""What a campaign's templates require of its messages: each template looked up once (one
lookup shared by the messages waiting for it; a failed lookup is not remembered), preflight
over the first messages, and the check of any later message that does not fit.

The campaign gives its template lookup (``find``); this module knows nothing of the client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Final

import attrs

from ._admission import Item
from ._bulk_journal import JournalItem
from ._bulk_report import SendResult
from ._errors import APIError
from ._models_templates import MessageTemplate
from ._preflight import PreflightError, PreflightProblem, PreflightProblemKind
from ._template_fit import MessageShape, TemplateFit, misfit_shape

__all__ = ["LOOKUP_TRIES", "TemplateChecks"]

#: Template lookups one message makes at most (each with the client's retries) before it fails.
LOOKUP_TRIES: Final = 2
#: Message shapes remembered as fitting their template (a campaign has a few).
_FITTING_SHAPES: Final = 1024

_Known = TemplateFit | PreflightProblem


class TemplateChecks:
    """The templates of one campaign run.

    Args:
        find: Looks a template up by name and language (None when there is none).
    """

    __slots__ = ("_find", "_fitting", "_known", "_lookups")

    def __init__(self, find: Callable[[str, str], Awaitable[MessageTemplate | None]]) -> None:
        self._find = find
        # (name, language) -> what its messages must carry, or why it cannot be used
        self._known: dict[tuple[str, str], _Known] = {}
        self._lookups: dict[tuple[str, str], asyncio.Task[_Known]] = {}
        # shapes found to fit (a known template stays as it was found: no answer changes)
        self._fitting: set[MessageShape] = set()

    def fits(self, shape: MessageShape) -> bool:
        """Whether a message of this shape is known to fit its template (the hot path: no
        lookup, no allocation); False also when its template is not known yet."""
        if shape in self._fitting:
            return True
        fit = self._known.get(shape.template)
        if type(fit) is not TemplateFit or misfit_shape(fit, shape) is not None:
            return False
        if len(self._fitting) < _FITTING_SHAPES:
            self._fitting.add(shape)
        return True

    async def preflight(self, window: Iterable[Item | SendResult]) -> None:
        """Raise ``PreflightError`` if the first messages show the campaign cannot work."""
        problems: list[PreflightProblem] = []
        for item in window:
            if isinstance(item, JournalItem) and item.decided is not None:
                continue  # not sent in this run
            if isinstance(item, Item):
                problem = await self.check(item, tries=1)
                if problem is not None:
                    problems.append(problem)
        if problems:
            raise PreflightError(problems)  # equal problems grouped, with their messages

    async def check(self, item: Item, *, tries: int = LOOKUP_TRIES) -> PreflightProblem | None:
        """What prevents this message from working, or None (templates fetched once; a lookup
        that fails is not remembered: the next message looks the template up again).

        Raises:
            APIError: The lookup failed ``tries`` times (each with the client's retries).
        """
        key = item.shape.template
        expected = self._known.get(key)
        attempt = 0
        while expected is None:
            attempt += 1
            lookup = self._lookups.get(key)
            if lookup is None:
                lookup = self._lookups[key] = asyncio.ensure_future(self._fetch(*key))
                lookup.add_done_callback(self._looked_up(key))
            try:
                # shielded: one waiter cancelled must not cancel everyone's lookup
                expected = await asyncio.shield(lookup)
            except APIError:
                if attempt >= tries:
                    raise
        if isinstance(expected, PreflightProblem):
            return attrs.evolve(expected, messages=(item.index,))
        reason = misfit_shape(expected, item.shape)
        if reason is None:
            return None
        return PreflightProblem(
            kind=PreflightProblemKind.PARAMETERS,
            template=key[0],
            language=key[1],
            reason=reason,
            messages=(item.index,),
        )

    def cancel(self) -> None:
        """Cancel the lookups under way (the run ended)."""
        for lookup in self._lookups.values():
            lookup.cancel()

    def _looked_up(self, key: tuple[str, str]) -> Callable[[asyncio.Task[_Known]], None]:
        def done(lookup: asyncio.Task[_Known]) -> None:
            if self._lookups.get(key) is lookup:
                del self._lookups[key]
            if lookup.cancelled():
                return
            error = lookup.exception()  # retrieved, even when nobody waits any more
            if error is None:
                self._known[key] = lookup.result()

        return done

    async def _fetch(self, name: str, language: str) -> _Known:
        """What the template's messages must carry, or what is wrong with it."""
        template = await self._find(name, language)
        if template is None:
            return PreflightProblem(
                kind=PreflightProblemKind.TEMPLATE_NOT_FOUND,
                template=name,
                language=language,
                reason="not found",
            )
        if template.status != "APPROVED":
            return PreflightProblem(
                kind=PreflightProblemKind.TEMPLATE_NOT_APPROVED,
                template=name,
                language=language,
                reason=f"is {template.status}, not APPROVED",
            )
        return TemplateFit.of(template)
