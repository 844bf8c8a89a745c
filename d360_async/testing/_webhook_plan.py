"""What status webhooks an accepted message gets: settings and a seeded, pure plan.

The plan of a message depends only on the seed, the recipient and how many messages that
recipient was accepted before it, never on the interleaving of concurrent requests: the same
campaign with the same seed gets the same statuses.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any, Final, NamedTuple

import attrs

__all__ = ["FAILURES", "GeneratedStatus", "PlannedStatus", "WebhookSettings", "plan_statuses"]

SENT: Final = "sent"
DELIVERED: Final = "delivered"
READ: Final = "read"
FAILED: Final = "failed"

#: Meta's webhook errors for the failure codes the emulator can generate: (title, details).
FAILURES: Final[dict[int, tuple[str, str]]] = {
    130472: (
        "User's number is part of an experiment",
        "Failed to send message because this user's phone number is part of an experiment",
    ),
    131026: (
        "Message undeliverable",
        "Message failed to send because the recipient cannot receive it",
    ),
    131049: (
        "This message was not delivered to maintain healthy ecosystem engagement.",
        "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
    ),
    131050: (
        "User has stopped receiving marketing messages",
        "The user has chosen to stop receiving marketing messages",
    ),
}


def _ratio(_: Any, attribute: Any, value: float) -> None:
    if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
        raise ValueError(f"{attribute.name} must be within [0, 1], got {value!r}")


def _non_negative(_: Any, attribute: Any, value: float) -> None:
    if not (isinstance(value, int | float) and value >= 0):
        raise ValueError(f"{attribute.name} must not be negative, got {value!r}")


def _at_least_one(_: Any, attribute: Any, value: int) -> None:
    if not (isinstance(value, int) and value >= 1):
        raise ValueError(f"{attribute.name} must be an integer >= 1, got {value!r}")


def _codes(value: Any) -> tuple[int, ...]:
    codes = tuple(value)
    unknown = [code for code in codes if code not in FAILURES]
    if not codes or unknown:
        raise ValueError(f"failed_codes must be some of {sorted(FAILURES)}, got {codes!r}")
    return codes


@attrs.frozen(kw_only=True)
class WebhookSettings:
    """How the emulator sends status webhooks once a webhook URL is configured.

    Every accepted message gets ``sent``, then ends ``failed``, ``read`` (after
    ``delivered``), ``delivered``, or stays ``sent`` (the rest), with the shares below.

    Args:
        delivered: Share of messages whose last status is ``delivered``.
        read: Share of messages read (``sent``, ``delivered``, ``read``).
        failed: Share of messages that fail after ``sent`` (with one of ``failed_codes``).
        read_without_delivered: Share of read messages that get no ``delivered`` status.
        duplicates: Probability that a status is delivered twice.
        reorder: Probability that a message's statuses are delivered last first (their
            timestamps stay right: ``delivered`` may then arrive before ``sent``).
        delay_ms: Time between two statuses of a message.
        jitter_ms: Extra uniform random time (seeded) added to each of those gaps.
        failed_codes: Meta codes drawn for failures (130472, 131026, 131049, 131050).
        batch_size: Most statuses in one delivery (one HTTP request).
        batch_window_ms: How long to wait to fill a batch before sending it.
        concurrency: Deliveries in flight at once.
        timeout: Seconds an attempt may take before it counts as failed.
        max_attempts: Attempts per delivery before giving up (Meta keeps trying for 7 days).
        retry_base_ms: Wait before the first retry; doubled after each failed attempt.
        retry_max_ms: Longest wait between attempts.
        app_secret: When set, deliveries carry ``X-Hub-Signature-256`` as Meta signs them.
        phone_number_id: ``metadata.phone_number_id`` of the deliveries.
        display_phone_number: ``metadata.display_phone_number`` of the deliveries.

    Example:
        >>> WebhookSettings(read=0.5, delivered=0.3, failed=0.1).failed
        0.1
    """

    delivered: float = attrs.field(default=0.4, validator=_ratio)
    read: float = attrs.field(default=0.5, validator=_ratio)
    failed: float = attrs.field(default=0.05, validator=_ratio)
    read_without_delivered: float = attrs.field(default=0.0, validator=_ratio)
    duplicates: float = attrs.field(default=0.0, validator=_ratio)
    reorder: float = attrs.field(default=0.0, validator=_ratio)
    delay_ms: float = attrs.field(default=0.0, validator=_non_negative)
    jitter_ms: float = attrs.field(default=0.0, validator=_non_negative)
    failed_codes: tuple[int, ...] = attrs.field(default=(131049, 131026), converter=_codes)
    batch_size: int = attrs.field(default=1, validator=_at_least_one)
    batch_window_ms: float = attrs.field(default=0.0, validator=_non_negative)
    concurrency: int = attrs.field(default=4, validator=_at_least_one)
    timeout: float = attrs.field(default=5.0, validator=_non_negative)
    max_attempts: int = attrs.field(default=6, validator=_at_least_one)
    retry_base_ms: float = attrs.field(default=100.0, validator=_non_negative)
    retry_max_ms: float = attrs.field(default=5000.0, validator=_non_negative)
    app_secret: str | None = None
    phone_number_id: str = "106540352242922"
    display_phone_number: str = "15550783881"

    def __attrs_post_init__(self) -> None:
        total = self.delivered + self.read + self.failed
        if total > 1.0 + 1e-9:
            raise ValueError(f"delivered + read + failed must be at most 1, got {total:g}")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        Example:
            >>> [WebhookSettings(retry_base_ms=100).retry_delay(n) for n in (1, 2, 3)]
            [0.1, 0.2, 0.4]
        """
        delay_ms: float = min(self.retry_base_ms * 2.0 ** (attempt - 1), self.retry_max_ms)
        return delay_ms / 1000.0


