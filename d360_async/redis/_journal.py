"""``RedisJournal``: the ``CampaignJournal`` of one worker of a campaign kept in Redis.

The worker's messages come from the campaign's queue (``ClaimedMessages``); for each one it
knows the entry it was claimed with and the state it had (a ``Claim``). Every change is a
compare-and-set in one script (``_scripts.APPLY``), from the state this worker last saw, and
only while the message is still this worker's: a worker that stalled past the idle timeout and
lost a message to another can neither send it (``mark_pending`` raises ``ClaimLostError``) nor
overwrite what the other recorded.

Writer tasks (``lanes``, each on its own connection) send the changes in batches (group
commit), several batches in flight at once, and each message's changes in the order they were
made: a batch never takes a change of a message that a batch in flight holds, nor one queued
behind such a change (a restore overtaken by the next pending mark of its message would leave
the message on the wire with the wrong state). Messages are independent of each other (each
script changes a message from the state its worker last saw; counts are sums), so batches of
different messages may be applied in any order. A batch tried again after its answer was lost
changes nothing twice (``_scripts.APPLY``).

- ``mark_pending`` (the transport's ``on_wire``) goes at once, with every change waiting, in
  the first free lane, and returns once the state is in Redis: nothing is written on the wire
  before. With one lane, a mark made just after a batch left would wait for nearly two round
  trips.
- Outcomes (``record``) and restores wait up to ``linger`` seconds for the next batch, so that
  at a low rate they ride along with the next pending mark: about one round trip per message
  for the journal, however slow the campaign. A worker killed meanwhile leaves those messages
  ``pending``: whoever claims them next records them ``unknown`` (their requests were written),
  and their status webhooks settle them.
- A message this worker will not send because the run stopped (``skipped``, or ``failed``
  because the limiter, the journal or the client gave out) goes back to the queue untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Final

import orjson
import redis.asyncio as aioredis

from d360_async._campaign_journal import (
    DELIVERY_RANKS,
    RECIPIENT_MATCH_SLACK,
    ClaimLostError,
    DeliveryMatch,
    DeliveryReport,
    DeliveryUpdate,
    JournalError,
    JournalRow,
    MessagedRecipients,
)

from ._layout import decided_value, row_of
from ._report import delivery_counts
from ._store import CampaignStore

__all__ = ["LANES", "MAX_LANES", "Claim", "Claims", "RedisJournal", "campaign_journal"]

#: The error after which the worker runs again (Redis is away: it may come back).
_LIMITER_GAVE_OUT: Final = "LimiterUnavailableError"
#: Errors after which the message was certainly not sent and nothing about it is wrong: the
#: run gave out. Their messages go back to the queue instead of ending ``failed``.
_RUN_GAVE_OUT: Final = frozenset(
    {_LIMITER_GAVE_OUT, "ClientClosedError", "JournalError", "JournalUnavailableError"}
)
_MAX_BATCH: Final = 500
#: Batches in flight at once by default (each on its own connection of the campaign's pool).
#: Two: with one, the sends whose marks wait for the batch in flight all go on together when
#: the next one returns, and the worker runs in waves, each waiting for Redis in turn; two
#: cost a few more, smaller batches (0.13 script calls per message against 0.09-0.11) and
#: were faster in every measured round, Redis sharing the worker's CPU
#: (``benchmarks/README.md``).
LANES: Final = 2
#: At most (the store's pool is 8 connections; claims and the heartbeat use one each).
MAX_LANES: Final = 4
_APPLIED: Final = ord("1")
_MATCHES: Final = {
    0: DeliveryMatch.NONE,
    1: DeliveryMatch.MESSAGE,
    2: DeliveryMatch.SETTLED,
    3: DeliveryMatch.IN_FLIGHT,
}


class Claim:
    """A message this worker holds: its queue entry, the state it had when claimed, and the
    pending state this worker wrote (None when not on the wire)."""

    __slots__ = ("entry", "pending", "seen", "written")

    def __init__(self, entry: str, seen: str, written: float | None = None) -> None:
        self.entry = entry
        self.seen = seen
        self.written = written
        self.pending: str | None = None


class Claims(dict[int, Claim]):
    """The messages a worker holds, by position; shared by its source and its journal.

    ``stopped`` is set once the run gave a message back (it stopped: the source claims
    nothing more); ``limiter_gave_out`` once a message failed because the rate limiter was
    unavailable (the worker tries again); ``nudge`` (set by the journal) writes waiting
    outcomes now; ``settle`` is how a source that found nothing to claim waits before it looks
    again (the campaign ends only once every outcome is written).
    """

    stopped = False
    limiter_gave_out = False

    def nudge(self) -> None:
        """Write what waits now (replaced by the journal's writer)."""

    async def settle(self, wait: float) -> None:
        """Wait ``wait`` seconds (replaced by the journal: less once this worker's last
        outcomes are written)."""
        await asyncio.sleep(wait)


def back_to_queue(status: str, error: str | None) -> bool:
    """Whether an outcome says the run, not the message, stopped the send: the message was
    certainly not sent and goes back to the queue.

    Example:
        >>> back_to_queue("skipped", "campaign stopped")
        True
        >>> back_to_queue("failed", "APIStatusError 400 #131026")
        False
    """
    if status == "skipped":  # a worker skips only when its run stopped (no de-duplication)
        return True
    return status == "failed" and _error_class(error) in _RUN_GAVE_OUT


def _error_class(error: str | None) -> str:
    """The class named by an error label (``error_label``): its first word."""
    return (error or "").split(" ", 1)[0]


class RedisJournal:
    """The journal of one worker (made by ``run_worker``).

    Args:
        store: The campaign.
        worker: This worker's name in the campaign's consumer group.
        claims: The messages it holds (shared with its ``ClaimedMessages``).
        linger: Seconds an outcome may wait for the next batch.
        patience: Seconds a batch is tried again while Redis is unavailable (sends wait
            meanwhile: nothing is sent without its state recorded) before the journal fails.
        owns_store: Close the store with the journal.
        lanes: Batches in flight at once (at most the store's connections, less those the
            claims and the heartbeat use).
    """

    __slots__ = (
        "_busy",
        "_claims",
        "_drained",
        "_error",
        "_futures",
        "_idle",
        "_in_flight",
        "_lanes",
        "_linger",
        "_ops",
        "_owns_store",
        "_patience",
        "_store",
        "_tasks",
        "_timer",
        "_wake",
        "_worker",
    )

    def __init__(
        self,
        store: CampaignStore,
        worker: str,
        claims: Claims,
        *,
        linger: float = 0.05,
        patience: float = 0.0,
        owns_store: bool = False,
        lanes: int = LANES,
    ) -> None:
        self._owns_store = owns_store
        self._lanes = lanes
        self._patience = patience
        self._store = store
        self._worker = worker
        self._claims = claims
        self._linger = linger
        self._ops: list[tuple[str, str, str, str, str]] = []
        self._futures: list[asyncio.Future[bool] | None] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        #: Set when this worker's last claimed message was decided.
        self._drained = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: list[asyncio.Task[None]] = []
        #: Positions of the messages in the batches in flight; how many batches are.
        self._busy: set[str] = set()
        self._in_flight = 0
        self._error: JournalError | None = None

    def __repr__(self) -> str:
        return f"RedisJournal({self._store.campaign_id!r}, worker={self._worker!r})"

    def __str__(self) -> str:
        return f"redis campaign {self._store.campaign_id!r}"

    async def open(self, campaign_id: str | None, *, shared: bool = False) -> int | None:
        """Start the writer. The campaign was opened (and its identity checked message by
        message) when it was enqueued. ``shared`` changes nothing: a campaign in Redis is
        shared by design (each message is claimed by one worker at a time; a tracker only
        records statuses).

        Raises:
            JournalError: ``campaign_id`` names another campaign.
        """
        if campaign_id is not None and campaign_id != self._store.campaign_id:
            raise JournalError(
                f"this worker serves campaign {self._store.campaign_id!r}, not {campaign_id!r}"
            )
        if not self._store.salt:
            await self._store.open(create=False)
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._write()) for _ in range(self._lanes)]
            self._claims.nudge = self._nudge  # type: ignore[method-assign]
            self._claims.settle = self._settle  # type: ignore[method-assign]
        return None

    def digest(self, data: bytes) -> str:
        """The campaign's keyed digest of ``data``."""
        return self._store.digest(data)

    async def prior(self, index: int) -> JournalRow | None:
        """What the campaign says of message ``index`` (as claimed)."""
        claim = self._claims.get(index)
        return None if claim is None else row_of(index, claim.seen, claim.written)

    async def mark_pending(self, index: int, recipient: str, fingerprint: str) -> None:
        """Record in Redis that message ``index`` is about to be written.

        Raises:
            ClaimLostError: Another worker has it now (or decided it): not to be sent.
            JournalError: It could not be recorded (Redis unavailable): not to be sent.
        """
        claim = self._claims.get(index)
        if claim is None:
            raise ClaimLostError(f"message {index} is not this worker's")
        pending = claim.pending = f"p{recipient}{fingerprint}{self._worker}"
        future = self._ask(("P", str(index), claim.entry, claim.seen, pending))
        if not await future:
            claim.pending = None
            self._release(index)
            raise ClaimLostError(
                f"message {index} was taken over by another worker (this one stalled past the "
                "idle timeout); this worker did not send it"
            )

    def record(
        self,
        index: int,
        recipient: str,
        fingerprint: str,
        status: str,
        message_id: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record an outcome (with the next batch); a message the run did not send because it
        stopped goes back to the queue."""
        if _error_class(error) == _LIMITER_GAVE_OUT:
            self._claims.limiter_gave_out = True
        claim = self._release(index)
        if claim is None:
            return
        if back_to_queue(status, error) and claim.pending is None:
            self._claims.stopped = True
            self._put(("X", str(index), claim.entry, "", ""))
            return
        new = decided_value(status, recipient + fingerprint, message_id, error)
        self._put(("O", str(index), claim.entry, claim.pending or claim.seen, new))

    def restore(self, index: int, prior: JournalRow | None) -> None:
        """Take back this worker's pending mark of message ``index`` (its request was not
        written): its state is again the one it was claimed with."""
        claim = self._claims.get(index)
        if claim is None or claim.pending is None:
            return
        self._put(("R", str(index), claim.entry, claim.pending, claim.seen))
        claim.pending = None

    async def flush(self) -> None:
        """Wait until every change so far is in Redis.

        Raises:
            JournalError: Some of it could not be written.
        """
        if self._ops:
            self._wake.set()
        await self._idle.wait()
        if self._error is not None:
            raise _same(self._error)

    async def find_message(self, message_id: str) -> JournalRow | None:
        """The state of the message accepted with ``message_id``, or None."""
        position = await self._store.command("HGET", self._store.keys.ids, message_id)
        if position is None:
            return None
        value = await self._store.command("HGET", self._store.keys.state, position)
        return None if value is None else row_of(int(position), value.decode())

    async def messaged(self) -> MessagedRecipients:
        """None: the producer de-duplicated recipients once, for every worker (``open``
        returns None, so a run never asks)."""
        return MessagedRecipients()

    async def record_deliveries(self, updates: Sequence[DeliveryUpdate]) -> list[DeliveryMatch]:
        """Record status webhooks against the campaign (one round trip): see
        ``_scripts.DELIVER`` for the matching, the rules of ``CampaignJournal``.

        Raises:
            JournalError: They could not be recorded (deliver the webhook again).
        """
        args: list[object] = [RECIPIENT_MATCH_SLACK]
        for update in updates:
            rank = DELIVERY_RANKS.get(update.status)
            if rank is None:
                continue
            code = "" if update.error_code is None else str(update.error_code)
            args.extend(
                (update.message_id, rank, code, repr(update.timestamp), update.recipient or "")
            )
        found = iter(await self._store.call("deliver", args) if len(args) > 1 else [])
        return [
            _MATCHES[next(found)] if update.status in DELIVERY_RANKS else DeliveryMatch.NONE
            for update in updates
        ]

    async def delivery_report(self) -> DeliveryReport:
        """The campaign's messages by outcome and by their most advanced status."""
        return (await delivery_counts(self._store)).deliveries

    async def close(self) -> None:
        """Send back to the queue the messages this worker holds and never sent, write
        everything, stop the writer."""
        for index, claim in list(self._claims.items()):
            if claim.pending is None:
                del self._claims[index]
                self._put(("X", str(index), claim.entry, "", ""))
        tasks, self._tasks = self._tasks, []
        if not tasks:
            if self._owns_store:
                await self._store.aclose()
            return
        try:
            if self._error is None:
                with contextlib.suppress(JournalError):  # already raised by flush(), or lost
                    await self.flush()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if self._owns_store:
                await self._store.aclose()

    # -- the writer ------------------------------------------------------------------------

    def _nudge(self) -> None:
        if self._ops:
            self._wake.set()

    async def _settle(self, wait: float) -> None:
        """Wait up to ``wait`` seconds for this worker's messages to be decided, and write
        their outcomes at once: back early only when something was recorded or written
        meanwhile (the campaign may be done), so a worker with nothing left polls."""
        loop = asyncio.get_running_loop()
        until = loop.time() + wait
        drained = self._drained
        drained.clear()
        if self._claims:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(until):
                    await drained.wait()
        if self._ops or self._in_flight:
            with contextlib.suppress(JournalError):  # raised by the next mark_pending or flush
                await self.flush()
            return
        if not drained.is_set():
            await asyncio.sleep(max(0.0, until - loop.time()))

    def _release(self, index: int) -> Claim | None:
        """Drop message ``index`` from the claims (decided, or not this worker's)."""
        claim = self._claims.pop(index, None)
        if not self._claims:
            self._drained.set()
        return claim

    def _put(self, op: tuple[str, str, str, str, str]) -> None:
        """Queue a change for the next batch (within ``linger``)."""
        if self._error is not None:
            return  # surfaces from the next mark_pending or flush
        self._ops.append(op)
        self._futures.append(None)
        self._idle.clear()
        if self._timer is None and not self._wake.is_set():
            self._timer = asyncio.get_running_loop().call_later(self._linger, self._wake.set)

    def _ask(self, op: tuple[str, str, str, str, str]) -> asyncio.Future[bool]:
        """Queue a change for a batch now; the future says whether it applied."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if self._error is not None:
            future.set_exception(_same(self._error))
            return future
        self._ops.append(op)
        self._futures.append(future)
        self._idle.clear()
        self._wake.set()
        return future

    async def _write(self) -> None:
        """One lane: send the queued changes it may take, as many at once as are waiting."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            while self._error is None and (batch := self._take()):
                if not await self._send(*batch):
                    return
            if not self._ops and not self._in_flight:
                self._idle.set()

    def _take(
        self,
    ) -> tuple[list[tuple[str, str, str, str, str]], list[asyncio.Future[bool] | None]] | None:
        """The next batch: the first queued changes (up to ``_MAX_BATCH``) of messages no batch
        in flight holds and with no earlier change held back; the others stay queued, in order.
        None when there is none."""
        busy = self._busy
        held: set[str] = set()
        ops: list[tuple[str, str, str, str, str]] = []
        futures: list[asyncio.Future[bool] | None] = []
        kept_ops: list[tuple[str, str, str, str, str]] = []
        kept_futures: list[asyncio.Future[bool] | None] = []
        for op, future in zip(self._ops, self._futures, strict=True):
            position = op[1]
            if len(ops) < _MAX_BATCH and position not in busy and position not in held:
                ops.append(op)
                futures.append(future)
            else:
                held.add(position)
                kept_ops.append(op)
                kept_futures.append(future)
        if not ops:
            return None
        self._ops, self._futures = kept_ops, kept_futures
        busy.update(op[1] for op in ops)
        return ops, futures

    async def _send(
        self,
        ops: list[tuple[str, str, str, str, str]],
        futures: list[asyncio.Future[bool] | None],
    ) -> bool:
        """Apply one batch (tried again while Redis is unavailable, up to ``patience``);
        False once the journal failed."""
        self._in_flight += 1
        args = [self._worker, orjson.dumps([part for op in ops for part in op])]
        error: JournalError | None = None
        try:
            results = await self._store.call_patiently("apply", args, self._patience)
        except JournalError as exc:
            error = exc
        finally:
            self._in_flight -= 1
            self._busy.difference_update(op[1] for op in ops)
            if self._ops:
                self._wake.set()  # what waited for these messages may leave, in a free lane
        if error is not None:
            self._fail(error, futures)
            return False
        for future, applied in zip(futures, results, strict=True):
            if future is not None and not future.done():
                future.set_result(applied == _APPLIED)
        return True

    def _fail(self, exc: JournalError, futures: list[asyncio.Future[bool] | None]) -> None:
        """Every waiting and later change fails with ``exc``; what was written stays (and the
        batches still in flight end as they end)."""
        self._error = exc
        for future in [*futures, *self._futures]:
            if future is not None and not future.done():
                future.set_exception(_same(exc))
        self._ops.clear()
        self._futures.clear()
        if not self._in_flight:
            self._idle.set()
        self._wake.set()  # the other lanes see the failure


def campaign_journal(
    redis: str | aioredis.Redis,
    campaign_id: str,
    *,
    prefix: str = "d360",
    redis_timeout: float = 5.0,
) -> RedisJournal:
    """The journal of campaign ``campaign_id`` for a ``DeliveryTracker``: status webhooks
    recorded against the campaign, from any host, while its workers send it.

    It holds no message: it records statuses and reports (``delivery_report``); closing it
    closes the connections it made.

    Example:
        >>> from d360_async import DeliveryTracker
        >>> tracker = DeliveryTracker(campaign_journal("redis://127.0.0.1:6379", "spring"))
        >>> str(tracker.journals[0])
        "redis campaign 'spring'"
    """
    store = CampaignStore(
        redis, campaign_id, prefix=prefix, timeout=redis_timeout, max_connections=2
    )
    return RedisJournal(store, "delivery-tracker", Claims(), owns_store=True, lanes=1)


def _same(error: JournalError) -> JournalError:
    """A fresh exception like ``error`` (one object is raised once)."""
    return type(error)(str(error))
