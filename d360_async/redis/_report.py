"""``campaign_report`` and ``delete_campaign``: a campaign in Redis seen from any host."""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import redis.asyncio as aioredis

from d360_async._campaign_journal import DELIVERY_RANKS, DeliveryReport, JournalError

from ._store import CampaignStore

__all__ = ["CampaignReport", "campaign_report", "delete_campaign", "delivery_counts"]

_STATUS_OF_RANK = {rank: status for status, rank in DELIVERY_RANKS.items()}


@attrs.frozen(kw_only=True)
class CampaignReport:
    """Where a campaign stands, all workers together.

    Attributes:
        campaign_id: The campaign.
        total: Messages enqueued so far.
        queued: Messages no worker has written a request for yet.
        pending: Messages whose request a worker may be writing now (or was, when it died:
            the next worker to claim them records them ``unknown``).
        sent: Accepted by the API (with a message id).
        failed: Certainly not accepted (``failed_by_error`` says why).
        skipped: Not sent on purpose (a repeated recipient).
        unknown: The request was written and no usable answer came back: maybe accepted,
            not sent again (status webhooks settle them).
        failed_by_error: Failed messages per error (class, status, code; no text).
        sealed: The producer enqueued every message.
        done: Sealed, and every message decided.
        deliveries: The accepted messages by their most advanced status webhook (with a
            ``DeliveryTracker`` on the campaign's journal), and how many ``unknown`` ones a
            status settled (they count as ``sent``).

    Example:
        >>> report = CampaignReport(campaign_id="spring", total=3, queued=0, pending=0,
        ...                         sent=2, failed=1, skipped=0, unknown=0, sealed=True,
        ...                         done=True, failed_by_error={"APIStatusError 400 #131026": 1})
        >>> print(report)
        campaign 'spring': 3 messages, done: sent=2 failed=1 skipped=0 unknown=0
    """

    campaign_id: str
    total: int
    queued: int
    pending: int
    sent: int
    failed: int
    skipped: int
    unknown: int
    sealed: bool
    done: bool
    failed_by_error: Mapping[str, int] = attrs.field(factory=dict)
    deliveries: DeliveryReport = attrs.field(factory=DeliveryReport)

    def __str__(self) -> str:
        stage = "done" if self.done else "in progress" if self.sealed else "being enqueued"
        line = (
            f"campaign {self.campaign_id!r}: {self.total:,} messages, {stage}: "
            f"sent={self.sent} failed={self.failed} skipped={self.skipped} unknown={self.unknown}"
        )
        if not self.done:
            line += f" queued={self.queued} pending={self.pending}"
        d = self.deliveries
        if d.accepted != d.no_status or d.settled:
            line += (
                f"; statuses: none={d.no_status} sent={d.sent} delivered={d.delivered} "
                f"read={d.read} failed={d.failed} (settled={d.settled})"
            )
        return line


def _fields(flat: list[bytes]) -> dict[str, str]:
    return {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}


async def campaign_report(
    redis: str | aioredis.Redis,
    campaign_id: str,
    *,
    prefix: str = "d360",
    redis_timeout: float = 5.0,
) -> CampaignReport:
    """The aggregate of campaign ``campaign_id``: one round trip, from any host.

    Raises:
        JournalError: There is no such campaign (never enqueued, deleted, or expired).
        JournalUnavailableError: Redis is unreachable.
    """
    store = CampaignStore(
        redis, campaign_id, prefix=prefix, timeout=redis_timeout, max_connections=1
    )
    try:
        return await delivery_counts(store)
    finally:
        await store.aclose()


async def delivery_counts(store: CampaignStore) -> CampaignReport:
    """The report of the campaign of ``store`` (one round trip).

    Raises:
        JournalError: There is no such campaign.
        JournalUnavailableError: Redis is unreachable.
    """
    campaign_id = store.campaign_id
    meta_flat, counts_flat, _, ranks, by_code = await store.call("report", [])
    meta, counts = _fields(meta_flat), _fields(counts_flat)
    if "id" not in meta:
        raise JournalError(f"no campaign {campaign_id!r} in redis (never enqueued, or deleted)")
    by_status = {code: int(counts.get(code, 0)) for code in "qpsfku"}
    by_rank = {_STATUS_OF_RANK[rank]: int(n) for rank, n in enumerate(ranks, 1)}
    codes = {
        (int(by_code[i]) if by_code[i] else None): int(by_code[i + 1])
        for i in range(0, len(by_code), 2)
    }
    deliveries = DeliveryReport(
        campaign_id=campaign_id,
        accepted=by_status["s"],
        no_status=by_status["s"] - sum(by_rank.values()),
        failed_by_code=dict(sorted(codes.items(), key=lambda kv: (kv[0] is None, kv))),
        unknown=by_status["u"],
        settled=int(counts.get("settled", 0)),
        pending=by_status["p"],
        not_sent=by_status["f"],
        skipped=by_status["k"],
        **by_rank,
    )
    return CampaignReport(
        campaign_id=campaign_id,
        total=sum(by_status.values()),
        queued=by_status["q"],
        pending=by_status["p"],
        sent=by_status["s"],
        failed=by_status["f"],
        skipped=by_status["k"],
        unknown=by_status["u"],
        sealed="sealed" in meta,
        done="done" in meta,
        failed_by_error={
            name[2:]: int(value)
            for name, value in sorted(counts.items())
            if name.startswith("f:") and int(value)
        },
        deliveries=deliveries,
    )


async def delete_campaign(
    redis: str | aioredis.Redis,
    campaign_id: str,
    *,
    prefix: str = "d360",
    redis_timeout: float = 5.0,
) -> bool:
    """Remove every key of campaign ``campaign_id`` (its queue, states and counts): for a
    finished campaign, or one to abandon once its workers are stopped. Returns whether it
    existed.

    Raises:
        JournalUnavailableError: Redis is unreachable.
    """
    store = CampaignStore(
        redis, campaign_id, prefix=prefix, timeout=redis_timeout, max_connections=1
    )
    try:
        removed = await store.command("UNLINK", *store.keys.all)
    finally:
        await store.aclose()
    return bool(removed)
