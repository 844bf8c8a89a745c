"""``run_worker``: one worker of a campaign kept in Redis, on the bulk sender's own engine.

The worker runs ``client.send_bulk`` over the messages it claims (``ClaimedMessages``, already
admitted by the producer) with a ``RedisJournal``: the same admission of results, preflight of
templates, circuit breaker, ``concurrency="auto"``, on-wire ``pending`` marks and outcome
rules as a campaign in one process. Only where messages come from and where states go differ.

When Redis goes away (a restart, a failover) the run stops as any journaled run does: nothing
is sent without its state recorded; the worker then tries again for ``reconnect_for`` seconds
and resumes where the campaign stands.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, cast

import redis.asyncio as aioredis

from d360_async._bulk_report import BulkReport
from d360_async._campaign_journal import JournalUnavailableError
from d360_async._concurrency import Concurrency
from d360_async._errors import ValidationError

from ._connect import positive
from ._journal import LANES, MAX_LANES, Claims, RedisJournal
from ._queue import ClaimedMessages
from ._store import CampaignStore

if TYPE_CHECKING:
    from d360_async._client import D360Client

__all__ = ["run_worker"]

_FIRST_RETRY: Final = 0.25
_LAST_RETRY: Final = 5.0


def _worker_name(worker: str | None) -> str:
    if worker is None:
        return f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(3)}"
    if not isinstance(worker, str) or not worker.strip() or len(worker) > 100:
        raise ValidationError("worker", "must be a name of 1 to 100 characters")
    if not worker.isprintable():
        raise ValidationError("worker", "must be printable")
    return worker


def _whole(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(name, "must be an integer of at least 1")
    return value


def _lanes(value: int) -> int:
    if _whole("lanes", value) > MAX_LANES:
        raise ValidationError("lanes", f"must be at most {MAX_LANES}")
    return value


class _Totals:
    """The worker's runs added up."""

    def __init__(self) -> None:
        self.reports: list[BulkReport] = []

    def add(self, report: BulkReport) -> None:
        self.reports.append(report)

    def report(self) -> BulkReport:
        reports = self.reports or [
            BulkReport(total=0, sent=0, failed=0, skipped=0, unknown=0, elapsed=0.0)
        ]
        last = reports[-1]
        return BulkReport(
            total=sum(r.total for r in reports),
            sent=sum(r.sent for r in reports),
            failed=sum(r.failed for r in reports),
            skipped=sum(r.skipped for r in reports),
            unknown=sum(r.unknown for r in reports),
            elapsed=sum(r.elapsed for r in reports),
            stopped=last.stopped,
            interrupted=last.interrupted,
        )


