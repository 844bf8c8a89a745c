"""``ClaimedMessages``: a worker's share of a campaign, claimed from its Redis stream.

Each claim is one script (``_scripts.CLAIM``): up to ``batch`` new entries for this worker from
the consumer group, then, when new ones run short, entries another worker left unacknowledged
for longer than ``idle_timeout`` (it died, or stalled) with ``XAUTOCLAIM``; with each, the
state its message has. A message that is already decided is acknowledged there and never
handed out. The first claim also takes back this worker's own unacknowledged entries (the same
worker name after a restart).

When a claim came back full, the next one is made while the worker sends the second half of
its messages (in a task): the run's sends take their messages one at a time from one shared
iterator, and a claim awaited there would hold all of them up together, after which they take
their next messages one per turn of the event loop (a convoy) for the rest of the run. Its
messages are noted as claimed as soon as its answer is back (the journal gives them back if
the run stops before they are sent); a claim still in flight when the run ends is cancelled,
its entries taken back by this worker's next run or, after the idle timeout, by another.

While the worker lives, a heartbeat resets the idle time of the entries it holds, so nobody
takes over a message that is merely waiting for its rate-limit slot. The iteration ends when
the campaign has nothing left: sealed by its producer and every message decided. Until then a
worker with nothing to do polls, because another worker may still die and leave messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Final

import orjson

from d360_async._admission import AdmittedItems, Item
from d360_async._campaign_journal import JournalError
from d360_async._template_fit import shape_of

from ._journal import Claim, Claims
from ._store import CampaignStore

__all__ = ["ClaimedMessages"]

logger = logging.getLogger("d360_async")

#: Longest pause between two claims while there is nothing to take.
_MAX_POLL: Final = 1.0
_HEARTBEAT_CHUNK: Final = 1000


class ClaimedMessages(AdmittedItems):
    """The messages one worker claims from a campaign, as admitted ``Item`` objects.

    Args:
        store: The campaign.
        worker: This worker's name in the consumer group.
        claims: Where each claimed message is noted (shared with the worker's journal).
        batch: Entries claimed per round trip.
        idle_timeout: Seconds after which another worker's unacknowledged entry is taken over.
        poll: Seconds between claims while there is nothing to take (doubling up to 1 s).
        patience: Seconds a claim is tried again while Redis is unavailable (again with this
            worker's own entries first: those of a claim whose answer was lost).
    """

    def __init__(
        self,
        store: CampaignStore,
        worker: str,
        claims: Claims,
        *,
        batch: int,
        idle_timeout: float,
        poll: float,
        patience: float = 0.0,
    ) -> None:
        self._patience = patience
        self._store = store
        self._worker = worker
        self._claims = claims
        self._batch = batch
        self._idle_ms = max(1, round(idle_timeout * 1000))
        self._beat_every = idle_timeout / 3
        self._poll = poll
        #: Claims made, and claims that found nothing to take.
        self.claims_made = 0
        self.empty_claims = 0

    def __aiter__(self) -> AsyncIterator[Item]:
        return self._items()

    async def _items(self) -> AsyncGenerator[Item, None]:
        heartbeat = asyncio.create_task(self._heartbeat())
        ahead: asyncio.Task[tuple[int, list[Item], bool]] | None = None
        try:
            own = "1"  # the first claim takes back this worker's own entries
            wait = self._poll
            while not self._claims.stopped:
                if ahead is None:
                    done, items, full = await self._claim(own)
                else:
                    task, ahead = ahead, None
                    done, items, full = await task
                own = "0"
                if items:
                    wait = self._poll
                    half = len(items) // 2 if full else -1
                    for at, item in enumerate(items):
                        if self._claims.stopped:  # the rest stays held: the journal gives
                            return  # it back when it closes
                        if at == half:
                            ahead = asyncio.create_task(self._claim("0"))
                        yield item
                elif done:
                    return
                else:
                    self.empty_claims += 1
                    # this worker's last outcomes hold the end up: written as they come
                    await self._claims.settle(wait)
                    wait = min(2 * wait, _MAX_POLL)
        finally:
            tasks: list[asyncio.Task[Any]] = [heartbeat] if ahead is None else [heartbeat, ahead]
            for running in tasks:
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError, JournalError):
                    await running

    async def _claim(self, own: str) -> tuple[int, list[Item], bool]:
        """Claim up to ``batch`` messages: whether the campaign is done, the items (noted in
        ``claims``), and whether the claim came back full (more are likely waiting)."""
        self.claims_made += 1
        args = [self._worker, str(self._batch), str(self._idle_ms), "1", own]
        try:
            done, entries = await self._store.call("claim", args)
        except JournalError:
            if not self._patience:
                raise
            args[4] = "1"  # a claim whose answer was lost: its entries are this worker's
            done, entries = await self._store.call_patiently("claim", args, self._patience)
        found = orjson.loads(entries)
        return int(done), self._take(found), len(found) >= 5 * self._batch

    def _take(self, entries: list[str]) -> list[Item]:
        """Items of the claimed entries (flat: entry id, position, body, state, write time),
        each noted in ``claims`` (one already held is not handed out twice)."""
        items = []
        claims = self._claims
        for at in range(0, len(entries), 5):
            entry, position, text, state, written = entries[at : at + 5]
            index = int(position)
            if index in claims:
                continue
            claims[index] = Claim(entry, state, float(written) if written else None)
            body = text.encode()
            payload = orjson.loads(body)
            items.append(Item(index, payload["to"], body, shape_of(payload)))
        return items

    async def _heartbeat(self) -> None:
        """Reset the idle time of every entry this worker holds, every third of the idle
        timeout (a failure is left to the next claim or write to report)."""
        while True:
            await asyncio.sleep(self._beat_every)
            entries = [claim.entry for claim in list(self._claims.values())]
            for start in range(0, len(entries), _HEARTBEAT_CHUNK):
                chunk = entries[start : start + _HEARTBEAT_CHUNK]
                try:
                    await self._store.call("heartbeat", [self._worker, *chunk])
                except JournalError as exc:
                    logger.warning("campaign heartbeat failed: %s", type(exc).__name__)
                    break