class PlannedStatus(NamedTuple):
    """One status of a message as planned: what, when delivered, what time it reports.

    Attributes:
        status: ``sent``, ``delivered``, ``read`` or ``failed``.
        offset: Seconds after acceptance at which it is delivered.
        timestamp: Unix seconds it reports (when it "happened").
        error_code: The Meta code of a ``failed`` status, else None.
        duplicate: True for the extra copy of a status delivered twice.
        step: Its place in the message's life (0 for ``sent``), whatever the delivery order.
    """

    status: str
    offset: float
    timestamp: int
    error_code: int | None
    duplicate: bool
    step: int


class GeneratedStatus(NamedTuple):
    """One status the emulator generated (duplicate copies are not counted twice).

    Example:
        >>> GeneratedStatus("wamid.X", "491511", "read", 1767312000, None).status
        'read'
    """

    wamid: str
    wa_id: str
    status: str
    timestamp: int
    error_code: int | None


def _rng(seed: int, wa_id: str, nth: int) -> random.Random:
    material = b"%d|%s|%d" % (seed, wa_id.encode(), nth)
    return random.Random(int.from_bytes(hashlib.blake2b(material, digest_size=8).digest(), "big"))


def plan_statuses(
    settings: WebhookSettings, *, seed: int, wa_id: str, nth: int, accepted_at: float
) -> list[PlannedStatus]:
    """The statuses of one accepted message, in delivery order.

    Args:
        settings: Ratios, delays, duplicates and reordering.
        seed: The emulator's seed.
        wa_id: The recipient.
        nth: How many messages to ``wa_id`` were accepted before this one.
        accepted_at: Wall-clock Unix time of acceptance.

    Example:
        >>> s = WebhookSettings(delivered=0, read=1, failed=0)
        >>> [p.status for p in plan_statuses(s, seed=1, wa_id="491511", nth=0, accepted_at=0)]
        ['sent', 'delivered', 'read']
    """
    rng = _rng(seed, wa_id, nth)
    roll, skip_roll, reorder_roll = rng.random(), rng.random(), rng.random()
    code = rng.choice(settings.failed_codes)
    if roll < settings.failed:
        chain = [SENT, FAILED]
    elif roll < settings.failed + settings.read:
        skip = skip_roll < settings.read_without_delivered
        chain = [SENT, READ] if skip else [SENT, DELIVERED, READ]
    elif roll < settings.failed + settings.read + settings.delivered:
        chain = [SENT, DELIVERED]
    else:
        chain = [SENT]
    gap, jitter = settings.delay_ms / 1000.0, settings.jitter_ms / 1000.0
    offsets: list[float] = []
    elapsed = 0.0
    for _ in chain:
        elapsed += gap + (rng.uniform(0.0, jitter) if jitter else 0.0)
        offsets.append(elapsed)
    timestamps = [int(accepted_at + offset) for offset in offsets]
    steps = list(zip(range(len(chain)), chain, timestamps, strict=True))
    if reorder_roll < settings.reorder:  # last status first (listed first: offsets may be equal)
        steps.reverse()
    planned: list[PlannedStatus] = []
    for (step, status, timestamp), offset in zip(steps, offsets, strict=True):
        error = code if status == FAILED else None
        planned.append(PlannedStatus(status, offset, timestamp, error, False, step))
        if settings.duplicates and rng.random() < settings.duplicates:
            planned.append(PlannedStatus(status, offset + gap, timestamp, error, True, step))
    planned.sort(key=lambda p: p.offset)  # stable: equal offsets keep the order above
    return planned
