"""The emulator's mutable state: keys, templates, records, counters, limiters and faults."""

from __future__ import annotations

import base64
import hashlib
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from ._config import EmulatorConfig
from ._faults import FaultPlan, Latency
from ._ratelimit import PairLimiter, TokenBucket
from ._records import Dataset, RecordedEvent, RecordedSend
from ._responses import ErrorFactory
from ._templates import TemplateStore
from ._webhooks import WebhookSender

_FIRST_DATASET_ID = 1_340_000_000_000_001


class State:
    """Everything the handlers read and write; one instance per emulator.

    Args:
        config: The validated options.

    Example:
        >>> state = State(EmulatorConfig(seed=1))
        >>> sent = state.record_send(to="+49 151 1", wa_id="491511", template_name="t",
        ...                          language="en_US", template_id="1", api_key="k",
        ...                          path="/marketing_messages", raw=b"{}")
        >>> (sent.wamid.startswith("wamid."), state.snapshot()["recipients"])
        (True, {'491511': 1})
    """

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.api_keys: set[str] = set(config.all_api_keys)
        self.faults = FaultPlan(
            seed=config.seed,
            rate=config.fault_rate,
            kinds=config.fault_kinds,
            schedule=config.faults,
        )
        self.latency = Latency(
            fixed_ms=config.latency_ms, jitter_ms=config.latency_jitter_ms, seed=self.faults.seed
        )
        self.errors = ErrorFactory(wrap=config.wrap_errors, trace_id=self.trace_id)
        self.clock: Callable[[], float] = config.clock or time.monotonic
        self.wall_clock = config.wall_clock
        tag = hashlib.blake2b(b"%d" % self.faults.seed, digest_size=3).digest()
        self._tag = base64.b32encode(tag).decode().rstrip("=")
        self._tag_bytes = self._tag.encode()
        self.templates = TemplateStore(seed=config.seed_templates)
        self.webhooks = WebhookSender(
            config.webhooks, url=config.webhook_url, waba_id=config.waba_id, seed=self.faults.seed
        )
        self._reset_records()

    def _reset_records(self) -> None:
        self.sent: list[RecordedSend] = []
        self.recipients: Counter[str] = Counter()
        self.events: dict[str, list[RecordedEvent]] = {}
        self.event_keys: dict[str, set[tuple[str, str]]] = {}
        self.duplicate_events = 0
        self.datasets: dict[str, Dataset] = {}
        self.recipient_errors: dict[str, int] = {}
        self.requests: Counter[str] = Counter()
        self.rate_limited = 0
        self.pair_rate_limited = 0
        self.analytics_enabled = self.config.analytics_enabled
        self.buckets: dict[str, TokenBucket] = {}
        self.pairs = (
            PairLimiter(self.config.pair_rate_limit, self.config.pair_window, self.clock)
            if self.config.pair_rate_limit
            else None
        )
        self._wamid_seq = 0
        self._trace_seq = 0
        self._dataset_seq = _FIRST_DATASET_ID

    def reset(self, *, templates: bool = True) -> None:
        """Forget records and counters, restart faults; re-seed templates unless told not to."""
        self._reset_records()
        self.webhooks.reset()
        self.faults.reset()
        self.latency.reset()
        if templates:
            self.templates = TemplateStore(seed=self.config.seed_templates)

    def set_clock(self, clock: Callable[[], float]) -> None:
        """Use ``clock`` for the limiters (restarting them)."""
        self.clock = clock
        self.buckets.clear()
        if self.pairs is not None:
            self.pairs = PairLimiter(self.pairs.limit, self.pairs.window, clock)

    def bucket(self, api_key: str) -> TokenBucket | None:
        """The token bucket of ``api_key`` (None when sends are not rate limited)."""
        bucket = self.buckets.get(api_key)
        if bucket is None:
            rate = self.config.rate
            if rate is None:
                return None
            capacity = max(1.0, self.config.burst or rate)
            bucket = self.buckets[api_key] = TokenBucket(rate, capacity, self.clock)
        return bucket

    def trace_id(self) -> str:
        """A fresh ``fbtrace_id``."""
        self._trace_seq += 1
        raw = hashlib.blake2b(b"%s:%d" % (self._tag.encode(), self._trace_seq), digest_size=16)
        return "A" + base64.urlsafe_b64encode(raw.digest()).decode()[:22]

    def record_send(
        self,
        *,
        to: str,
        wa_id: str,
        template_name: str,
        language: str,
        template_id: str,
        api_key: str,
        path: str,
        raw: bytes,
    ) -> RecordedSend:
        """Record an accepted send and return it (with its new wamid)."""
        self._wamid_seq += 1
        unique = b"%s:%s:%d" % (wa_id.encode(), self._tag_bytes, self._wamid_seq)
        wamid = "wamid.HBgL" + base64.b64encode(unique).decode().rstrip("=")
        message = RecordedSend(
            wamid,
            to,
            wa_id,
            template_name,
            language,
            template_id,
            api_key,
            path,
            self.wall_clock(),
            raw,
        )
        self.sent.append(message)
        recipients = self.recipients
        recipients[wa_id] = recipients.get(wa_id, 0) + 1
        self.webhooks.accepted(message)
        return message

    def dataset_for(self, node_id: str, name: str | None) -> Dataset:
        """The node's dataset, created on first use."""
        dataset = self.datasets.get(node_id)
        if dataset is None:
            dataset_id = str(self._dataset_seq)
            self._dataset_seq += 1
            dataset = Dataset(node_id, dataset_id, name or f"WhatsApp Business Dataset {node_id}")
            self.datasets[node_id] = dataset
        return dataset

    def snapshot(self) -> dict[str, Any]:
        """The JSON summary served at ``GET /_emulator/state``."""
        return {
            "sent": len(self.sent),
            "recipients": dict(self.recipients),
            "duplicates": {wa_id: n for wa_id, n in self.recipients.items() if n > 1},
            "events": {node: len(events) for node, events in self.events.items()},
            "duplicate_events": self.duplicate_events,
            "datasets": {node: {"id": d.id, "name": d.name} for node, d in self.datasets.items()},
            "requests": dict(self.requests),
            "faults": dict(self.faults.injected),
            "fault_log": [list(entry) for entry in self.faults.log],
            "rate_limited": self.rate_limited,
            "pair_rate_limited": self.pair_rate_limited,
            "analytics_enabled": self.analytics_enabled,
            "webhooks": self.webhooks.snapshot(),
            "templates": [
                {"id": t.id, "name": t.name, "language": t.language, "status": t.status}
                for t in self.templates.ordered()
            ],
        }
