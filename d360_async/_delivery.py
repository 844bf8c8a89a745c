"""``DeliveryTracker``: status webhooks recorded against the journals of your campaigns.

Give it the campaigns' journals (SQLite paths, or any ``CampaignJournal``) and hand it every
webhook (``WebhookReceiver(tracker.handle)``); each journal then keeps, per message, its most
advanced status, settles the ``unknown`` messages the statuses prove were accepted, and
answers ``delivery_report()``. How statuses are matched is the journal's rule (see
``d360_async._campaign_journal``): by message id first, in every tracked journal, then by
recipient for rows written with no id known.

``biz_opaque_callback_data`` is not used to match: Meta echoes it on the Cloud API, but whether
MM Lite does is not documented, and setting it would change every message's body (and so the
journal's fingerprint of each message). A match by recipient relies instead on the time the
request was written: see ``docs/webhooks.md`` for the residual risk.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable
from types import TracebackType
from typing import Self

import attrs

from ._bulk_options import journal_of
from ._campaign_journal import (
    DELIVERY_RANKS,
    CampaignJournal,
    DeliveryMatch,
    DeliveryReport,
    DeliveryUpdate,
    recipient_digest,
)
from ._errors import ValidationError
from ._models_webhooks import StatusUpdate, Webhook

__all__ = ["DeliveryCounts", "DeliveryTracker"]

logger = logging.getLogger("d360_async.webhooks")

JournalLike = str | os.PathLike[str] | CampaignJournal


@attrs.frozen(kw_only=True)
class DeliveryCounts:
    """What became of statuses handed to a ``DeliveryTracker``.

    Attributes:
        matched: Statuses of a tracked campaign's message, by message id.
        settled: Statuses that settled an ``unknown`` message (now ``sent``).
        in_flight: Statuses of a message being sent (kept for its outcome).
        unmatched: Statuses of no tracked campaign (another campaign's, a transactional
            message's): not recorded.
        ignored: Statuses that are not delivery statuses (``deleted``, ``played``...).

    Example:
        >>> DeliveryCounts(matched=2, settled=1) + DeliveryCounts(unmatched=1)
        DeliveryCounts(matched=2, settled=1, in_flight=0, unmatched=1, ignored=0)
    """

    matched: int = 0
    settled: int = 0
    in_flight: int = 0
    unmatched: int = 0
    ignored: int = 0

    def __add__(self, other: DeliveryCounts) -> DeliveryCounts:
        return DeliveryCounts(
            **{
                field.name: getattr(self, field.name) + getattr(other, field.name)
                for field in attrs.fields(DeliveryCounts)
            }
        )


_COUNTED = {
    DeliveryMatch.MESSAGE: "matched",
    DeliveryMatch.SETTLED: "settled",
    DeliveryMatch.IN_FLIGHT: "in_flight",
}


class DeliveryTracker:
    """Records status webhooks in the journals of the campaigns they belong to.

    Args:
        journals: The campaigns' journals: SQLite paths (the ``journal=`` of ``send_bulk``),
            or ``CampaignJournal`` objects of their own (not the object a run uses: the
            tracker opens and closes its journals). More can be added with ``track``.

    Use it as the receiver's callback: ``WebhookReceiver(tracker.handle)``. A webhook is
    acknowledged only once its statuses are durable in the journals (a journal that cannot
    be written makes ``handle`` raise ``JournalError``: the receiver answers 500 and the
    sender delivers the webhook again). Close it when done (``async with`` does).

    Raises:
        ValidationError: A journal that is neither a path nor a ``CampaignJournal``.

    Example:
        >>> tracker = DeliveryTracker("spring.sqlite", "summer.sqlite")
        >>> [str(journal) for journal in tracker.journals], tracker.counts.matched
        (['spring.sqlite', 'summer.sqlite'], 0)
    """

    def __init__(self, *journals: JournalLike) -> None:
        self._journals: list[CampaignJournal] = [_journal(j) for j in journals]
        self._opened: set[int] = set()
        self._lock = asyncio.Lock()
        self._closed = False
        self.counts = DeliveryCounts()
        """Every status handled so far, by what it matched."""

    def __repr__(self) -> str:
        return f"DeliveryTracker({len(self._journals)} journals, {self.counts!r})"

    @property
    def journals(self) -> tuple[CampaignJournal, ...]:
        """The tracked journals, in the order they were given."""
        return tuple(self._journals)

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Open every journal not open yet (``handle`` does it on first use).

        Raises:
            JournalError: A journal cannot be opened.
            ValidationError: The tracker was closed.
        """
        async with self._lock:
            if self._closed:
                raise ValidationError("tracker", "is closed")
            for journal in self._journals:
                if id(journal) not in self._opened:
                    await journal.open(None, shared=True)
                    self._opened.add(id(journal))

    async def track(self, journal: JournalLike) -> CampaignJournal:
        """Track one more campaign's journal (opened at once); returns it.

        Raises:
            ValidationError: Not a path nor a ``CampaignJournal``.
            JournalError: It cannot be opened.
        """
        store = _journal(journal)
        self._journals.append(store)
        try:
            await self.open()
        except BaseException:  # not tracked: the next webhooks must not fail on it
            self._journals.remove(store)
            await store.close()
            raise
        return store

    async def handle(self, webhook: Webhook) -> DeliveryCounts:
        """Record every status of ``webhook``; returns what they matched.

        Raises:
            JournalError: A journal could not record them (deliver the webhook again).
        """
        return await self.handle_statuses(webhook.statuses)

    async def handle_statuses(self, statuses: Iterable[StatusUpdate]) -> DeliveryCounts:
        """Record statuses (from ``parse_webhook``, or stored ones); returns what they
        matched.

        Raises:
            JournalError: A journal could not record them.
        """
        if len(self._opened) < len(self._journals) or self._closed:
            await self.open()
        given = list(statuses)
        wanted = [s for s in given if s.status in DELIVERY_RANKS]
        counts = dict.fromkeys(_COUNTED.values(), 0)
        counts["ignored"] = len(given) - len(wanted)
        left = await self._match(wanted, by_recipient=False, counts=counts)
        left = await self._match(
            [s for s in left if s.recipient_id], by_recipient=True, counts=counts
        ) + [s for s in left if not s.recipient_id]
        counts["unmatched"] = len(left)
        if left:
            logger.debug("%d statuses matched no tracked campaign", len(left))
        handled = DeliveryCounts(**counts)
        self.counts += handled
        return handled

    async def _match(
        self, statuses: list[StatusUpdate], *, by_recipient: bool, counts: dict[str, int]
    ) -> list[StatusUpdate]:
        """Offer ``statuses`` to each journal in turn; returns those none recorded."""
        for journal in self._journals:
            if not statuses:
                break
            updates = [_update(journal, s, by_recipient=by_recipient) for s in statuses]
            matches = await journal.record_deliveries(updates)
            left = []
            for status, match in zip(statuses, matches, strict=True):
                if match is DeliveryMatch.NONE:
                    left.append(status)
                else:
                    counts[_COUNTED[match]] += 1
            statuses = left
        return statuses

    async def reports(self) -> list[DeliveryReport]:
        """Each tracked campaign's ``DeliveryReport``, in the order of ``journals``.

        Raises:
            JournalError: A journal cannot be read.
        """
        await self.open()
        return [await journal.delivery_report() for journal in self._journals]

    async def close(self) -> None:
        """Close the journals (safe to call twice)."""
        async with self._lock:
            self._closed = True
            journals, self._opened = self._journals, set()
            for journal in journals:
                await journal.close()


def _journal(journal: object) -> CampaignJournal:
    store = journal_of(journal)  # type: ignore[arg-type]  # checked there
    if store is None:
        raise ValidationError("journals", "each must be a file path or a CampaignJournal")
    return store


def _update(
    journal: CampaignJournal, status: StatusUpdate, *, by_recipient: bool
) -> DeliveryUpdate:
    recipient = (
        recipient_digest(journal, status.recipient_id)
        if by_recipient and status.recipient_id
        else None
    )
    return DeliveryUpdate(
        message_id=status.id,
        status=str(status.status),
        timestamp=status.timestamp.timestamp(),
        recipient=recipient,
        error_code=status.error_code,
    )
