"""Deterministic fault injection: an explicit schedule, a seeded rate, latency and slow bodies."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections import Counter, deque
from collections.abc import Iterable
from typing import Final

from aiohttp import web

from ._responses import JSON, ErrorFactory

OK: Final = "ok"
#: Faults answered with an HTTP error status.
STATUS_FAULTS: Final = frozenset({"500", "502", "503", "429"})
#: Every fault kind a schedule may name.
FAULT_KINDS: Final = frozenset({OK, *STATUS_FAULTS, "drop_before", "drop_after", "slow"})
#: Kinds drawn by ``fault_rate`` unless ``fault_kinds`` says otherwise.
DEFAULT_RATE_KINDS: Final = ("500", "502", "503", "429")

_BAD_GATEWAY = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


def check_kinds(kinds: Iterable[str], *, what: str) -> tuple[str, ...]:
    """Validate fault names; raises ``ValueError`` naming the first unknown one."""
    result = tuple(kinds)
    for kind in result:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown {what} {kind!r}; expected one of {sorted(FAULT_KINDS)}")
    return result


class FaultPlan:
    """Decides, per faultable request, which fault (if any) to inject.

    The explicit ``schedule`` is consumed first, one entry per faultable request in arrival
    order. After it runs out, each request faults with probability ``rate``; the draw is a
    hash of ``(seed, operation, request body, how many times that body was seen)``, so the same
    seed and the same requests give the same faults whatever the interleaving of concurrent
    requests, and a retried request (same body) gets a fresh, equally reproducible draw.

    Args:
        seed: Seed for the draws and the latency jitter (``None``: random each run).
        rate: Probability in [0, 1] that a request after the schedule faults.
        kinds: Kinds ``rate`` chooses from (uniformly).
        schedule: Explicit fault kinds (``"ok"`` for no fault).

    Example:
        >>> plan = FaultPlan(seed=7, rate=0.0, kinds=("500",), schedule=["503", "ok"])
        >>> [plan.decide("send", b"{}") for _ in range(3)]
        ['503', 'ok', 'ok']
    """

    def __init__(
        self,
        *,
        seed: int | None,
        rate: float,
        kinds: Iterable[str],
        schedule: Iterable[str],
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault_rate must be within [0, 1], got {rate}")
        self.rate = rate
        self.kinds = check_kinds(kinds, what="fault kind")
        if rate > 0 and not self.kinds:
            raise ValueError("fault_kinds must not be empty when fault_rate > 0")
        self._initial = check_kinds(schedule, what="fault")
        self.seed = seed if seed is not None else random.SystemRandom().getrandbits(63)
        self.schedule: deque[str] = deque()
        self.log: list[tuple[str, str]] = []
        self.injected: Counter[str] = Counter()
        self._seen: Counter[bytes] = Counter()
        self.reset()

    def reset(self) -> None:
        """Restart the schedule and the draws from the beginning."""
        self.schedule = deque(self._initial)
        self.log.clear()
        self.injected.clear()
        self._seen.clear()

    def extend(self, kinds: Iterable[str]) -> None:
        """Append entries to the schedule."""
        self.schedule.extend(check_kinds(kinds, what="fault"))

    @property
    def active(self) -> bool:
        """Whether any request may still fault."""
        return bool(self.schedule) or self.rate > 0.0

    def decide(self, operation: str, body: bytes) -> str:
        """The fault for this request (``"ok"`` for none); logged and counted."""
        if self.schedule:
            kind = self.schedule.popleft()
        elif self.rate > 0.0:
            kind = self._draw(operation, body)
        else:
            kind = OK
        self.log.append((operation, kind))
        if kind != OK:
            self.injected[kind] += 1
        return kind

    def _draw(self, operation: str, body: bytes) -> str:
        digest = hashlib.blake2b(body, digest_size=16, key=operation.encode()[:64]).digest()
        self._seen[digest] += 1
        material = b"%d|%d|" % (self.seed, self._seen[digest]) + digest
        draw = hashlib.blake2b(material, digest_size=16).digest()
        roll = int.from_bytes(draw[:8], "big") / 2**64
        if roll >= self.rate:
            return OK
        return self.kinds[int.from_bytes(draw[8:], "big") % len(self.kinds)]


class Latency:
    """Fixed plus uniformly jittered delay, drawn from a seeded generator.

    Example:
        >>> Latency(fixed_ms=20, jitter_ms=0, seed=1).next_delay()
        0.02
    """

    __slots__ = ("_fixed", "_jitter", "_rng", "_seed")

    def __init__(self, *, fixed_ms: float, jitter_ms: float, seed: int) -> None:
        if fixed_ms < 0 or jitter_ms < 0:
            raise ValueError("latency must not be negative")
        self._fixed = fixed_ms / 1000.0
        self._jitter = jitter_ms / 1000.0
        self._seed = seed
        self._rng = random.Random(seed)

    @property
    def enabled(self) -> bool:
        """Whether any delay is added."""
        return self._fixed > 0 or self._jitter > 0

    def reset(self) -> None:
        """Restart the jitter sequence."""
        self._rng = random.Random(self._seed)

    def next_delay(self) -> float:
        """Seconds to wait before handling the next request."""
        if self._jitter:
            return self._fixed + self._rng.uniform(0.0, self._jitter)
        return self._fixed


def fault_response(kind: str, errors: ErrorFactory, retry_after: int) -> web.Response:
    """The answer for a status fault (``500``, ``502``, ``503``, ``429``).

    ``500`` and ``503`` are Meta-shaped JSON (codes 1 and 2, ``is_transient``), ``502`` is the
    HTML page a proxy sends, ``429`` is Meta's 130429 with ``Retry-After``.
    """
    if kind == "429":
        return errors.throttled(retry_after)
    if kind == "502":
        return web.Response(body=_BAD_GATEWAY, status=502, content_type="text/html")
    if kind == "503":
        return errors.response(
            503,
            2,
            "Service temporarily unavailable",
            error_type="OAuthException",
            extra={"is_transient": True},
        )
    return errors.response(500, 1, "An unknown error has occurred.", extra={"is_transient": True})


def drop(request: web.Request) -> web.Response:
    """Close the connection without answering; the returned response is never written."""
    transport = request.transport
    if transport is not None:
        transport.close()
    return web.Response(status=499)


async def write_slowly(
    request: web.Request, response: web.Response, *, chunks: int, delay: float
) -> web.StreamResponse:
    """Send ``response`` in ``chunks`` pieces with ``delay`` seconds between them."""
    body = response.body
    assert isinstance(body, bytes)
    headers = {
        name: value
        for name, value in response.headers.items()
        if name.lower() not in ("content-length", "content-type")
    }
    stream = web.StreamResponse(status=response.status, headers=headers)
    stream.content_type = response.content_type or JSON
    stream.content_length = len(body)
    await stream.prepare(request)
    size = max(1, -(-len(body) // max(1, chunks)))
    for offset in range(0, len(body), size):
        if offset:
            await asyncio.sleep(delay)
        await stream.write(body[offset : offset + size])
    await stream.write_eof()
    return stream
