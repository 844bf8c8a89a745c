"""``client.send_bulk``: a campaign of any size, streamed, concurrent, exactly once, resumable.

Every input message gets exactly one ``SendResult``: ``sent`` (accepted, with its id),
``failed`` (certainly not accepted), ``skipped`` (not sent on purpose: a duplicate recipient,
the campaign stopped, already sent in an earlier run) or ``unknown`` (may have been accepted:
a dropped connection, a read timeout, an ambiguous 5xx). Nothing is dropped silently and
nothing is sent twice unless asked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Mapping,
)
from contextlib import aclosing, asynccontextmanager
from enum import StrEnum
from itertools import chain, count, islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from ._concurrency import AdaptiveConcurrency, Concurrency, check_concurrency
from ._errors import (
    APIConnectionError,
    APIError,
    APIResponseError,
    APIStatusError,
    AuthenticationError,
    D360Error,
    LimiterUnavailableError,
    PermissionDeniedError,
    RateLimitError,
    ValidationError,
)
from ._fanout import bounded_each, bounded_map
from ._journal import Journal, JournalError
from ._limits import Scope
from ._models_messages import MarketingMessageRequest
from ._payloads import MessageInput, prepare_message
from ._recipients import RecipientSet, recipient_key
from ._retry import Safety

if TYPE_CHECKING:
    from ._client import D360Client

__all__ = ["BulkReport", "BulkRun", "PreflightError", "SendResult", "SendStatus"]

T = TypeVar("T")

#: Meta codes after which every further message of the campaign would fail too.
CAMPAIGN_FATAL_CODES = frozenset({132001, 132015, 132016, 131055, 200})
_AMBIGUOUS_STATUSES = frozenset({408, 500, 502, 504})
_SEND_PATH = "/marketing_messages"
_BODY = frozenset({"body", "BODY", "Body"})


class SendStatus(StrEnum):
    """What happened to one message of a campaign."""

    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"


@attrs.frozen(kw_only=True)
class SendResult:
    """The outcome of one input message.

    Attributes:
        index: Position of the message in the input (0-based).
        to: The recipient as given.
        status: sent, failed, skipped or unknown.
        message_id: The ``wamid`` of an accepted message.
        error: The error behind a failed or unknown message.
        reason: Why a message was skipped, failed locally or is unknown.

    Example:
        >>> SendResult(index=0, to="4915112345678", status=SendStatus.SENT).status
        <SendStatus.SENT: 'sent'>
    """

    index: int
    to: str
    status: SendStatus
    message_id: str | None = None
    error: D360Error | None = None
    reason: str | None = None


@attrs.frozen(kw_only=True)
class BulkReport:
    """Counts of a campaign (so far, or at the end).

    Example:
        >>> r = BulkReport(total=10, sent=8, failed=1, skipped=1, unknown=0, elapsed=2.0)
        >>> r.rate
        4.0
    """

    total: int
    sent: int
    failed: int
    skipped: int
    unknown: int
    elapsed: float
    stopped: str | None = None

    @property
    def rate(self) -> float:
        """Accepted messages per second."""
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0


class PreflightError(D360Error):
    """The campaign cannot work (a template missing or not approved, parameters that do not
    fit); nothing was sent.

    Attributes:
        problems: One line per problem.

    Example:
        >>> str(PreflightError(["template 'x' (en): not found"]))
        "preflight failed: template 'x' (en): not found"
    """

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("preflight failed: " + "; ".join(self.problems))


class _Item:
    """A message admitted for sending (internal; cheaper than an attrs class on the hot path)."""

    __slots__ = ("index", "payload", "to")

    def __init__(self, index: int, to: str, payload: dict[str, Any]) -> None:
        self.index = index
        self.to = to
        self.payload = payload


class _Counts:
    """Running totals (internal, updated once per message)."""

    __slots__ = ("failed", "sent", "skipped", "total", "unknown")

    def __init__(self) -> None:
        self.total = self.sent = self.failed = self.skipped = self.unknown = 0

    def add(self, status: SendStatus) -> None:
        self.total += 1
        if status is SendStatus.SENT:
            self.sent += 1
        elif status is SendStatus.FAILED:
            self.failed += 1
        elif status is SendStatus.SKIPPED:
            self.skipped += 1
        else:
            self.unknown += 1


def _body_params(payload: Mapping[str, Any]) -> int:
    components = payload["template"].get("components") or ()
    for component in components:
        if (type(component) is dict or isinstance(component, Mapping)) and component.get(
            "type"
        ) in _BODY:
            return len(component.get("parameters") or ())
    return 0


def _template_key(payload: Mapping[str, Any]) -> tuple[str, str]:
    template = payload["template"]
    return template["name"], template["language"]["code"]


def _is_fatal(error: D360Error) -> bool:
    if isinstance(error, (AuthenticationError, PermissionDeniedError, LimiterUnavailableError)):
        return True
    return isinstance(error, APIStatusError) and error.code in CAMPAIGN_FATAL_CODES


def _outcome(error: D360Error) -> SendStatus:
    """Failed when the message was certainly not accepted, else unknown."""
    if isinstance(error, RateLimitError):
        return SendStatus.FAILED
    if isinstance(error, APIConnectionError):
        return SendStatus.UNKNOWN if error.maybe_sent else SendStatus.FAILED
    if isinstance(error, APIStatusError):
        return SendStatus.UNKNOWN if error.status in _AMBIGUOUS_STATUSES else SendStatus.FAILED
    if isinstance(error, APIResponseError):
        return SendStatus.UNKNOWN  # a 2xx we could not read: probably accepted
    return SendStatus.FAILED


class BulkRun:
    """A campaign in progress; made by ``D360Client.send_bulk``.

    Iterate it once for one ``SendResult`` per input message (in completion order), then read
    ``report``; or ``await run.run()`` to go to the end without keeping results. To be able to
    leave the loop early, iterate inside ``async with``: leaving the block cancels what is in
    flight, records it in the journal and closes the journal.

    Example:
        >>> async def campaign(client: D360Client, numbers: list[str]) -> BulkReport:
        ...     messages = ({"to": n, "template": {"name": "promo", "language": {"code": "en"}}}
        ...                 for n in numbers)
        ...     return await client.send_bulk(messages, journal="promo.sqlite").run()
    """

    def __init__(
        self,
        client: D360Client,
        messages: Iterable[MessageInput] | AsyncIterable[MessageInput],
        *,
        concurrency: Concurrency,
        journal: str | Path | None,
        on_progress: Callable[[BulkReport], object] | None,
        preflight: bool,
        dedupe: bool,
        resend_unknown: bool,
        preflight_window: int,
        progress_interval: float,
    ) -> None:
        check_concurrency(concurrency)
        self._client = client
        self._transport = client._get_transport()
        self._messages = messages
        self._concurrency = concurrency
        self._journal = Journal(journal) if journal is not None else None
        self._on_progress = on_progress
        self._preflight = preflight
        self._seen = RecipientSet() if dedupe else None
        self._resend_unknown = resend_unknown
        self._window = preflight_window
        self._interval = progress_interval
        self._counts = _Counts()
        # (name, language) -> body placeholder count, or why the template cannot be used
        self._templates: dict[tuple[str, str], int | str] = {}
        self._stopped: str | None = None
        self._started = 0.0
        self._last_progress = 0.0
        self._report: BulkReport | None = None
        self._iterated = False
        self._results: AsyncGenerator[SendResult, None] | None = None
        self._keep = True  # False in run(): sent messages are counted, no SendResult is made
        self._fetching: dict[tuple[str, str], asyncio.Future[int | str]] = {}

    @property
    def report(self) -> BulkReport:
        """The final counts; available once the iteration has finished."""
        if self._report is None:
            raise RuntimeError("the campaign has not finished: iterate it or await run()")
        return self._report

    def snapshot(self) -> BulkReport:
        """The counts so far."""
        counts = self._counts
        return BulkReport(
            total=counts.total,
            sent=counts.sent,
            failed=counts.failed,
            skipped=counts.skipped,
            unknown=counts.unknown,
            elapsed=time.perf_counter() - self._started,
            stopped=self._stopped,
        )

    async def run(self) -> BulkReport:
        """Send the whole campaign, keep no results, return the final report."""
        await self._start()
        self._keep = False
        try:
            async with self._admitted() as items:
                await bounded_each(items, self._one, self._fanout())
            await self._end()
        finally:
            await self._close()
        return self.report

    def __aiter__(self) -> AsyncIterator[SendResult]:
        self._results = self._iterate()
        return self._results

    async def __aenter__(self) -> BulkRun:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop early: cancel what is in flight, record it, close the journal.

        Leaving an ``async for`` with ``break`` does not run this at once (Python closes an
        abandoned async generator later); use ``async with client.send_bulk(...) as run:``.
        """
        if self._results is not None:
            await self._results.aclose()

    async def _iterate(self) -> AsyncGenerator[SendResult, None]:
        await self._start()
        try:
            async with (
                self._admitted() as items,
                aclosing(bounded_map(items, self._one, self._fanout())) as results,
            ):
                async for result in results:
                    assert result is not None  # results are kept when iterating
                    yield result
            await self._end()
        finally:
            await self._close()

    def _fanout(self) -> int | AdaptiveConcurrency:
        """This run's concurrency: an int, or the ``"auto"`` controller (a fresh one)."""
        return self._client._concurrency(self._concurrency, Scope.MESSAGES)

    async def _start(self) -> None:
        if self._iterated:
            raise RuntimeError("a BulkRun can be iterated only once")
        self._iterated = True
        self._started = time.perf_counter()
        if self._journal is not None:
            await self._journal.open()

    async def _end(self) -> None:
        if self._journal is not None:
            await self._journal.flush()
        self._report = self.snapshot()
        self._progress(final=True)

    async def _close(self) -> None:
        if self._journal is not None:
            await self._journal.close()

    def _done(self, result: SendResult) -> SendResult:
        self._count(result.status)
        return result

    def _count(self, status: SendStatus) -> None:
        self._counts.add(status)
        if self._on_progress is not None:
            self._progress(final=False)

    def _progress(self, *, final: bool) -> None:
        if self._on_progress is None:
            return
        now = time.perf_counter()
        if final or now - self._last_progress >= self._interval:
            self._last_progress = now
            self._on_progress(self._report if final and self._report else self.snapshot())

    @asynccontextmanager
    async def _admitted(
        self,
    ) -> AsyncGenerator[Iterable[_Item | SendResult] | AsyncIterable[_Item | SendResult], None]:
        source = await self._source()
        try:
            yield source
        finally:
            if isinstance(source, AsyncGenerator):
                await source.aclose()

    async def _source(self) -> Iterable[_Item | SendResult] | AsyncIterable[_Item | SendResult]:
        """The admitted messages, preflight done. A sync input without a journal stays a plain
        iterator (the fast path: workers share it without a lock); otherwise an async one."""
        if isinstance(self._messages, AsyncIterable) or self._journal is not None:
            return self._items()
        admitted = map(self._admit, count(), self._messages)
        if not self._preflight:
            return admitted
        window = list(islice(admitted, self._window))
        await self._preflight_window(window)
        return chain(window, admitted)

    async def _items(self) -> AsyncGenerator[_Item | SendResult, None]:
        """Async input or a journal: admitted one by one, in input order."""
        held: list[_Item | SendResult] | None = [] if self._preflight else None
        index = 0
        async for message in _aiterate(self._messages):
            item = self._admit(index, message)
            index += 1
            if self._journal is not None and isinstance(item, _Item):
                item = await self._consult_journal(item)
            if held is None:
                yield item
                continue
            held.append(item)
            if len(held) >= self._window:
                await self._preflight_window(held)
                for item in held:
                    yield item
                held = None
        if held is not None:  # fewer messages than the preflight window
            await self._preflight_window(held)
            for item in held:
                yield item

    async def _preflight_window(self, window: list[_Item | SendResult]) -> None:
        """Raise ``PreflightError`` if the first messages show the campaign cannot work."""
        problems: list[str] = []
        for item in window:
            if isinstance(item, _Item):
                problem = await self._check(item)
                if problem and problem not in problems:
                    problems.append(problem)
        if problems:
            raise PreflightError(problems)

    def _admit(self, index: int, message: MessageInput) -> _Item | SendResult:
        """In input order: validate, de-duplicate."""
        try:
            payload = prepare_message(message)
        except ValidationError as exc:
            raw_to = (
                message.to
                if isinstance(message, MarketingMessageRequest)
                else message.get("to")
                if isinstance(message, Mapping)
                else None
            )
            return SendResult(
                index=index,
                to=raw_to if isinstance(raw_to, str) else "",
                status=SendStatus.FAILED,
                error=exc,
                reason=str(exc),
            )
        to: str = payload["to"]
        if self._seen is not None and not self._seen.add(to):
            return SendResult(
                index=index, to=to, status=SendStatus.SKIPPED, reason="duplicate recipient"
            )
        return _Item(index, to, payload)

    async def _consult_journal(self, item: _Item) -> _Item | SendResult:
        """What an earlier run did with this message decides whether it is sent again."""
        assert self._journal is not None
        index, to = item.index, item.to
        prior = await self._journal.prior(index)
        if prior is None:
            return item
        if prior.recipient != recipient_key(to):
            raise JournalError(
                f"journal {self._journal.path} holds another campaign: message {index} "
                "has a different recipient"
            )
        if prior.status == "sent":
            return SendResult(
                index=index,
                to=to,
                status=SendStatus.SKIPPED,
                message_id=prior.message_id,
                reason="already sent in an earlier run",
            )
        if prior.status in ("pending", "unknown") and not self._resend_unknown:
            if prior.status == "pending":  # in flight when an earlier run died
                self._journal.record(
                    index, prior.recipient, "unknown", error="in flight when a run stopped"
                )
            return SendResult(
                index=index,
                to=to,
                status=SendStatus.UNKNOWN,
                reason="outcome unknown in an earlier run; not sent again",
            )
        return item

    async def _check(self, item: _Item) -> str | None:
        """What prevents this message from working, or None (templates fetched once)."""
        key = _template_key(item.payload)
        expected = self._templates.get(key)
        if expected is None:
            fetching = self._fetching.get(key)
            if fetching is None:
                fetching = self._fetching[key] = asyncio.ensure_future(self._fetch_template(*key))
            expected = self._templates[key] = await fetching
        if isinstance(expected, str):
            return expected
        given = _body_params(item.payload)
        if given != expected:
            return (
                f"message {item.index}: {given} body parameter(s), template {key[0]!r} "
                f"({key[1]}) has {expected} placeholder(s)"
            )
        return None

    async def _fetch_template(self, name: str, language: str) -> int | str:
        """The template's body placeholder count, or what is wrong with it."""
        async for template in self._client.iter_message_templates(name=name, language=language):
            if template.name == name and template.language == language:
                if template.status != "APPROVED":
                    return f"template {name!r} ({language}) is {template.status}, not APPROVED"
                return template.body_placeholder_count
        return f"template {name!r} ({language}) not found"

    async def _one(self, item: _Item | SendResult) -> SendResult | None:
        """Send one admitted message (or pass a decided result on) and count the outcome.

        Returns the result, or None for a sent message when results are not kept (``run()``).
        """
        if isinstance(item, SendResult):
            return self._done(item)
        if self._stopped is not None:
            return self._done(
                SendResult(
                    index=item.index, to=item.to, status=SendStatus.SKIPPED, reason=self._stopped
                )
            )
        if self._preflight and self._templates.get(_template_key(item.payload)) != _body_params(
            item.payload
        ):  # not the common case (a known template, the right count): find out what is wrong
            problem = await self._check(item)
            if problem:
                return self._done(
                    SendResult(
                        index=item.index,
                        to=item.to,
                        status=SendStatus.FAILED,
                        error=ValidationError("template", problem),
                        reason=problem,
                    )
                )
        journal = self._journal
        key = recipient_key(item.to) if journal is not None else ""
        if journal is not None:
            try:
                await journal.mark_pending(item.index, key)
            except asyncio.CancelledError:
                journal.record(item.index, key, "failed", error="cancelled before sending")
                raise
        try:
            data = await self._transport.request(
                "POST", _SEND_PATH, safety=Safety.SEND, json_body=item.payload
            )
        except asyncio.CancelledError:
            if journal is not None:
                journal.record(item.index, key, "unknown", error="cancelled while sending")
            raise
        except (APIError, LimiterUnavailableError) as exc:  # the limiter: certainly not sent
            status = _outcome(exc)
            if _is_fatal(exc) and self._stopped is None:
                self._stopped = f"campaign stopped after message {item.index}: {exc}"
            if journal is not None:
                journal.record(item.index, key, status.value, error=str(exc))
            return self._done(SendResult(index=item.index, to=item.to, status=status, error=exc))
        if journal is not None:
            journal.record(item.index, key, "sent", _message_id(data))
        if not self._keep:  # run(): count it, no result object
            self._count(SendStatus.SENT)
            return None
        message_id = _message_id(data)
        return self._done(
            SendResult(index=item.index, to=item.to, status=SendStatus.SENT, message_id=message_id)
        )


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
