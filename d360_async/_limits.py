"""The limiter protocol, as pinned by the lead (interfaces.md section 2).

Provisional copy on the redis-limit branch: the send-path branch owns this module and its
version replaces this one at the merge.
"""

from __future__ import annotations

import enum
import typing

__all__ = ["RateLimiter", "Scope"]


class Scope(enum.StrEnum):
    """What a request is, for rate limiting: each scope has its own limit and its own pause."""

    MESSAGES = "messages"
    EVENTS = "events"
    READS = "reads"


@typing.runtime_checkable
class RateLimiter(typing.Protocol):
    """Decides when a request may start; see ``D360Client(rate_limit=...)``."""

    async def acquire(self, scope: Scope, *, key: str | None = None) -> None:
        """Wait until one request of ``scope`` may start."""

    async def pause(self, scope: Scope, seconds: float) -> None:
        """No request of ``scope`` starts for ``seconds`` from now."""