async def run_worker(
    client: D360Client,
    redis: str | aioredis.Redis,
    campaign_id: str,
    *,
    concurrency: Concurrency = "auto",
    worker: str | None = None,
    batch: int = 100,
    idle_timeout: float = 60.0,
    linger: float = 0.05,
    lanes: int = LANES,
    poll: float = 0.05,
    reconnect_for: float = 60.0,
    on_progress: Callable[[BulkReport], object] | None = None,
    prefix: str = "d360",
    redis_timeout: float = 5.0,
) -> BulkReport:
    """Send campaign ``campaign_id`` with ``client`` until every message of it is decided,
    together with any number of other workers (processes, hosts).

    Each message is sent at most once whichever worker sends it, as with ``send_bulk`` and a
    journal: a worker that dies leaves its messages to the others after ``idle_timeout``;
    those whose request it may have written are recorded ``unknown`` (status webhooks settle
    them), the others are sent.

    Args:
        client: The client sending (its rate limiter, retries, timeouts; share a limit with a
            ``RedisRateLimiter``).
        redis: A ``redis://`` URL or a ``redis.asyncio.Redis`` client (left open).
        campaign_id: The campaign, as enqueued by ``enqueue_campaign``.
        concurrency: Sends in flight in this worker: ``"auto"`` or an int.
        worker: This worker's name (default: host, process id and a random part). A worker
            restarted under the same name takes its unfinished messages back at once.
        batch: Messages claimed per round trip (the next claim is made while the second
            half of a full one is sent: a worker holds up to 1.5 times ``batch``).
        idle_timeout: Seconds after which a silent worker's messages are taken over (a live
            worker's heartbeat keeps them every third of it).
        linger: Seconds an outcome may wait to be written with the next pending mark.
        lanes: Journal batches in flight at once (1 to 4; each message's changes stay in
            order). More lanes: a pending mark waits less for the batch before it, at the cost
            of more, smaller batches (``benchmarks/README.md``).
        poll: Seconds between claims while there is nothing to take (doubling up to 1 s).
        reconnect_for: Seconds to keep trying while Redis is unreachable, then raise. Meanwhile
            nothing is sent (nothing without its state recorded); sends in flight end and
            their outcomes are written once Redis is back.
        on_progress: Called with each run's ``BulkReport`` (see ``send_bulk``).
        prefix: First part of every key.
        redis_timeout: Seconds any Redis call may take.

    Returns:
        What this worker did: ``skipped`` counts the messages it gave back to the queue (its
        run stopped) or lost to another worker. ``campaign_report`` has the campaign's figures.

    Raises:
        JournalError: There is no such campaign.
        JournalUnavailableError: Redis stayed unreachable for ``reconnect_for`` seconds.

    Example:
        >>> async def work(url: str) -> BulkReport:
        ...     async with D360Client() as client:
        ...         return await run_worker(client, url, "spring-2025")
    """
    name = _worker_name(worker)
    patience = positive("reconnect_for", reconnect_for)
    options = {
        "batch": _whole("batch", batch),
        "idle_timeout": positive("idle_timeout", idle_timeout),
        "linger": positive("linger", linger),
        "lanes": _lanes(lanes),
        "poll": positive("poll", poll),
        "concurrency": concurrency,
        "on_progress": on_progress,
        "patience": patience,
    }
    store = CampaignStore(
        redis, campaign_id, prefix=prefix, timeout=redis_timeout, max_connections=8
    )
    totals = _Totals()
    loop = asyncio.get_running_loop()
    outage: float | None = None
    delay = _FIRST_RETRY
    try:
        while True:
            error: JournalUnavailableError | None = None
            try:
                if not store.salt:
                    await store.open(create=False)
                report, gave_out = await _run(client, store, name, options)
                totals.add(report)
            except JournalUnavailableError as exc:
                error, gave_out = exc, True
            if not gave_out:
                return totals.report()
            now = loop.time()
            if totals.reports and totals.reports[-1].sent:
                outage, delay = None, _FIRST_RETRY  # it went on for a while: a new outage
            outage = now if outage is None else outage
            if now - outage >= patience:
                if error is not None:
                    raise error
                return totals.report()
            await asyncio.sleep(delay)
            delay = min(2 * delay, _LAST_RETRY)
    finally:
        await store.aclose()


async def _run(
    client: D360Client, store: CampaignStore, name: str, options: dict[str, Any]
) -> tuple[BulkReport, bool]:
    """One run of the engine over the worker's claims: its report, and whether it stopped
    because the rate limiter gave out (Redis unavailable: worth trying again).

    Raises:
        JournalUnavailableError: Redis became unavailable (the run's report is counted).
    """
    claims = Claims()
    source = ClaimedMessages(
        store,
        name,
        claims,
        batch=options["batch"],
        idle_timeout=options["idle_timeout"],
        poll=options["poll"],
        patience=options["patience"],
    )
    report = await client.send_bulk(
        # send_bulk's signature names what users pass; ClaimedMessages is the engine's own
        # input (AdmittedItems): messages the producer admitted, at their positions
        cast(Any, source),
        journal=RedisJournal(
            store,
            name,
            claims,
            linger=options["linger"],
            patience=options["patience"],
            lanes=options["lanes"],
        ),
        campaign_id=store.campaign_id,
        concurrency=options["concurrency"],
        dedupe=False,
        on_progress=options["on_progress"],
    ).run()  # no result per message: the journal notes a limiter that gave out
    return report, claims.limiter_gave_out
