"""``enqueue_campaign``: a campaign of any size streamed into Redis, once.

The producer admits every message as ``send_bulk`` would (checked, encoded, de-duplicated by
recipient, in input order): a message that can be sent is queued for the workers, one that
cannot is recorded ``failed`` (or ``skipped``, a repeated recipient) at once. Each batch is one
script, so a batch is all there or not at all.

Idempotent: a message is known by its position, and a position already in Redis is left alone
when it holds the same message (same recipient and body digests); another message there means
another campaign under the same id, refused with ``JournalError``. A producer that dies half
way is simply run again with the same input: it adds what is missing. The last batch seals the
campaign with its number of messages; the workers end when every message is decided.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from datetime import timedelta
from typing import Any, Final

import attrs
import redis.asyncio as aioredis

from d360_async._admission import Admission, Item
from d360_async._bulk_options import resend_after_seconds
from d360_async._campaign_journal import JournalError, error_label
from d360_async._errors import ValidationError
from d360_async._payloads import MessageInput
from d360_async._recipients import recipient_key

from ._layout import decided_value
from ._store import CampaignStore, check_keep

__all__ = ["EnqueueResult", "enqueue_campaign"]

#: Seconds a finished campaign's keys live by default: a week of status webhooks.
KEEP_FOR: Final = 7 * 86400.0


@attrs.frozen(kw_only=True)
class EnqueueResult:
    """What ``enqueue_campaign`` did.

    Attributes:
        campaign_id: The campaign.
        messages: Messages read from the input.
        added: Positions added to Redis by this call (queued, or decided at once).
        present: Positions already there (an earlier, interrupted run of the producer).
        refused: Messages recorded ``failed`` by this call without a request (they cannot be
            sent: ``ValidationError``).
        duplicates: Messages recorded ``skipped`` by this call (a repeated recipient).
        queued_again: ``unknown`` messages queued again (``resend_unknown_after``).
    """

    campaign_id: str
    messages: int
    added: int
    present: int
    refused: int
    duplicates: int
    queued_again: int = 0


class _Batch:
    """The script arguments of one batch, and what it holds."""

    __slots__ = ("args", "duplicates", "refused")

    def __init__(self) -> None:
        self.args: list[Any] = ["", ""]
        self.refused = 0
        self.duplicates = 0

    def __len__(self) -> int:
        return (len(self.args) - 2) // 3


async def enqueue_campaign(
    messages: Iterable[MessageInput] | AsyncIterable[MessageInput],
    campaign_id: str,
    *,
    redis: str | aioredis.Redis,
    dedupe: bool = True,
    keep_for: float | None = KEEP_FOR,
    resend_unknown_after: float | timedelta | None = None,
    batch: int = 500,
    prefix: str = "d360",
    redis_timeout: float = 5.0,
) -> EnqueueResult:
    """Put campaign ``campaign_id`` in Redis for ``run_worker`` processes to send.

    Args:
        messages: Any iterable or async iterable of ``MarketingMessageRequest`` or dicts,
            consumed lazily (a batch at a time in memory).
        campaign_id: The campaign's name; every worker, report and re-run uses it.
        redis: A ``redis://`` URL or a ``redis.asyncio.Redis`` client (left open).
        dedupe: Send to each recipient once; repeats are ``skipped``.
        keep_for: Seconds the campaign's keys stay in Redis once every message is decided
            (for reports and status webhooks); None keeps them until ``delete_campaign``.
        resend_unknown_after: On a re-run: queue again every ``unknown`` message (its
            request was written, no usable answer came back) whose request was written at
            least this many seconds ago and that no status webhook settled (keep a
            ``DeliveryTracker`` on ``campaign_journal``); workers then send it again. A
            message whose webhooks were lost is then sent twice. None: never.
        batch: Messages per round trip.
        prefix: First part of every key.
        redis_timeout: Seconds any Redis call may take.

    Returns:
        What this call added.

    Raises:
        JournalError: The campaign id holds another campaign (a different message at a
            position), or it was sealed with fewer messages than this input has.
        JournalUnavailableError: Redis is unreachable (run it again: nothing is doubled).
        ValidationError: A bad argument.

    Example:
        >>> async def produce(numbers: list[str]) -> EnqueueResult:
        ...     promo = {"name": "spring_sale", "language": {"code": "en"}}
        ...     messages = ({"to": n, "template": promo} for n in numbers)
        ...     return await enqueue_campaign(messages, "spring-2025", redis="redis://localhost")
    """
    if isinstance(messages, (str, bytes)) or not isinstance(messages, (Iterable, AsyncIterable)):
        raise ValidationError("messages", "must be an iterable or async iterable of messages")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValidationError("batch", "must be an integer of at least 1")
    if not isinstance(dedupe, bool):
        raise ValidationError("dedupe", "must be True or False")
    keep = check_keep(keep_for)
    resend_after = (
        None if resend_unknown_after is None else resend_after_seconds(resend_unknown_after)
    )
    store = CampaignStore(
        redis, campaign_id, prefix=prefix, timeout=redis_timeout, max_connections=2
    )
    try:
        await store.open(create=True, keep_for=keep)
        return await _enqueue(store, messages, Admission(dedupe=dedupe), batch, resend_after)
    finally:
        await store.aclose()


async def _enqueue(
    store: CampaignStore,
    messages: Iterable[MessageInput] | AsyncIterable[MessageInput],
    admission: Admission,
    size: int,
    resend_after: float | None,
) -> EnqueueResult:
    totals = {"added": 0, "present": 0, "refused": 0, "duplicates": 0, "queued_again": 0}
    index = 0
    pending = _Batch()

    async def send(current: _Batch, sealed: int | None) -> None:
        current.args[0] = "" if sealed is None else str(sealed)
        current.args[1] = "" if resend_after is None else repr(resend_after)
        code, value, *again = await store.call("enqueue", current.args)
        if code == -1:
            raise JournalError(
                f"campaign {store.campaign_id!r} holds another message at position "
                f"{int(value)}: another campaign under the same id, or the input changed order "
                "or content (use a new campaign id)"
            )
        if code == -2:
            raise JournalError(
                f"campaign {store.campaign_id!r} was sealed with fewer messages: message "
                f"{int(value)} is new (use a new campaign id)"
            )
        totals["added"] += int(code)
        totals["present"] += int(value)
        totals["queued_again"] += int(again[0])
        if code:  # counted only when this call wrote them
            totals["refused"] += current.refused
            totals["duplicates"] += current.duplicates

    if isinstance(messages, AsyncIterable):
        async for message in messages:
            _add(store, pending, admission.admit(index, message))
            index += 1
            if len(pending) >= size:
                await send(pending, None)
                pending = _Batch()
    else:
        for message in messages:
            _add(store, pending, admission.admit(index, message))
            index += 1
            if len(pending) >= size:
                await send(pending, None)
                pending = _Batch()
    await send(pending, index)
    return EnqueueResult(campaign_id=store.campaign_id, messages=index, **totals)


def _add(store: CampaignStore, batch: _Batch, admitted: Any) -> None:
    """One admitted message (an ``Item``, or the ``SendResult`` it ends as) into ``batch``."""
    recipient = store.digest(recipient_key(admitted.to).encode())
    if isinstance(admitted, Item):
        batch.args += (admitted.index, f"q{recipient}{store.digest(admitted.body)}", admitted.body)
        return
    head = recipient + store.digest(b"")
    status = admitted.status.value
    reason = error_label(admitted.error) if admitted.error is not None else admitted.reason
    batch.args += (admitted.index, decided_value(status, head, None, reason), b"")
    if status == "failed":
        batch.refused += 1
    else:
        batch.duplicates += 1
