"""What the bulk sender needs from a campaign journal (``CampaignJournal``), and how it uses one.

A journal keeps one row per input message of one campaign, keyed by the message's position:

==========  ===============================================================================
pending     its request may have started to be written (committed *before* the first byte)
sent        accepted, with its message id
failed      certainly not accepted (the error's class and code say why)
skipped     not sent on purpose (a repeated recipient, the campaign stopped)
unknown     its request was written and got no usable answer: it may have been accepted
==========  ===============================================================================

A message with no row was never written. The guarantee rests on one order of events: the
``pending`` row is committed inside the transport's ``on_wire`` callback, after the cool-down,
the rate-limit slot and the connection were obtained and right before the request is
written; anything that ends a send earlier leaves no row (or puts the earlier row back), so
a plain re-run sends it. A run that dies leaves its in-flight messages ``pending``; the next
run reads them as ``unknown`` and does not send them again unless asked to.

Rows hold no personal data: the recipient and what each message sends are kept as keyed
digests (BLAKE2b with a random key stored in the journal), enough to recognise the same
campaign and to match a status webhook by recipient, useless to read a number back.

``SQLiteJournal`` (``_journal``) is the embedded implementation; another store (Redis, for a
campaign shared by several workers) implements the same protocol.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import attrs

from ._errors import APIStatusError, D360Error

__all__ = [
    "ROW_STATUSES",
    "CampaignJournal",
    "ClaimLostError",
    "JournalError",
    "JournalRow",
    "JournalUnavailableError",
    "error_label",
]

#: Every state a row can be in.
ROW_STATUSES = ("pending", "sent", "failed", "skipped", "unknown")


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
    """

    index: int
    recipient: str
    fingerprint: str
    status: str
    message_id: str | None = None
    error: str | None = None


@runtime_checkable
class CampaignJournal(Protocol):
    """The store of one campaign's message states that ``send_bulk(journal=...)`` uses.

    Calls come from one event loop. ``prior`` is asked for increasing indices. ``record`` and
    ``restore`` never block and never raise: a write that fails surfaces from the next
    ``mark_pending`` or ``flush``.
    """

    async def open(self, campaign_id: str | None) -> int | None:
        """Open (or create) the journal for campaign ``campaign_id``.

        Returns:
            The lowest index an earlier run recorded, or None for an empty journal.

        Raises:
            JournalError: It cannot be written, or it is bound to another ``campaign_id``.
        """
        ...

    def digest(self, data: bytes) -> str:
        """The keyed digest the journal stores instead of ``data`` (after ``open``)."""
        ...

    async def prior(self, index: int) -> JournalRow | None:
        """What an earlier run recorded for message ``index``."""
        ...

    async def mark_pending(self, index: int, recipient: str, fingerprint: str) -> None:
        """Record that message ``index`` is about to be written; returns once durable.

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
        """Record an outcome (durable with the next batch)."""
        ...

    def restore(self, index: int, prior: JournalRow | None) -> None:
        """Undo a ``pending`` whose request was never written: back to ``prior`` (None: no
        row)."""
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
