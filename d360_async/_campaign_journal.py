"""What the bulk sender needs from a campaign journal (``CampaignJournal``), and how it uses one.

A journal keeps one row per input message of one campaign, keyed by the message's position:

==========  ===============================================================================
pending     its request may have been written in full (committed *before* its last byte)
sent        accepted, with its message id
failed      certainly not accepted (the error's class and code say why)
skipped     not sent on purpose (a repeated recipient, the campaign stopped)
unknown     its request was written and got no usable answer: it may have been accepted
==========  ===============================================================================

A message with no row was never written in full. The guarantee rests on one order of events:
the ``pending`` row is committed inside the transport's ``on_wire`` callback, after the
cool-down, the rate-limit slot and the connection were obtained and the request was written
but its body's last byte, which goes only once the commit is back (``_wire.HeldBody``: a
request cut short is never acted upon); anything that ends a send earlier leaves no row (or
puts the earlier row back), so a plain re-run sends it. A run that dies leaves its in-flight
messages ``pending``; the next run reads them as ``unknown`` and does not send them again
unless asked to.

Rows hold no personal data: the recipient and what each message sends are kept as keyed
digests (BLAKE2b with a random key stored in the journal), enough to recognise the same
campaign and to match a status webhook by recipient, useless to read a number back.

Delivery tracking: status webhooks (sent, delivered, read, failed) are recorded against the
campaign with ``record_deliveries``, keyed by message id, and only for messages of this
campaign. A status matches a row

1. by message id: the row the API accepted with that id (or a status of it matched before);
2. else by recipient, for a row written with no id known: a ``pending`` or ``unknown`` row of the
   same recipient digest whose request was written no later than the status's timestamp plus
   ``RECIPIENT_MATCH_SLACK`` (the latest such row). An ``unknown`` row so matched is *settled*:
   it becomes ``sent`` with the status's message id. A ``pending`` row (in flight: the status
   came before the send's answer, or its run died) keeps the status for its outcome: if the
   row is then written ``unknown`` (or read back by the next run), it is settled the same way.

Each message keeps its most advanced status (``DELIVERY_RANKS``: read > delivered > failed >
sent): duplicates and out-of-order deliveries change nothing. A ``failed`` status keeps its
error code. A match by recipient can be false (the same customer got another message, of
another campaign or a transactional one, within the same seconds): the row is then counted
with the other message's status; that is the residual risk of settling by recipient.

``SQLiteJournal`` (``_journal``) is the embedded implementation; another store (Redis, for a
campaign shared by several workers) implements the same protocol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Final, Protocol, runtime_checkable

import attrs

from ._errors import APIStatusError, D360Error
from ._messaged import MessagedRecipients
from ._recipients import recipient_key

__all__ = [
    "DELIVERY_RANKS",
    "RECIPIENT_MATCH_SLACK",
    "ROW_STATUSES",
    "WRITTEN_STATUSES",
    "CampaignJournal",
    "ClaimLostError",
    "DeliveryMatch",
    "DeliveryReport",
    "DeliveryUpdate",
    "JournalError",
    "JournalRow",
    "JournalUnavailableError",
    "MessagedRecipients",
    "error_label",
    "recipient_digest",
]

#: Every state a row can be in.
ROW_STATUSES = ("pending", "sent", "failed", "skipped", "unknown")

#: The states of a row whose request may have been written: such a row is evidence of the
#: campaign it belongs to (its message must be the same in a re-run). A ``failed`` or
#: ``skipped`` row is not: a re-run may fix it (another number, other parameters).
WRITTEN_STATUSES: Final = frozenset({"pending", "sent", "unknown"})

#: The delivery statuses a journal keeps, by how advanced they are: a message keeps the
#: highest it was told. ``failed`` ranks above ``sent`` (it ends a message that was sent) and
#: below ``delivered``: Meta does not send both, and if it did, the customer's device
#: acknowledging the message is the stronger evidence.
DELIVERY_RANKS: Final[Mapping[str, int]] = {"sent": 1, "failed": 2, "delivered": 3, "read": 4}

#: Seconds a status's timestamp may be earlier than the request it matches by recipient was
#: written: webhook timestamps are whole seconds (rounded down), and the sender's and Meta's
#: clocks differ a little (keep the host's clock synchronised).
RECIPIENT_MATCH_SLACK: Final = 2.0


class JournalError(D360Error):
    """The journal cannot be used: unreadable, not writable, full, locked, or written by
    another campaign. Raised before any message is sent when it can be known then; a failure
    mid-campaign stops the run (nothing is sent without its ``pending`` row).

    Example:
        >>> isinstance(JournalError("x"), D360Error)
        True
    """


class JournalUnavailableError(JournalError):
    """The journal's store cannot be reached (a Redis server down, slow or refusing): nothing
    is sent without its state recorded, so the run stops; run it again once the store is back.

    Example:
        >>> isinstance(JournalUnavailableError("x"), JournalError)
        True
    """


class ClaimLostError(JournalError):
    """Raised by ``mark_pending`` of a journal shared by several workers: the message was
    taken over by another worker (this one stalled past the claim's idle timeout) or decided
    meanwhile. It was not sent by this worker, and this worker records nothing for it.

    Example:
        >>> isinstance(ClaimLostError("x"), JournalError)
        True
    """


@attrs.frozen(kw_only=True)
class JournalRow:
    """One message's row.

    Attributes:
        index: The message's position in the campaign's input (0-based).
        recipient: Keyed digest of the recipient (digits only), see ``CampaignJournal.digest``.
        fingerprint: Keyed digest of the JSON body the message sends.
        status: pending, sent, failed, skipped or unknown.
        message_id: The ``wamid`` of an accepted message.
        error: Why a message failed or is unknown: error class and code, never the server's
            text (it may quote a phone number).
        written_at: When its request was last about to be written (Unix seconds, the time of
            its latest ``pending``), or None if it never was. An ``unknown`` row's settle
            window (``resend_unknown_after``) counts from it.
        settled: A ``sent`` row that was ``unknown`` (or ``pending`` in a run that died) until
            a status webhook proved the API had accepted it.
    """

    index: int
    recipient: str
    fingerprint: str
    status: str
    message_id: str | None = None
    error: str | None = None
    written_at: float | None = None
    settled: bool = False


@attrs.frozen(kw_only=True)
class DeliveryUpdate:
    """One status of one message, as a journal records it (no personal data).

    Attributes:
        message_id: The ``wamid`` the status is about.
        status: One of ``DELIVERY_RANKS`` (sent, delivered, read, failed).
        timestamp: When it happened, by the status (Unix seconds).
        recipient: The recipient's keyed digest (``CampaignJournal.digest`` of its digits), to
            match a row written with no message id; None: match by message id only.
        error_code: Meta's error code of a ``failed`` status.

    Example:
        >>> DeliveryUpdate(message_id="wamid.X", status="read", timestamp=1767312000.0).status
        'read'
    """

    message_id: str
    status: str
    timestamp: float
    recipient: str | None = None
    error_code: int | None = None


class DeliveryMatch(StrEnum):
    """What a status matched in a journal (``CampaignJournal.record_deliveries``)."""

    #: A message of this campaign, by its id: recorded.
    MESSAGE = "message"
    #: An ``unknown`` row of the recipient, now ``sent`` with the status's message id.
    SETTLED = "settled"
    #: A ``pending`` row of the recipient (in flight, or left by a run that died): recorded,
    #: and it settles the row if the row ends ``unknown``.
    IN_FLIGHT = "in_flight"
    #: Nothing of this campaign: not recorded.
    NONE = "none"


@attrs.frozen(kw_only=True)
class DeliveryReport:
    """Where a campaign's messages are, from its journal and the statuses recorded in it.

    ``accepted`` messages are split by their most advanced status: ``accepted == no_status +
    sent + delivered + read + failed``. Every row is counted once: ``accepted + unknown +
    pending + not_sent + skipped`` is the number of messages the journal holds.

    Attributes:
        campaign_id: The campaign the journal belongs to (None: not bound to one).
        accepted: Messages the API accepted (including the settled ones).
        no_status: Accepted, no status received yet.
        sent: Accepted, latest status ``sent``.
        delivered: Accepted, latest status ``delivered``.
        read: Accepted, latest status ``read``.
        failed: Accepted, then ``failed`` (see ``failed_by_code``).
        failed_by_code: ``failed`` messages by Meta's error code (None: no code given).
        unknown: Written with no usable answer, and no status proved them accepted.
        settled: Of ``accepted``, the messages once ``unknown`` that a status settled.
        pending: Being sent (or in flight when a run died: the next run makes them ``unknown``
            or settles them).
        not_sent: Certainly not accepted (the send failed).
        skipped: Not sent on purpose.

    Example:
        >>> report = DeliveryReport(accepted=3, read=2, failed=1, failed_by_code={131049: 1})
        >>> report.accepted == report.no_status + report.sent + report.delivered + (
        ...     report.read + report.failed)
        True
    """

    campaign_id: str | None = None
    accepted: int = 0
    no_status: int = 0
    sent: int = 0
    delivered: int = 0
    read: int = 0
    failed: int = 0
    failed_by_code: Mapping[int | None, int] = attrs.field(factory=dict)
    unknown: int = 0
    settled: int = 0
    pending: int = 0
    not_sent: int = 0
    skipped: int = 0

    @property
    def total(self) -> int:
        """Every message the journal holds."""
        return self.accepted + self.unknown + self.pending + self.not_sent + self.skipped


@runtime_checkable
class CampaignJournal(Protocol):
    """The store of one campaign's message states that ``send_bulk(journal=...)`` uses.

    Calls come from one event loop. ``prior`` is asked for increasing indices. ``record`` and
    ``restore`` never block and never raise: a write that fails surfaces from the next
    ``mark_pending`` or ``flush``.
    """

    async def open(self, campaign_id: str | None, *, shared: bool = False) -> int | None:
        """Open (or create) the journal for campaign ``campaign_id``.

        A run (``shared=False``) takes the journal's lease: one run at a time on a
        journal; another one is refused until the lease ends (with the run's ``close``, or
        its process). ``shared=True`` takes none: a ``DeliveryTracker`` recording statuses
        while a run sends.

        Returns:
            The lowest index of a row whose request an earlier run may have written
            (``WRITTEN_STATUSES``), or None if there is none: the run holds its messages
            until it has compared that row (the evidence that the journal is this
            campaign's), so another campaign is refused before anything is sent.

        Raises:
            JournalError: It cannot be written, is bound to another ``campaign_id``, or is
                in use by another run.
        """
        ...

    def digest(self, data: bytes) -> str:
        """The keyed digest the journal stores instead of ``data`` (after ``open``)."""
        ...

    async def prior(self, index: int) -> JournalRow | None:
        """What an earlier run recorded for message ``index``.

        A ``pending`` row (its run died) that a status matched comes back settled: ``sent``
        with that status's message id, and it is stored so.
        """
        ...

    async def messaged(self) -> MessagedRecipients:
        """The recipient digest and index of every row whose request may have been written
        (``WRITTEN_STATUSES``): a re-run does not message these recipients at other rows.
        Asked once, after ``open``, when the journal holds such rows."""
        ...

    async def mark_pending(self, index: int, recipient: str, fingerprint: str) -> None:
        """Record that message ``index`` is about to be written (``written_at`` now); returns
        once durable.

        Raises:
            JournalError: It could not be recorded (the message must then not be sent).
        """
        ...

    def record(
        self,
        index: int,
        recipient: str,
        fingerprint: str,
        status: str,
        message_id: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record an outcome (durable with the next batch); ``written_at`` stays as it was.

        An ``unknown`` outcome of a row that a status matched while it was ``pending`` is
        stored settled instead: ``sent`` with that status's message id.
        """
        ...

    def restore(self, index: int, prior: JournalRow | None) -> None:
        """Undo a ``pending`` whose request was never written: back to ``prior``, its
        ``written_at`` and ``settled`` included (None: no row)."""
        ...

    async def flush(self) -> None:
        """Wait until everything recorded so far is durable.

        Raises:
            JournalError: Some of it could not be written.
        """
        ...

    async def close(self) -> None:
        """Make what was recorded durable and release every resource (safe to call twice,
        and after a failed ``open``)."""
        ...

    async def find_message(self, message_id: str) -> JournalRow | None:
        """The row of the message the API accepted with ``message_id`` (webhooks use it)."""
        ...

    async def record_deliveries(self, updates: Sequence[DeliveryUpdate]) -> list[DeliveryMatch]:
        """Record status webhooks against this campaign (see the module's matching rules);
        returns once they are durable, with what each one matched (in order).

        Each message keeps its most advanced status, so recording a status again, or an
        older one, changes nothing. Usable while a run sends the campaign (from another
        journal object on the same store). Cost: a few indexed lookups per status.

        Raises:
            JournalError: They could not be recorded (the webhook must then be answered with
                an error, so that it is delivered again).
        """
        ...

    async def delivery_report(self) -> DeliveryReport:
        """The campaign's counts: accepted, by latest status, unknown, settled..."""
        ...


def error_label(error: BaseException) -> str:
    """What a journal row keeps of an error: its class and status or code, no text.

    Example:
        >>> error_label(APIStatusError(400, "Recipient +49 151 ... blocked", code=131050))
        'APIStatusError 400 #131050'
    """
    label = type(error).__name__
    if isinstance(error, APIStatusError):
        label += f" {error.status}"
        if error.code is not None:
            label += f" #{error.code}"
    return label


def recipient_digest(journal: CampaignJournal, to: str) -> str:
    """What ``journal`` stores of a recipient: the keyed digest of its digits (a number
    written ``+49 151 ...`` and a webhook's ``recipient_id`` ``49151...`` give the same)."""
    # surrogatepass: the recipient of a message that failed admission may be any string
    return journal.digest(recipient_key(to).encode("utf-8", "surrogatepass"))
