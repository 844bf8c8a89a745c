"""Where a campaign lives in Redis, and how one message's state is written there.

Every key of a campaign carries the hash tag ``{c:<digest of the campaign id>}``: a Redis
Cluster keeps them in one slot, so each script touches one slot. The keys, in the order every
script receives them (``CampaignKeys.all``):

=========  ===================================================================================
state      hash: message position -> its state (below), from the moment it is enqueued
queue      stream of the messages still to send (``i``: position, ``b``: JSON body), consumer
           group ``workers``; an entry is acknowledged and deleted once its message is decided
counts     hash: messages per state (``q p s f k u``), failures per error (``f:<error>``),
           ``settled`` (unknown messages a status webhook proved accepted)
ids        hash: message id (``wamid``) -> position, to match status webhooks
meta       hash: the campaign id, the digests' salt, ``sealed`` (the producer enqueued every
           message: their number), ``done`` (when the last was decided), ``keep`` (seconds the
           keys live after that), the reclaim cursor
written    hash: position -> when its request was last about to be written (Unix seconds)
recipients hash: recipient digest -> the position of its latest pending mark (a status of a
           message written with no id known is matched by recipient)
deliveries hash: message id -> ``<rank>:<error code>:<position>``, its most advanced status
evidence   hash: position -> the message id of a status matched while it was pending (it
           settles the message if it ends ``unknown``)
=========  ===================================================================================

A state is one string: a status character, the recipient's and the body's keyed digests (32
hex characters each), then a tail: the worker's name for ``p`` (pending), ``<message id>\\x1f
<error>`` for a decided message. ``q`` is queued (enqueued, no request written yet).
"""

from __future__ import annotations

from typing import Final

import attrs

from d360_async._campaign_journal import JournalRow
from d360_async._errors import ValidationError

from ._connect import digest

__all__ = [
    "DECIDED",
    "DIGEST_HEX",
    "GROUP",
    "STATUS_OF",
    "CampaignKeys",
    "campaign_keys",
    "decided_value",
    "row_of",
]

GROUP: Final = "workers"
DIGEST_HEX: Final = 32
#: Status character -> the journal's status (``q``: queued, no row in journal terms).
STATUS_OF: Final = {
    "q": None,
    "p": "pending",
    "s": "sent",
    "f": "failed",
    "k": "skipped",
    "u": "unknown",
}
#: The journal's status -> its character.
CODE_OF: Final = {status: code for code, status in STATUS_OF.items() if status is not None}
#: Characters of the states a message ends in.
DECIDED: Final = frozenset("sfku")
_SEP: Final = "\x1f"
_HEAD: Final = 1 + 2 * DIGEST_HEX


@attrs.frozen
class CampaignKeys:
    """The keys of one campaign.

    Example:
        >>> keys = campaign_keys("spring-2025")
        >>> keys.state
        'd360:{c:f12222b340f22be18e68722d}:state'
    """

    campaign_id: str
    base: str

    @property
    def state(self) -> str:
        return f"{self.base}:state"

    @property
    def queue(self) -> str:
        return f"{self.base}:queue"

    @property
    def counts(self) -> str:
        return f"{self.base}:counts"

    @property
    def ids(self) -> str:
        return f"{self.base}:ids"

    @property
    def meta(self) -> str:
        return f"{self.base}:meta"

    @property
    def written(self) -> str:
        return f"{self.base}:written"

    @property
    def recipients(self) -> str:
        return f"{self.base}:recipients"

    @property
    def deliveries(self) -> str:
        return f"{self.base}:deliveries"

    @property
    def evidence(self) -> str:
        return f"{self.base}:evidence"

    @property
    def all(self) -> tuple[str, ...]:
        """Every key, in the order the scripts take them."""
        return (
            self.state,
            self.queue,
            self.counts,
            self.ids,
            self.meta,
            self.written,
            self.recipients,
            self.deliveries,
            self.evidence,
        )


def campaign_keys(campaign_id: str, prefix: str = "d360") -> CampaignKeys:
    """The keys of campaign ``campaign_id``.

    Raises:
        ValidationError: ``campaign_id`` or ``prefix`` is not a non-empty string.
    """
    if not isinstance(campaign_id, str) or not campaign_id.strip():
        raise ValidationError("campaign_id", "must be a non-empty string")
    if len(campaign_id) > 200:
        raise ValidationError("campaign_id", "must be at most 200 characters")
    if not isinstance(prefix, str) or not prefix or "{" in prefix or "}" in prefix:
        raise ValidationError("prefix", "must be a non-empty string without braces")
    tag = digest(campaign_id, 12, b"d360-campaign")
    return CampaignKeys(campaign_id, f"{prefix}:{{c:{tag}}}")


def decided_value(status: str, head: str, message_id: str | None, error: str | None) -> str:
    """The state of a decided message (``status`` a journal status); ``head`` is the
    recipient's and the body's digests.

    Example:
        >>> decided_value("failed", "r" * 32 + "f" * 32, None, "ValidationError")[0]
        'f'
    """
    return f"{CODE_OF[status]}{head}{message_id or ''}{_SEP}{(error or '').replace(_SEP, ' ')}"


def row_of(index: int, value: str, written: float | None = None) -> JournalRow | None:
    """The journal's row for a state (None for a queued message: no request yet).

    Example:
        >>> row_of(7, "s" + "r" * 32 + "f" * 32 + "wamid.X\\x1f").message_id
        'wamid.X'
    """
    status = STATUS_OF[value[0]]
    if status is None:
        return None
    recipient = value[1 : 1 + DIGEST_HEX]
    fingerprint = value[1 + DIGEST_HEX : _HEAD]
    tail = value[_HEAD:]
    if status == "pending":
        return JournalRow(
            index=index,
            recipient=recipient,
            fingerprint=fingerprint,
            status=status,
            written_at=written,
        )
    message_id, _, error = tail.partition(_SEP)
    return JournalRow(
        index=index,
        recipient=recipient,
        fingerprint=fingerprint,
        status=status,
        message_id=message_id or None,
        error=error or None,
        written_at=written,
    )
