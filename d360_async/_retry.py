"""Which failures are retried, and how long to wait before the next attempt.

Retrying must never send a marketing message twice. Every operation has a ``Safety``:

- ``Safety.IDEMPOTENT`` (reads, create-or-retrieve, enable analytics, events that all carry an
  ``event_id``): retried on 408, throttling, 5xx, connection errors and timeouts.
- ``Safety.SEND`` (a marketing message, or events without ``event_id``): retried only when the
  request was certainly not acted upon (``_outcome.may_have_been_acted_upon`` is False) and the
  failure is transient: throttling (429, or a throttling code in a 4xx), Meta's own 503 (code 2)
  and connection failures before the request was written (pool wait, connect). A read timeout, a
  dropped connection or any other 5xx but 501/505/511 leaves the outcome unknown and is not
  retried unless
  ``RetryPolicy(retry_ambiguous_sends=True)``.
"""

from __future__ import annotations

import enum
import random

import attrs

from ._errors import (
    APIConnectionError,
    APIStatusError,
    ClientClosedError,
    D360Error,
    RateLimitError,
)
from ._outcome import NOT_PROCESSED_5XX, may_have_been_acted_upon

__all__ = ["RetryPolicy", "Safety"]


class Safety(enum.Enum):
    """How safe an operation is to repeat."""

    IDEMPOTENT = "idempotent"
    SEND = "send"


def _positive(instance: object, attribute: attrs.Attribute[float], value: float | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{attribute.name} must not be negative")


def _at_least_one(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """When and how often a failed request is tried again.

    Bounded twice: by ``attempts`` (the first try included) and by ``deadline``, the seconds
    from the first attempt after which no new attempt starts. Waits grow exponentially with
    jitter (``initial_backoff * 2**(n-1) + uniform(0, jitter)``, capped at ``max_backoff``);
    a ``Retry-After`` from the server is honoured instead, capped at ``max_retry_after``; a
    per-recipient throttle (131056) waits ``4**n`` seconds as Meta advises.

    Args:
        attempts: Attempts in all, the first included (1 = never retry).
        deadline: Seconds after the first attempt past which no retry starts (None: no limit).
        initial_backoff: First backoff, seconds.
        max_backoff: Largest computed backoff, seconds.
        jitter: Up to this many random seconds added to each backoff.
        max_retry_after: Cap on a server-requested wait, seconds.
        wait: False turns every wait off (retries happen at once): for tests.
        retry_ambiguous_sends: Also retry sends whose outcome is unknown (read timeout, dropped
            connection, 500/502/503/504). This can deliver a message twice; off by default.

    Example:
        >>> policy = RetryPolicy(attempts=3, deadline=10.0)
        >>> policy.backoff(1, jitter=0.0), policy.backoff(3, jitter=0.0)
        (0.5, 2.0)
        >>> RetryPolicy(wait=False).backoff(3)
        0.0
    """

    attempts: int = attrs.field(default=4, validator=_at_least_one)
    deadline: float | None = attrs.field(default=60.0, validator=_positive)
    initial_backoff: float = attrs.field(default=0.5, validator=_positive)
    max_backoff: float = attrs.field(default=8.0, validator=_positive)
    jitter: float = attrs.field(default=0.5, validator=_positive)
    max_retry_after: float = attrs.field(default=60.0, validator=_positive)
    wait: bool = True
    retry_ambiguous_sends: bool = False

    @classmethod
    def never(cls) -> RetryPolicy:
        """A policy that makes exactly one attempt."""
        return cls(attempts=1)

    def backoff(self, attempt: int, *, jitter: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        Args:
            attempt: The attempt that just failed.
            jitter: Override of the random part, for tests (None: ``uniform(0, self.jitter)``).
        """
        if not self.wait:
            return 0.0
        extra = random.uniform(0.0, self.jitter) if jitter is None else jitter
        return float(min(self.max_backoff, self.initial_backoff * 2 ** (attempt - 1) + extra))

    def delay_for(self, error: D360Error, attempt: int) -> float:
        """Seconds to wait after ``error`` ended attempt ``attempt``."""
        if not self.wait:
            return 0.0
        if isinstance(error, RateLimitError):
            if error.retry_after is not None:
                return min(error.retry_after, self.max_retry_after)
            if error.per_recipient:
                return float(min(4**attempt, self.max_retry_after))
        return self.backoff(attempt)

    def is_retryable(self, error: D360Error, safety: Safety) -> bool:
        """Whether ``error`` may be retried for an operation of ``safety``."""
        if not _is_transient(error):
            return False
        if safety is Safety.IDEMPOTENT or self.retry_ambiguous_sends:
            return True
        return not may_have_been_acted_upon(error)

    def next_delay(
        self, error: D360Error, safety: Safety, *, attempt: int, elapsed: float
    ) -> float | None:
        """The wait before the next attempt, or None when ``error`` must be raised.

        Args:
            error: What ended the attempt.
            safety: The operation's safety.
            attempt: The attempt that just failed (1-based).
            elapsed: Seconds since the first attempt started.
        """
        if attempt >= self.attempts or not self.is_retryable(error, safety):
            return None
        delay = self.delay_for(error, attempt)
        if self.deadline is not None and elapsed + delay > self.deadline:
            return None
        return delay


def _is_transient(error: D360Error) -> bool:
    """Whether trying again later may succeed: throttling, no answer, 408 and most 5xx."""
    if isinstance(error, ClientClosedError):
        return False
    if isinstance(error, (RateLimitError, APIConnectionError)):
        return True
    if isinstance(error, APIStatusError):
        # The 5xx that say "not processed here" say it of any retry too.
        return error.status == 408 or (
            error.status >= 500 and error.status not in NOT_PROCESSED_5XX
        )
    return False
