"""The emulator's options, validated once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from ._faults import DEFAULT_RATE_KINDS, check_kinds
from ._webhook_plan import WebhookSettings

DEFAULT_API_KEY = "d360-emulator-key"
DEFAULT_WABA_ID = "102290129340398"
#: Shapes template analytics can be answered in (see ``_analytics``).
ANALYTICS_SHAPES = ("spec", "meta", "expanded")


def _keys(value: str | Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _str_tuple(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _optional_positive(_: Any, attribute: Any, value: Any) -> None:
    if value is not None and not (isinstance(value, int | float) and value > 0):
        raise ValueError(f"{attribute.name} must be a positive number or None, got {value!r}")


def _non_negative(_: Any, attribute: Any, value: Any) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative, got {value!r}")


def _analytics_shape(_: Any, attribute: Any, value: Any) -> None:
    if value not in ANALYTICS_SHAPES:
        raise ValueError(
            f"analytics_shape must be one of {', '.join(ANALYTICS_SHAPES)}, got {value!r}"
        )


def _pair_limit(value: bool | int) -> int:
    if value is True:
        return 1
    if value is False:
        return 0
    if value < 0:
        raise ValueError(f"pair_rate_limit must be a bool or a count >= 0, got {value!r}")
    return int(value)


@attrs.frozen(kw_only=True)
class EmulatorConfig:
    """Every option of :class:`~d360_async.testing.Emulator` (see its docstring).

    Example:
        >>> EmulatorConfig(rate=None, pair_rate_limit=True).pair_rate_limit
        1
    """

    host: str = "127.0.0.1"
    port: int = 0
    api_key: str = DEFAULT_API_KEY
    api_keys: tuple[str, ...] = attrs.field(default=(), converter=_keys)
    rate: float | None = attrs.field(default=80.0, validator=_optional_positive)
    burst: float | None = attrs.field(default=None, validator=_optional_positive)
    pair_rate_limit: int = attrs.field(default=0, converter=_pair_limit)
    pair_window: float = attrs.field(default=6.0, validator=_optional_positive)
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = attrs.field(default=DEFAULT_RATE_KINDS, converter=_str_tuple)
    faults: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    seed: int | None = None
    latency_ms: float = attrs.field(default=0.0, validator=_non_negative)
    latency_jitter_ms: float = attrs.field(default=0.0, validator=_non_negative)
    slow_body_chunks: int = 4
    slow_body_delay_ms: float = attrs.field(default=50.0, validator=_non_negative)
    retry_after: int = 1
    wrap_errors: bool = False
    seed_templates: bool = True
    waba_id: str = DEFAULT_WABA_ID
    analytics_enabled: bool = True
    analytics_shape: str = attrs.field(default="spec", validator=_analytics_shape)
    clock: Callable[[], float] | None = None
    wall_clock: Callable[[], float] = time.time
    webhook_url: str | None = None
    webhooks: WebhookSettings = attrs.field(factory=WebhookSettings)

    def __attrs_post_init__(self) -> None:
        check_kinds(self.fault_kinds, what="fault kind")
        check_kinds(self.faults, what="fault")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError(f"fault_rate must be within [0, 1], got {self.fault_rate}")
        if not self.api_key:
            raise ValueError("api_key must not be empty")
        if self.slow_body_chunks < 1 or self.retry_after < 0:
            raise ValueError("slow_body_chunks must be >= 1 and retry_after >= 0")

    @property
    def all_api_keys(self) -> tuple[str, ...]:
        """``api_key`` followed by ``api_keys``, without duplicates."""
        return tuple(dict.fromkeys((self.api_key, *self.api_keys)))
