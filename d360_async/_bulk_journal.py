"""How one run of ``send_bulk`` keeps its journal: earlier outcomes decide what is sent, the
campaign's identity is checked before anything goes out, ``pending`` is committed on the wire
(before the request's last byte), and every outcome the run reports gets its row (so the
journal and the results agree)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from ._admission import Item
from ._bulk_report import SendResult, SendStatus
from ._campaign_journal import (
    WRITTEN_STATUSES,
    CampaignJournal,
    JournalError,
    JournalRow,
    MessagedRecipients,
    error_label,
    recipient_digest,
)
from ._errors import D360Error
from ._template_fit import MessageShape

__all__ = ["JournalItem", "RunJournal"]

_NO_SHAPE: Final = MessageShape(("", ""), (), ())  # a decided item is not sent
_NOT_SENT_AGAIN = "outcome unknown in an earlier run; not sent again"
_IN_WINDOW = "outcome unknown in an earlier run, no status yet; its settle window is not over"


class JournalItem(Item):
    """An item of a journaled run. Awaiting it (its ``on_wire``, held: its request is written
    but its body's last byte meanwhile) commits ``pending``: ``wire`` is 1 while that commit
    is under way, 2 once it is done and the last byte may be written.

    ``decided`` is set when the message must not be sent (its result is known), ``record``
    when that result still needs its row.
    """

    __slots__ = ("decided", "fingerprint", "journal", "prior", "recipient", "record")

    def __init__(
        self,
        index: int,
        to: str,
        body: bytes,
        shape: MessageShape,
        journal: CampaignJournal,
    ) -> None:
        super().__init__(index, to, body, shape)
        self.journal = journal
        self.recipient = recipient_digest(journal, to)
        self.fingerprint = journal.digest(body)
        self.prior: JournalRow | None = None
        self.decided: SendResult | None = None
        self.record = True

    async def __call__(self) -> None:
        self.wire = 1
        await self.journal.mark_pending(self.index, self.recipient, self.fingerprint)
        self.wire = 2

    async def refused(self) -> None:
        """The written attempt was certainly refused (throttled): while the retry waits, the
        row is what it was before, so a crash in the pause leaves the message to be sent by a
        plain re-run, not ``unknown``; the retry commits ``pending`` again."""
        self.journal.restore(self.index, self.prior)
        self.wire = 0


class RunJournal:
    """A ``CampaignJournal`` as one run uses it.

    Args:
        journal: The store.
        campaign_id: The campaign it must belong to (None: any; messages are still compared).
        dedupe: Skip a recipient the journal holds as messaged at another row (an earlier
            run's ``sent``, ``unknown`` or ``pending``), as ``send_bulk(dedupe=True)`` skips
            a recipient repeated in the input.
        resend_after: Send again messages an earlier run left ``pending`` or ``unknown``
            (and no status settled): None never, 0 all of them, else those whose request was
            written at least that many seconds ago (``written_at``, by ``clock``).
        clock: Unix time.
    """

    __slots__ = (
        "_campaign_id",
        "_clock",
        "_dedupe",
        "_first",
        "_messaged",
        "_resend_after",
        "journal",
        "verified",
    )

    def __init__(
        self,
        journal: CampaignJournal,
        *,
        campaign_id: str | None,
        dedupe: bool,
        resend_after: float | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.journal = journal
        self._campaign_id = campaign_id
        self._resend_after = resend_after
        self._dedupe = dedupe
        self._messaged: MessagedRecipients | None = None
        self._clock = clock
        self._first: int | None = None
        #: Whether the journal is known to be this campaign's (an empty one is).
        self.verified = True

    async def open(self) -> None:
        """Open the journal (refused if bound to another ``campaign_id``, or if the settle
        window has nothing to go by, see ``_check_window``)."""
        self._first = await self.journal.open(self._campaign_id)
        self.verified = self._first is None
        if self._resend_after:
            await self._check_window()
        if self._dedupe and self._first is not None:
            self._messaged = await self.journal.messaged()

    async def _check_window(self) -> None:
        """Refuse a settle window (``resend_unknown_after``) when the journal holds messages
        to settle and no delivery status for any message: no tracker ever recorded the
        campaign's webhooks, so every unknown message (those the API accepted too) would look
        unsettled and be sent again.

        Raises:
            JournalError: There is nothing to tell the accepted unknown messages by.
        """
        report = await self.journal.delivery_report()
        to_settle = report.unknown + report.pending
        if to_settle and report.accepted == report.no_status:
            raise JournalError(
                f"journal {self.journal} holds {to_settle} messages of unknown outcome and no "
                "delivery status for any message: no DeliveryTracker recorded this campaign's "
                "webhooks, so resend_unknown_after cannot tell the ones the API accepted. "
                "Record the statuses first, or re-send every unknown message knowingly (some "
                "may be delivered twice) with resend_unknown=True (d360 send --resend-unknown)"
            )

    def holds(self, index: int) -> bool:
        """Whether message ``index`` must wait: the journal's first written row (the evidence
        that it is this campaign's, see ``CampaignJournal.open``) has not been compared yet."""
        return not self.verified and self._first is not None and index <= self._first

    def item(self, admitted: Item | SendResult) -> JournalItem:
        """The journaled form of an admitted message (a decided one keeps its result)."""
        if isinstance(admitted, Item):
            return JournalItem(
                admitted.index, admitted.to, admitted.body, admitted.shape, self.journal
            )
        item = JournalItem(admitted.index, admitted.to, b"", _NO_SHAPE, self.journal)
        item.decided = admitted
        return item

    async def consult(self, item: JournalItem) -> None:
        """Decide from the earlier row whether ``item`` is sent.

        Raises:
            JournalError: The row was written for another message: another campaign.
        """
        prior = item.prior = await self.journal.prior(item.index)
        if self._first is not None and item.index >= self._first:
            self.verified = True
        if prior is not None:
            self._by_prior(item, prior)
        if item.decided is None and self._messaged is not None:
            other = self._messaged.elsewhere(item.recipient, item.index)
            if other is not None:
                item.decided = SendResult(
                    index=item.index,
                    to=item.to,
                    status=SendStatus.SKIPPED,
                    reason=f"recipient already messaged in an earlier run (message {other})",
                )

    def _by_prior(self, item: JournalItem, prior: JournalRow) -> None:
        if prior.status in WRITTEN_STATUSES:
            self._check_same(item, prior)
        if prior.status == "sent":
            item.decided = SendResult(
                index=item.index,
                to=item.to,
                status=SendStatus.SKIPPED,
                message_id=prior.message_id,
                reason="already sent in an earlier run",
            )
            item.record = False
        elif prior.status in ("pending", "unknown") and not self._resends(prior):
            # pending: in flight when an earlier run died; its row becomes unknown.
            reason = _NOT_SENT_AGAIN if self._resend_after is None else _IN_WINDOW
            item.decided = SendResult(
                index=item.index, to=item.to, status=SendStatus.UNKNOWN, reason=reason
            )
            item.record = prior.status == "pending"

    def _resends(self, prior: JournalRow) -> bool:
        """Whether an unknown message is sent again (settled ones are ``sent`` rows)."""
        after, written = self._resend_after, prior.written_at
        if after is None:
            return False
        return after == 0 or (written is not None and self._clock() - written >= after)

    def _check_same(self, item: JournalItem, prior: JournalRow) -> None:
        where = f"journal {self.journal} holds another campaign: message {item.index}"
        if prior.recipient != item.recipient:
            raise JournalError(f"{where} has a different recipient")
        if item.decided is None and prior.fingerprint != item.fingerprint:
            raise JournalError(
                f"{where} sends something else (its template, language or parameters "
                "changed); the journal matches messages by position: keep the input in the "
                "same order and content, or use a new journal"
            )

    def outcome(self, item: Item, status: SendStatus, error: D360Error | None) -> None:
        """Record what became of a message that was not sent (or got no answer)."""
        assert isinstance(item, JournalItem)
        self.journal.record(
            item.index,
            item.recipient,
            item.fingerprint,
            status.value,
            None,
            None if error is None else error_label(error),
        )

    def decided(self, item: JournalItem) -> SendResult:
        """The result known without sending; recorded unless the journal already says it."""
        result = item.decided
        assert result is not None
        if item.record:
            error = result.error
            self.journal.record(
                item.index,
                item.recipient,
                item.fingerprint,
                result.status.value,
                result.message_id,
                error_label(error) if error is not None else result.reason,
            )
        return result

    def sent(self, item: Item, message_id: str | None) -> None:
        """Record an accepted message."""
        assert isinstance(item, JournalItem)
        self.journal.record(item.index, item.recipient, item.fingerprint, "sent", message_id)

    def not_written(self, item: Item) -> None:
        """The send ended before its request was written: no trace of this run is left."""
        if item.wire == 1:  # the pending commit may have landed: put the earlier row back
            assert isinstance(item, JournalItem)
            self.journal.restore(item.index, item.prior)
