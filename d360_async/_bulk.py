"""``client.send_bulk``: a campaign of any size, streamed, concurrent, resumable, at most one
send per recipient.

Every message the run decides on gets exactly one ``SendResult``: ``sent`` (accepted, with its
id), ``failed`` (certainly not accepted), ``skipped`` (not sent on purpose: a repeated
recipient, the campaign stopped, already sent in an earlier run) or ``unknown`` (its request
was written and no usable answer came back: it may have been accepted). Nothing is dropped
silently and nothing is sent twice unless asked.

The engine depends on a narrow ``CampaignAPI`` (send one encoded body, look a template up),
not on the client; a journal is any ``CampaignJournal``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
)
from contextlib import aclosing, asynccontextmanager
from datetime import timedelta
from itertools import chain, count, islice
from typing import Any, Protocol, TypeVar, cast

from ._admission import Admission, AdmittedItems, Item
from ._bulk_journal import RunJournal
from ._bulk_options import check_options, journal_of, resend_window
from ._bulk_report import (
    BulkReport,
    BulkRunError,
    Counts,
    SendResult,
    SendStatus,
)
from ._bulk_templates import TemplateChecks
from ._campaign_journal import CampaignJournal, ClaimLostError, JournalError
from ._concurrency import AdaptiveConcurrency, Concurrency
from ._errors import (
    APIError,
    APIStatusError,
    AuthenticationError,
    ClientClosedError,
    D360Error,
    LimiterUnavailableError,
    PermissionDeniedError,
    RedirectError,
    ValidationError,
)
from ._fanout import Crew, bounded_each, bounded_map
from ._limits import Scope
from ._models_templates import MessageTemplate
from ._outcome import may_have_been_acted_upon
from ._payloads import MessageInput
from ._preflight import PreflightError

__all__ = [
    "BulkReport",
    "BulkRun",
    "BulkRunError",
    "CampaignAPI",
    "PreflightError",
    "SendResult",
    "SendStatus",
]

T = TypeVar("T")
logger = logging.getLogger("d360_async")

#: Meta codes after which every further message of the campaign would fail too.
CAMPAIGN_FATAL_CODES = frozenset({132001, 132015, 132016, 131055, 200})
_NEW, _RUNNING, _ENDED = 0, 1, 2


class CampaignAPI(Protocol):
    """What the bulk sender needs from a client (``D360Client`` provides it)."""

    def send(
        self,
        body: bytes,
        to: str,
        *,
        on_wire: Callable[[], Awaitable[None]],
        on_refused: Callable[[], Awaitable[None]],
        hold: bool = True,
    ) -> Awaitable[Any]:
        """POST one marketing message: ``body`` is its JSON (from ``encode_message``), sent as
        is; ``to`` its recipient (for the limiter's per-recipient key). ``on_wire`` is
        awaited once before the request may be acted upon: with ``hold``, once the request
        is written but its body's last byte, which goes when ``on_wire`` returned (a
        journal's ``pending`` commit); without, when the connection is obtained.
        ``on_refused`` is awaited when a written attempt was certainly refused and will be
        retried (``on_wire`` runs again before the retry can be acted upon)."""
        ...

    async def find_template(self, name: str, language: str) -> MessageTemplate | None:
        """The template ``name`` in ``language``, or None."""
        ...

    def concurrency(self, concurrency: Concurrency, scope: Scope) -> int | AdaptiveConcurrency:
        """A run's concurrency: an int as given, or ``"auto"`` as a fresh controller."""
        ...


def _is_fatal(error: D360Error) -> bool:
    """Whether every further message of the campaign would fail the same way."""
    if isinstance(
        error, (AuthenticationError, PermissionDeniedError, RedirectError, LimiterUnavailableError)
    ):
        return True
    if isinstance(error, ClientClosedError):
        return True
    return isinstance(error, APIStatusError) and error.code in CAMPAIGN_FATAL_CODES


class _Results:
    """What ``async for`` iterates. When the loop drops it (``break``, an exception in the
    loop's body), CPython frees it at once: the run stops there, before any other step."""

    __slots__ = ("_gen", "_run")

    def __init__(self, run: BulkRun, gen: AsyncGenerator[SendResult, None]) -> None:
        self._run = run
        self._gen = gen

    def __aiter__(self) -> _Results:
        return self

    def __anext__(self) -> Awaitable[SendResult]:
        closing = self._run._closing
        if closing is not None:  # closed meanwhile (by another task): the loop just ends
            return _ended(closing)
        return self._gen.__anext__()

    def __del__(self) -> None:
        self._run._abandoned()


class BulkRun:
    """A campaign in progress; made by ``D360Client.send_bulk``.

    Iterate it once for one ``SendResult`` per message (in completion order), then read
    ``report``; or ``await run.run()`` to go to the end without keeping results.

    Stopping early is safe: after ``break``, ``aclose()``, leaving ``async with run:`` or
    cancelling the task, no new request starts; requests already written end as ``unknown``
    (the journal says so), the others are left unsent (a re-run with the journal sends them),
    and ``report`` is there at once, marked ``interrupted`` (``await run.aclose()`` waits until
    the requests that were in flight are recorded). Results the loop did not get are in
    ``leftover_results()``.

    Example:
        >>> async def campaign(client: D360Client, numbers: list[str]) -> BulkReport:
        ...     messages = ({"to": n, "template": {"name": "promo", "language": {"code": "en"}}}
        ...                 for n in numbers)
        ...     return await client.send_bulk(messages, journal="promo.sqlite").run()
    """

    def __init__(
        self,
        api: CampaignAPI,
        messages: Iterable[MessageInput] | AsyncIterable[MessageInput],
        *,
        concurrency: Concurrency,
        journal: str | os.PathLike[str] | CampaignJournal | None,
        campaign_id: str | None,
        on_progress: Callable[[BulkReport], object] | None,
        preflight: bool,
        dedupe: bool,
        resend_unknown: bool,
        resend_unknown_after: float | timedelta | None,
        preflight_window: int,
        progress_interval: float,
    ) -> None:
        check_options(
            messages=messages,
            concurrency=concurrency,
            campaign_id=campaign_id,
            on_progress=on_progress,
            flags={"preflight": preflight, "dedupe": dedupe, "resend_unknown": resend_unknown},
            preflight_window=preflight_window,
            progress_interval=progress_interval,
        )
        store = journal_of(journal)
        if campaign_id is not None and store is None:
            raise ValidationError(
                "campaign_id", "names the campaign a journal belongs to: pass journal= too"
            )
        self._api = api
        self._messages = messages
        self._concurrency = concurrency
        after = resend_window(resend_unknown, resend_unknown_after, store)
        self._journal = (
            RunJournal(store, campaign_id=campaign_id, dedupe=dedupe, resend_after=after)
            if store is not None
            else None
        )
        self._admission = Admission(dedupe=dedupe)
        self._on_progress = on_progress
        self._progress_failed = False
        self._preflight = preflight
        self._window = preflight_window
        self._interval = progress_interval
        self._counts = Counts()
        # (name, language) -> what its messages must carry, or why it cannot be used
        self._templates = TemplateChecks(api.find_template)
        self._stopped: str | None = None
        self._started = 0.0
        self._last_progress = 0.0
        self._report: BulkReport | None = None
        self._state = _NEW
        self._interrupted = False
        self._crew = Crew()
        self._gen: AsyncGenerator[SendResult, None] | None = None
        self._closing: asyncio.Task[None] | None = None
        self._ended = asyncio.Event()
        self._leftover: list[SendResult] = []
        self._keep = True  # False in run(): sent messages are counted, no SendResult is made

    @property
    def report(self) -> BulkReport:
        """The final counts once the run ended; after an early exit, at once (counting what
        had ended so far until the run is closed).

        Raises:
            BulkRunError: The run has not started, or is still going.
        """
        if self._report is not None:
            return self._report
        if self._interrupted:
            return self.snapshot()
        raise BulkRunError("the campaign has not finished: iterate it or await run()")

    def snapshot(self) -> BulkReport:
        """The counts so far."""
        counts = self._counts
        return BulkReport(
            total=counts.total,
            sent=counts.sent,
            failed=counts.failed,
            skipped=counts.skipped,
            unknown=counts.unknown,
            elapsed=time.perf_counter() - self._started if self._started else 0.0,
            stopped=self._stopped,
            interrupted=self._interrupted,
        )

    def leftover_results(self) -> list[SendResult]:
        """Results the ``async for`` loop did not get because it stopped early: those that
        were waiting to be handed over, and sends in flight at the stop (``unknown`` when their
        request had been written). With the results the loop got, one per message counted in
        ``report``."""
        return list(self._leftover)

    async def run(self) -> BulkReport:
        """Send the whole campaign, keep no results, return the final report (marked
        ``interrupted`` if ``aclose()`` stopped it)."""
        self._begin()
        self._keep = False
        try:
            await self._open()
            async with self._admitted() as items:
                await bounded_each(items, self._one, self._fanout(), crew=self._crew)
            await self._end()
        except BaseException as exc:
            self._fail(exc)
            raise
        finally:
            await self._close()
        return self.report

    def __aiter__(self) -> AsyncIterator[SendResult]:
        self._begin()
        self._gen = self._iterate()
        return _Results(self, self._gen)

    async def __aenter__(self) -> BulkRun:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop now: no new request starts; wait until what was in flight is recorded and
        the journal is closed. Does nothing once the run has ended."""
        if self._state != _RUNNING:
            return
        self._interrupt()
        gen = self._gen
        if self._closing is None and gen is not None and not _running(gen):
            # In a task of its own: the loop's next ``anext`` (this task's or another's) then
            # waits for it and ends, instead of finding the generator already running.
            self._closing = asyncio.get_running_loop().create_task(gen.aclose())
        if self._closing is not None:
            await asyncio.shield(self._closing)
        else:  # run() or the iteration is in another task: it ends now that the crew stopped
            await self._ended.wait()

    # -- lifecycle ------------------------------------------------------------------------

    def _begin(self) -> None:
        if self._state != _NEW:
            raise BulkRunError("a BulkRun can be iterated only once")
        self._state = _RUNNING
        self._started = time.perf_counter()

    def _interrupt(self) -> None:
        """Stop synchronously: every worker is cancelled before it runs another step."""
        if self._state == _RUNNING and not self._interrupted:
            self._interrupted = True
            self._crew.stop()

    def _abandoned(self) -> None:
        """The ``async for`` loop dropped its iterator without finishing (``break``)."""
        if self._state != _RUNNING or self._gen is None:
            return
        self._interrupt()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop: the generator's finalizer closes it
            return
        if self._closing is None and not _running(self._gen):
            self._closing = loop.create_task(self._gen.aclose())

    async def _iterate(self) -> AsyncGenerator[SendResult, None]:
        try:
            await self._open()
            async with (
                self._admitted() as items,
                aclosing(
                    bounded_map(
                        items,
                        self._one,
                        self._fanout(),
                        crew=self._crew,
                        leftover=self._left,
                    )
                ) as results,
            ):
                async for result in results:
                    assert result is not None  # results are kept when iterating
                    yield result
            await self._end()
        except BaseException as exc:  # GeneratorExit (aclose, break), cancellation, errors
            self._fail(exc)
            raise
        finally:
            await self._close()

    def _left(self, result: SendResult | None) -> None:
        if result is not None:
            self._leftover.append(result)

    def _fanout(self) -> int | AdaptiveConcurrency:
        """This run's concurrency: an int, or the ``"auto"`` controller (a fresh one)."""
        return self._api.concurrency(self._concurrency, Scope.MESSAGES)

    async def _open(self) -> None:
        if self._journal is not None:
            await self._journal.open()

    async def _end(self) -> None:
        if self._journal is not None:
            await self._journal.journal.flush()

    def _fail(self, exc: BaseException) -> None:
        self._interrupted = True
        self._crew.stop()
        if self._stopped is None and isinstance(exc, JournalError):
            self._stopped = f"campaign stopped: {exc}"

    async def _close(self) -> None:
        self._templates.cancel()
        try:
            if self._journal is not None:
                await self._journal.journal.close()
        finally:
            self._report = self.snapshot()
            self._state = _ENDED
            self._ended.set()
            self._progress(final=True)

    # -- counting -------------------------------------------------------------------------

    def _done(self, result: SendResult) -> SendResult:
        self._count(result.status)
        return result

    def _count(self, status: SendStatus) -> None:
        self._counts.add(status)
        if self._on_progress is not None:
            self._progress(final=False)

    def _progress(self, *, final: bool) -> None:
        callback = self._on_progress
        if callback is None:
            return
        now = time.perf_counter()
        if final or now - self._last_progress >= self._interval:
            self._last_progress = now
            try:
                callback(self._report if final and self._report else self.snapshot())
            except Exception as exc:  # a callback must not kill a campaign
                if not self._progress_failed:
                    self._progress_failed = True
                    logger.warning(
                        "on_progress raised %s; the campaign goes on (later errors of the "
                        "callback are not logged)",
                        type(exc).__name__,
                    )

    # -- input ----------------------------------------------------------------------------

    @asynccontextmanager
    async def _admitted(
        self,
    ) -> AsyncGenerator[Iterable[Item | SendResult] | AsyncIterable[Item | SendResult], None]:
        source = await self._source()
        try:
            yield source
        finally:
            if isinstance(source, AsyncGenerator):
                await source.aclose()

    async def _source(self) -> Iterable[Item | SendResult] | AsyncIterable[Item | SendResult]:
        """The admitted messages, preflight done. A sync input without a journal stays a plain
        iterator (the fast path: workers share it without a lock); otherwise an async one."""
        if isinstance(self._messages, AsyncIterable) or self._journal is not None:
            return self._items()
        admitted = map(self._admission.admit, count(), self._messages)
        if not self._preflight:
            return admitted
        window = list(islice(admitted, self._window))
        await self._templates.preflight(window)
        return chain(window, admitted)

    async def _items(self) -> AsyncGenerator[Item | SendResult, None]:
        """Async input or a journal: admitted one by one, in input order. Nothing is handed
        out before preflight passed and the journal was found to be this campaign's."""
        journal = self._journal
        held: list[Item | SendResult] = []
        admitted = isinstance(self._messages, AdmittedItems)  # a worker's claimed items
        preflight_due = self._preflight and not admitted
        index = 0
        async for message in _aiterate(self._messages):
            item: Item | SendResult = (
                cast(Item, message) if admitted else self._admission.admit(index, message)
            )
            if journal is not None:
                item = journal.item(item)
                await journal.consult(item)
            holding = journal is not None and journal.holds(item.index)
            index += 1
            if not preflight_due and not holding and not held:
                yield item
                continue
            held.append(item)
            if preflight_due and len(held) >= self._window:
                await self._templates.preflight(held)
                preflight_due = False
            if not preflight_due and not holding:
                for item in held:
                    yield item
                held.clear()
        if preflight_due:  # fewer messages than the preflight window
            await self._templates.preflight(held)
        for item in held:
            yield item

    # -- sending --------------------------------------------------------------------------

    async def _one(self, item: Item | SendResult) -> SendResult | None:
        """Send one admitted message (or pass a decided result on) and count the outcome.

        Returns the result, or None for a sent message when results are not kept (``run()``).
        """
        if type(item) is SendResult:
            return self._done(item)
        journal = self._journal
        if journal is not None and item.decided is not None:  # type: ignore[union-attr]
            return self._done(journal.decided(item))  # type: ignore[arg-type]
        assert isinstance(item, Item)
        if self._stopped is not None:
            return self._settle(item, SendStatus.SKIPPED, None, self._stopped)
        if self._preflight and not self._templates.fits(item.shape):
            # not the common case (a known template, a fitting message): what is wrong?
            try:
                problem = await self._templates.check(item)
            except APIError as exc:  # the lookup failed: this message fails, nothing cached
                key = item.shape.template
                reason = f"template {key[0]!r} ({key[1]}) could not be looked up: {exc}"
                return self._settle(item, SendStatus.FAILED, exc, reason)
            if problem is not None:
                return self._settle(
                    item,
                    SendStatus.FAILED,
                    ValidationError("template", problem.summary),
                    problem.summary,
                )
        try:
            data = await self._api.send(
                item.body,
                item.to,
                on_wire=item,
                on_refused=item.refused,
                hold=journal is not None,  # a pending row lands before the last byte goes
            )
        except ClaimLostError as exc:  # another worker has it now: neither sent nor ours to record
            return self._done(
                SendResult(index=item.index, to=item.to, status=SendStatus.SKIPPED, reason=str(exc))
            )
        except (APIError, LimiterUnavailableError) as exc:  # the limiter: certainly not sent
            status = SendStatus.UNKNOWN if may_have_been_acted_upon(exc) else SendStatus.FAILED
            if _is_fatal(exc) and self._stopped is None:
                self._stopped = f"campaign stopped after message {item.index}: {exc}"
            return self._settle(item, status, exc, None)
        except BaseException as exc:  # an early exit (cancelled), or what no send should raise
            self._unfinished(item, exc)
            raise
        message_id = _message_id(data)
        if journal is not None:
            journal.sent(item, message_id)
        if not self._keep:  # run(): count it, no result object
            self._count(SendStatus.SENT)
            return None
        return self._done(
            SendResult(index=item.index, to=item.to, status=SendStatus.SENT, message_id=message_id)
        )

    def _settle(
        self, item: Item, status: SendStatus, error: D360Error | None, reason: str | None
    ) -> SendResult:
        """Count (and journal) the outcome of a message that was not accepted."""
        if self._journal is not None:
            self._journal.outcome(item, status, error)
        return self._done(
            SendResult(index=item.index, to=item.to, status=status, error=error, reason=reason)
        )

    def _unfinished(self, item: Item, exc: BaseException) -> None:
        """A send ended by an exception (the cancellation of an early exit, or anything
        unexpected) ends by rule 1: unknown once its request may have been written, else
        unsent (and uncounted: a re-run sends it)."""
        if item.wire == 2:
            why = "stopped" if isinstance(exc, asyncio.CancelledError) else type(exc).__name__
            result = self._settle(
                item, SendStatus.UNKNOWN, None, f"{why} while its request was on the wire"
            )
            if self._keep:
                self._leftover.append(result)
        elif self._journal is not None:
            self._journal.not_written(item)


async def _ended(closing: asyncio.Task[None]) -> SendResult:
    """The ``anext`` of a run closed while its loop was in its body."""
    await asyncio.shield(closing)
    raise StopAsyncIteration


def _running(gen: AsyncGenerator[Any, None]) -> bool:
    """Whether the generator is executing (inside ``__anext__``, possibly in another task)."""
    return bool(getattr(gen, "ag_running", False))


def _message_id(data: Any) -> str | None:
    try:
        message_id = data["messages"][0]["id"]
    except (KeyError, IndexError, TypeError):
        return None
    return message_id if isinstance(message_id, str) else None


async def _aiterate(items: Iterable[T] | AsyncIterable[T]) -> AsyncGenerator[T, None]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item
