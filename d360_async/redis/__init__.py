"""Redis (or Valkey) for senders with several workers: one rate limit shared by all of them,
and one campaign sent by all of them (optional extra: ``pip install "d360-async[redis]"``).

- ``RedisRateLimiter``: the ``RateLimiter`` protocol on Redis; every client with the same
  ``account`` shares one limit and its 429 pauses.
- ``enqueue_campaign``: a campaign of any size into Redis, once (idempotent).
- ``run_worker``: one of any number of workers sending it, on ``send_bulk``'s engine; the
  campaign survives any worker's death and every message is sent at most once.
- ``campaign_report``: the campaign's figures from any host, delivery statuses included;
  ``delete_campaign`` removes it.
- ``campaign_journal``: the campaign's journal for a ``DeliveryTracker``: status webhooks
  settle the messages left ``unknown``.

See ``docs/redis.md`` for the Redis settings the guarantees need.
"""

from __future__ import annotations

try:
    import redis.asyncio  # noqa: F401  (checked here, used by every module below)
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError('d360_async.redis needs redis-py: pip install "d360-async[redis]"') from exc

from ._journal import RedisJournal, campaign_journal
from ._limiter import RedisRateLimiter
from ._producer import EnqueueResult, enqueue_campaign
from ._report import CampaignReport, campaign_report, delete_campaign
from ._worker import run_worker

__all__ = [
    "CampaignReport",
    "EnqueueResult",
    "RedisJournal",
    "RedisRateLimiter",
    "campaign_journal",
    "campaign_report",
    "delete_campaign",
    "enqueue_campaign",
    "run_worker",
]
