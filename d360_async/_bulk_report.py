"""What a campaign reports: one ``SendResult`` per message, ``BulkReport`` counts, its errors."""

from __future__ import annotations

from enum import StrEnum

import attrs

from ._errors import D360Error

__all__ = [
    "BulkReport",
    "BulkRunError",
    "Counts",
    "SendResult",
    "SendStatus",
]


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
    to: str = attrs.field(repr=False)  # a phone number
    status: SendStatus
    message_id: str | None = None
    error: D360Error | None = None
    reason: str | None = None


@attrs.frozen(kw_only=True)
class BulkReport:
    """Counts of a campaign (so far, or at the end).

    ``total`` counts the messages the run decided on; after an interruption the others (not
    read yet, or stopped before their request was written) are not counted: nothing was sent
    for them, and a re-run with the same journal sends them.

    Attributes:
        total: Messages with an outcome: ``sent + failed + skipped + unknown``.
        sent: Accepted by the API.
        failed: Certainly not accepted.
        skipped: Not sent on purpose (a repeated recipient, already sent, campaign stopped).
        unknown: Written without a usable answer: they may have been accepted.
        elapsed: Seconds since the run started.
        stopped: Why the campaign stopped early (the circuit breaker, a journal failure).
        interrupted: The run ended before its input did (``break``, ``aclose()``, a
            cancellation, an error).

    Example:
        >>> r = BulkReport(total=10, sent=8, failed=1, skipped=1, unknown=0, elapsed=2.0)
        >>> r.rate, r.interrupted
        (4.0, False)
    """

    total: int
    sent: int
    failed: int
    skipped: int
    unknown: int
    elapsed: float
    stopped: str | None = None
    interrupted: bool = False

    @property
    def rate(self) -> float:
        """Accepted messages per second."""
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0


class BulkRunError(D360Error, RuntimeError):
    """A ``BulkRun`` used out of order: iterated twice, or its report asked for before it ran.

    Example:
        >>> isinstance(BulkRunError("x"), D360Error)
        True
    """


class Counts:
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
