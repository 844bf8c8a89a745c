"""Reaching the tier: ``concurrency="auto"`` at real latencies, 80/s and 1,000/s.

Every cell: the emulator in its own process with a latency of L ms +/-20 % (uniform) and its own
token bucket of R sends/s (one second's worth); the client limited to the same R, every other
setting left at its default (``concurrency="auto"``, the connection pool sized from the rate).
A campaign of R x ``--seconds`` messages; the rate is what the emulator accepted, from its
first to its last acceptance (the ramp-up counts). Target: >= 95 % of R with no 429 and no
failed message in every cell.

``events`` does the same with ``send_conversion_events``: R requests/s of small batches
(``--batch`` events each) through a client limiting Conversions API requests to R, against the
emulator with the same latency. The emulator does not throttle events: the 429 column counts
the pauses the client made (none expected), and the request rate is measured where the requests
leave the client's limiter.

Usage::

    python benchmarks/bench_tier.py [bulk|events|all] [--seconds S] [--limits 80,1000]
        [--latencies 50,200,500,1000] [--batch B] [--concurrency auto|N] [--check]
    python benchmarks/bench_tier.py python-cost [--requests N] [--rounds R]

``--check`` exits 1 when a cell misses the target.

``python-cost`` (a diagnostic, not among ``all``): the client's Python work per request, with no
sockets. ``send_conversion_events`` (``--batch`` events per request, ``hash_pii=False`` as in the
cells) and ``send_bulk`` over the fake aiohttp session of ``bench_bulk.py python-cost`` (answers
captured once from the emulator, each a turn of the loop later), both through an open
``LocalLimiter`` bucket, against a bare loop awaiting the same fake request (the baseline, in the
same run). The minimum and the median of ``--rounds`` repetitions after a warm-up, in CPU
microseconds per request::

    python benchmarks/bench_tier.py python-cost [--requests 10000] [--rounds 5]
        [--batch 2] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import API_KEY, emulator, pin_client
from _recording_emulator import Recording, busiest_window, raise_open_files_limit, rate
from bench_bulk import fake_session, messages, stub_loop

from d360_async import D360Client, LocalLimiter, Scope
from d360_async._payloads import prepare_message

TARGET = 0.95
NODE = "1122334455667788"


@attrs.frozen
class Cell:
    kind: str
    limit: int
    latency_ms: int
    achieved: float
    busiest: int
    throttled: int
    failed: int
    count: int
    cpu_us: float  # this (client) process's CPU per request

    @property
    def share(self) -> float:
        return self.achieved / self.limit

    @property
    def met(self) -> bool:
        return self.share >= TARGET and self.throttled == 0 and self.failed == 0


def latency_options(latency_ms: int) -> list[str]:
    """L ms +/-20 %: a fixed 0.8 L plus a uniform 0 to 0.4 L."""
    return ["--latency-ms", f"{0.8 * latency_ms:g}", "--latency-jitter-ms", f"{0.4 * latency_ms:g}"]


def events(count: int) -> Iterator[dict[str, Any]]:
    now = int(time.time())
    for i in range(count):
        yield {
            "event_name": "Purchase",
            "event_time": now,
            "event_id": f"order-{i}",
            "action_source": "business_messaging",
            "messaging_channel": "whatsapp",
            "user_data": {"ctwa_clid": f"ARAkLkA8rmlF{i:08d}", "external_id": f"customer-{i}"},
            "custom_data": {"currency": "USD", "value": 42.0},
        }


class StartTimes:
    """A ``RateLimiter`` around another that notes when each request of a scope leaves it."""

    def __init__(self, limiter: Any, scope: Scope) -> None:
        self.limiter = limiter
        self.scope = scope
        self.starts: list[float] = []
        self.pauses = 0  # the server throttled a request (the client pauses after a 429)

    def rate(self, scope: Scope) -> float | None:
        return self.limiter.rate(scope)  # type: ignore[no-any-return]

    async def acquire(self, scope: Scope, *, key: str | None = None) -> None:
        await self.limiter.acquire(scope, key=key)
        if scope is self.scope:
            self.starts.append(time.time())

    async def pause(self, scope: Scope, seconds: float) -> None:
        self.pauses += 1
        await self.limiter.pause(scope, seconds)


async def bulk_cell(limit: int, latency_ms: int, seconds: float, concurrency: Any) -> Cell:
    count = int(limit * seconds)
    with Recording("--rate", str(limit), "--seed", "1", *latency_options(latency_ms)) as emulator:
        cpu = time.process_time()
        async with D360Client(API_KEY, base_url=emulator.url, rate_limit=limit) as client:
            report = await client.send_bulk(messages(count, 0), concurrency=concurrency).run()
        cpu = time.process_time() - cpu
        dump = emulator.dump()
    accepted = dump["accepted"]
    return Cell(
        kind="send_bulk",
        limit=limit,
        latency_ms=latency_ms,
        achieved=rate(accepted),
        busiest=busiest_window(accepted),
        throttled=dump["rate_limited"],
        failed=report.failed + report.unknown,
        count=len(accepted),
        cpu_us=cpu / max(1, len(accepted)) * 1e6,
    )


async def events_cell(
    limit: int, latency_ms: int, seconds: float, batch: int, concurrency: Any
) -> Cell:
    requests = int(limit * seconds)
    limiter = StartTimes(LocalLimiter(None, events=limit), Scope.EVENTS)
    with Recording("--rate", "none", "--seed", "1", *latency_options(latency_ms)) as emulator:
        cpu = time.process_time()
        async with D360Client(API_KEY, base_url=emulator.url, rate_limit=limiter) as client:
            run = client.send_conversion_events(
                NODE,
                events(requests * batch),
                batch_size=batch,
                hash_pii=False,
                concurrency=concurrency,
            )
            report = await run.run()
        cpu = time.process_time() - cpu
    return Cell(
        kind="send_conversion_events",
        limit=limit,
        latency_ms=latency_ms,
        achieved=rate(limiter.starts),
        busiest=busiest_window(limiter.starts),
        throttled=limiter.pauses,
        failed=report.failed,
        count=len(limiter.starts),
        cpu_us=cpu / max(1, len(limiter.starts)) * 1e6,
    )


async def python_cost(args: argparse.Namespace) -> int:
    """CPU microseconds per request of ``send_conversion_events`` and ``send_bulk`` over a fake
    session, and of a bare loop over the same fake requests (see the module's docstring)."""
    n, batch, reps = args.requests, args.batch, max(args.rounds, 1)
    workers = 50 if args.concurrency == "auto" else args.concurrency
    body = orjson.dumps({"data": list(events(batch))})
    with emulator() as (url, _):  # one real answer of each kind, captured before any timing
        async with aiohttp.ClientSession(headers={"D360-API-KEY": API_KEY}) as session:
            answers = []
            for path, data in (
                ("/marketing/message_templates?name=welcome_offer&language=en_US", None),
                (f"/marketing/{NODE}/events", body),
                ("/marketing_messages", orjson.dumps(prepare_message(next(messages(1, 0))))),
            ):
                method = "GET" if data is None else "POST"
                headers = {"Content-Type": "application/json"}
                async with session.request(method, url + path, data=data, headers=headers) as r:
                    answers.append(await r.read())
    read, received, sent = answers
    timings: dict[str, list[float]] = {"stub": [], "events": [], "bulk": []}

    async def conversions(fake: aiohttp.ClientSession, items: list[Any]) -> None:
        limiter = LocalLimiter(None, events=1e9)  # an open bucket: acquired, never waited for
        async with D360Client(API_KEY, base_url=url, rate_limit=limiter, session=fake) as client:
            report = await client.send_conversion_events(
                NODE, items, batch_size=batch, hash_pii=False, concurrency=workers
            ).run()
        if report.received != n * batch or report.requests != n:
            raise RuntimeError(f"send_conversion_events: {report}")

    async def bulk(fake: aiohttp.ClientSession, items: list[Any]) -> None:
        limiter = LocalLimiter(1e9)
        async with D360Client(API_KEY, base_url=url, rate_limit=limiter, session=fake) as client:
            report = await client.send_bulk(items, concurrency=workers).run()
        if report.sent != n:
            raise RuntimeError(f"send_bulk: {report}")

    for rep in range(reps + 1):  # repetition 0 warms up
        for kind in timings:
            fake = fake_session(read, received if kind == "events" else sent)
            items: list[Any] = (
                list(events(n * batch)) if kind == "events" else list(messages(n, rep * n))
            )
            gc.collect()
            cpu = time.process_time()
            if kind == "stub":
                await stub_loop(fake, url, body, n, workers)
            elif kind == "events":
                await conversions(fake, items)
            else:
                await bulk(fake, items)
            if rep:
                timings[kind].append(1e6 * (time.process_time() - cpu) / n)
            await fake.close()
    print(
        f"\npython cost: {n:,} requests x {reps} repetitions, {workers} in flight, no sockets, "
        f"{batch} events per Conversions API request"
    )
    print(f"{'CPU us/request':<36}{'min':>8}{'median':>8}")
    labels = {
        "stub": "bare loop over the stub",
        "events": "send_conversion_events(...).run()",
        "bulk": "send_bulk(...).run()",
    }
    for kind, label in labels.items():
        print(f"{label:<36}{min(timings[kind]):>8.1f}{statistics.median(timings[kind]):>8.1f}")
    stub_us = min(timings["stub"])
    for kind in ("events", "bulk"):
        label = labels[kind].split("(")[0] + " minus the stub"
        print(f"{label:<36}{min(timings[kind]) - stub_us:>8.1f}")
    return 0


def print_table(title: str, cells: list[Cell]) -> None:
    print(f"\n{title}")
    print("limit/s  latency  achieved/s  of limit  busiest 1 s  429s  failed  requests  CPU us/req")
    for c in cells:
        print(
            f"{c.limit:>7,}  {c.latency_ms:>4} ms  {c.achieved:>10,.1f}  {c.share:>7.1%}  "
            f"{c.busiest:>11,}  {c.throttled:>4}  {c.failed:>6}  {c.count:>8,}  {c.cpu_us:>10,.0f}"
        )


async def bench(args: argparse.Namespace) -> int:
    raise_open_files_limit()
    pin_client()
    if args.kind == "python-cost":
        return await python_cost(args)
    cells: list[Cell] = []
    kinds = ("bulk", "events") if args.kind == "all" else (args.kind,)
    for kind in kinds:
        done: list[Cell] = []
        for limit in args.limits:
            for latency in args.latencies:
                if kind == "bulk":
                    cell = await bulk_cell(limit, latency, args.seconds, args.concurrency)
                else:
                    cell = await events_cell(
                        limit, latency, args.seconds, args.batch, args.concurrency
                    )
                done.append(cell)
                print(
                    f"  {cell.kind} {limit}/s {latency} ms: {cell.achieved:,.1f}/s "
                    f"({cell.share:.1%}), {cell.throttled} x 429, {cell.failed} failed, "
                    f"{cell.cpu_us:,.0f} us CPU/request",
                    flush=True,
                )
        title = (
            f"{done[0].kind}, concurrency={args.concurrency!r}, {args.seconds:g} s of the limit "
            "per cell, latency +/-20 %"
        )
        if kind == "events":
            title += f", {args.batch} events per request"
        print_table(title, done)
        cells.extend(done)
    missed = [c for c in cells if not c.met]
    verdict = "met" if not missed else f"MISSED in {len(missed)} cell(s)"
    print(
        f"\ntarget: >= {TARGET:.0%} of the limit, no 429, nothing failed, in every cell: {verdict}"
    )
    return 1 if args.check and missed else 0


def numbers(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "kind", nargs="?", choices=("bulk", "events", "all", "python-cost"), default="all"
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="campaign length per cell")
    parser.add_argument("--limits", type=numbers, default=[80, 1000])
    parser.add_argument("--latencies", type=numbers, default=[50, 200, 500, 1000])
    parser.add_argument("--batch", type=int, default=2, help="events per request")
    parser.add_argument("--requests", type=int, default=10_000, help="python-cost: requests")
    parser.add_argument("--rounds", type=int, default=5, help="python-cost: repetitions")
    parser.add_argument(
        "--concurrency",
        type=lambda text: text if text == "auto" else int(text),
        default="auto",
        help="auto (judged) or a fixed number, for comparison",
    )
    parser.add_argument("--check", action="store_true")
    return asyncio.run(bench(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
