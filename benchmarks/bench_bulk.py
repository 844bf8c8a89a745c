"""Benchmarks of ``send_bulk`` against the emulator running in its own process.

Three measurements, each against a baseline taken in the same run:

``throughput``
    ``send_bulk`` (``run()`` with the journal off; then ``async for`` over every result; then
    the journal on) against raw aiohttp posting the same prebuilt JSON bodies at the same
    concurrency. A warm-up round, then rounds in alternating order, raw aiohttp next to
    ``send_bulk`` in each; the emulator's record is emptied before every run. Each round's
    ratio to raw aiohttp cancels the drift of a shared machine between rounds; the median of
    those ratios is judged. Reports messages/s and this process's CPU time per message (the
    emulator's CPU is not counted). Client and emulator are pinned to different CPUs.
``memory``
    1,000,000 messages streamed from a generator, in a fresh child process: peak RSS at 100,000
    results and at the end.
``ratelimit``
    The emulator limited to 500 messages/s with 50 ms latency; the client limited to 500/s:
    achieved rate and the number of 429s.
``python-cost``
    The pure Python cost of one send, with no sockets: ``send_bulk(...).run()`` over a fake
    aiohttp session that answers at once with bodies the emulator gave (captured once, before
    the timing), against a bare loop awaiting the same fake request per message (the
    baseline: what any client pays to use the stub). Several repetitions, the minimum of
    each, as CPU microseconds per message. Not among ``all`` (it is a diagnostic, not a
    target); run it on two commits with ``PYTHONPATH=<other checkout>`` to compare them.

Usage::

    python benchmarks/bench_bulk.py [throughput|memory|ratelimit|all|python-cost]
        [--messages N] [--concurrency C] [--rounds R] [--check]

``--check`` exits 1 when a target is missed: throughput >= 0.9 x raw and CPU/message <= 1.15 x
raw (median same-round ratios, ``run()``, journal off), peak RSS < 150 MB and growth from
100,000 to the end < 20 MB, >= 95 % of 500/s with no 429.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import API_KEY, ROOT, emulator, peak_rss_mb, pin_client, reset_emulator

from d360_async import D360Client, MessageBuilder, RetryPolicy
from d360_async._payloads import prepare_message

BUILDER = MessageBuilder(name="welcome_offer", language="en_US", policy="deterministic")


def messages(count: int, offset: int) -> Iterator[dict[str, Any]]:
    """Plain-dict messages, one recipient each (the emulator records every one)."""
    for i in range(offset, offset + count):
        yield {
            "to": f"49151{i:08d}",
            "template": {
                "name": "welcome_offer",
                "language": {"code": "en_US", "policy": "deterministic"},
                "components": [
                    {"type": "body", "parameters": [{"type": "text", "text": f"User {i}"}]}
                ],
            },
        }


async def raw_aiohttp(url: str, bodies: list[bytes], concurrency: int) -> tuple[float, float]:
    """Post prebuilt bodies; returns (seconds, CPU seconds of this process)."""
    headers = {"D360-API-KEY": API_KEY, "Content-Type": "application/json"}
    position = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal position
        while position < len(bodies):
            body = bodies[position]
            position += 1
            async with session.post(url + "/marketing_messages", data=body, headers=headers) as r:
                await r.read()
                if r.status != 200:
                    raise RuntimeError(f"raw post failed: {r.status}")

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return time.perf_counter() - wall, time.process_time() - cpu


async def sdk(
    url: str,
    items: list[dict[str, Any]],
    concurrency: int,
    journal: Path | None,
    *,
    iterate: bool = False,
) -> tuple[float, float]:
    """``send_bulk`` over the same messages, with ``run()`` or (``iterate``) ``async for``
    over every result; returns (seconds, CPU seconds of this process)."""
    async with D360Client(API_KEY, base_url=url, rate_limit=None) as client:
        cpu, wall = time.process_time(), time.perf_counter()
        run = client.send_bulk(items, concurrency=concurrency, journal=journal)
        if iterate:
            async for _ in run:
                pass
            report = run.report
        else:
            report = await run.run()
        elapsed, used = time.perf_counter() - wall, time.process_time() - cpu
    if report.sent != len(items):
        raise RuntimeError(f"send_bulk sent {report.sent} of {len(items)}: {report}")
    return elapsed, used


async def one_run(
    kind: str, url: str, items: list[dict[str, Any]], concurrency: int, journal: Path | None
) -> tuple[float, float]:
    """One measured run of ``kind`` (raw, sdk, iterate or journal): (seconds, CPU seconds)."""
    if kind == "raw":
        bodies = [orjson.dumps(prepare_message(m)) for m in items]
        return await raw_aiohttp(url, bodies, concurrency)
    return await sdk(url, items, concurrency, journal, iterate=kind == "iterate")


async def throughput(args: argparse.Namespace) -> bool:
    n, c = args.messages, args.concurrency
    kinds = ["raw", "sdk", "iterate", "journal"]
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in kinds}
    with emulator() as (url, _), tempfile.TemporaryDirectory() as tmp:
        async with aiohttp.ClientSession() as control:
            offset = 0
            for round_ in range(args.rounds + 1):  # round 0 warms the emulator and both clients up
                for kind in kinds if round_ % 2 == 0 else kinds[::-1]:
                    items = list(messages(n, offset))
                    offset += n
                    await reset_emulator(control, url)  # every run meets an empty record
                    gc.collect()
                    journal = Path(tmp, f"j{round_}.sqlite") if kind == "journal" else None
                    figures = await one_run(kind, url, items, c, journal)
                    if round_:
                        results[kind].append(figures)
    labels = {
        "raw": "raw aiohttp (prebuilt JSON)",
        "sdk": "send_bulk, journal off",
        "iterate": "  the same, async for",
        "journal": "send_bulk, journal on",
    }
    print(f"\nthroughput: {n:,} messages x {args.rounds} rounds (+1 warm-up), concurrency {c}")
    rates = {k: [n / s for s, _ in v] for k, v in results.items()}
    cpus = {k: [1e6 * u / n for _, u in v] for k, v in results.items()}
    print(f"{'median of rounds':<28}{'messages/s':>12}{'CPU us/msg':>12}{'min-max CPU':>14}")
    for kind, label in labels.items():
        low, high = min(cpus[kind]), max(cpus[kind])
        print(
            f"{label:<28}{statistics.median(rates[kind]):>12,.0f}"
            f"{statistics.median(cpus[kind]):>12.1f}{f'{low:.0f}-{high:.0f}':>14}"
        )
    # Each round measures raw and send_bulk back to back: their ratio within a round cancels
    # the drift of a shared machine between rounds; the median of the rounds' ratios is judged.
    print(f"{'ratio to raw, same round':<28}{'rate median':>12}{'CPU median':>12}{'rate min':>10}")
    ok = True
    for kind in kinds[1:]:
        rate = [s / r for s, r in zip(rates[kind], rates["raw"], strict=True)]
        cpu = [s / r for s, r in zip(cpus[kind], cpus["raw"], strict=True)]
        rate_ratio, cpu_ratio = statistics.median(rate), statistics.median(cpu)
        print(f"{labels[kind]:<28}{rate_ratio:>12.3f}{cpu_ratio:>12.3f}{min(rate):>10.3f}")
        if kind == "sdk":
            ok = rate_ratio >= 0.9 and cpu_ratio <= 1.15
    verdict = "met" if ok else "MISSED"
    print(f"targets (median same-round ratio, journal off): rate >= 0.9, CPU <= 1.15: {verdict}")
    return ok


async def memory_child(url: str, n: int) -> None:
    """Runs in a fresh process: stream ``n`` built messages, print RSS at 100k and the end."""
    at_100k = 0.0

    def generate() -> Iterator[Any]:
        for i in range(n):
            yield BUILDER.build(f"4{i:012d}", body=[f"User {i}"])

    async with D360Client(API_KEY, base_url=url, rate_limit=None) as client:
        count = 0
        started = time.perf_counter()
        async with client.send_bulk(generate(), concurrency=64) as run:
            async for _ in run:
                count += 1
                if count == 100_000:
                    at_100k = peak_rss_mb()
        elapsed = time.perf_counter() - started
    print(json.dumps({"n": n, "at_100k": at_100k, "end": peak_rss_mb(), "seconds": elapsed}))
    if run.report.sent != n:
        raise SystemExit(f"sent {run.report.sent} of {n}")


async def memory(args: argparse.Namespace) -> bool:
    n = args.messages if args.messages != 20_000 else 1_000_000
    with emulator() as (url, _):
        command = [sys.executable, __file__, "memory-child", "--url", url, "--messages", str(n)]
        child = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, cwd=ROOT
        )
        stdout, _ = await child.communicate()
        if child.returncode:
            raise RuntimeError(f"memory child failed with status {child.returncode}")
    figures = json.loads(stdout.decode().strip().splitlines()[-1])
    growth = figures["end"] - figures["at_100k"]
    print(f"\nmemory: {n:,} messages from a generator in {figures['seconds']:.0f} s")
    print(f"peak RSS at 100,000: {figures['at_100k']:.1f} MB; at the end: {figures['end']:.1f} MB")
    ok = figures["end"] < 150 and growth < 20
    print(f"targets: peak < 150 MB, growth < 20 MB ({growth:.1f}): {'met' if ok else 'MISSED'}")
    return ok


async def ratelimit(args: argparse.Namespace) -> bool:
    n, limit = 5_000, 500
    stamps: list[float] = []
    with emulator("--rate", str(limit), "--latency-ms", "50") as (url, _):
        async with D360Client(
            API_KEY,
            base_url=url,
            rate_limit=limit,
            retry=RetryPolicy.never(),  # a 429 would show up as a failure
        ) as client:
            started = time.perf_counter()
            async with client.send_bulk(messages(n, 0), concurrency=64) as run:
                async for _ in run:
                    stamps.append(time.perf_counter() - started)
        async with aiohttp.ClientSession() as session, session.get(url + "/_emulator/state") as r:
            state = await r.json()
    report = run.report
    steady = [t for t in stamps if t >= 1.0]  # after the first second's burst of tokens
    steady_rate = (len(steady) - 1) / (steady[-1] - steady[0])
    throttled = state["rate_limited"]
    print(f"\nrate limit: {n:,} messages, server 500/s with 50 ms latency, client 500/s")
    print(
        f"overall {report.sent / stamps[-1]:,.0f}/s, steady {steady_rate:,.1f}/s "
        f"({steady_rate / limit:.1%} of the server limit), 429s: {throttled}, "
        f"failed: {report.failed}"
    )
    ok = steady_rate >= 0.95 * limit and throttled == 0 and report.failed == 0
    print(f"targets: >= 95% of 500/s, zero 429s: {'met' if ok else 'MISSED'}")
    return ok


class _FakeResponse:
    """What the transport reads of an aiohttp response."""

    __slots__ = ("_raw", "headers", "reason", "status")

    def __init__(self, raw: bytes) -> None:
        self._raw, self.status, self.reason, self.headers = raw, 200, "OK", {}

    async def read(self) -> bytes:
        await asyncio.sleep(0)  # a real answer comes in a later turn of the loop
        return self._raw


class _FakeRequest:
    """``session.request(...)``'s context manager: the connection comes from the connector
    (the client's own seam, if this version has one), the response at once."""

    __slots__ = ("_connector", "_response")

    def __init__(self, connector: Any, response: _FakeResponse) -> None:
        self._connector, self._response = connector, response

    async def __aenter__(self) -> _FakeResponse:
        if self._connector is not None:
            await self._connector.connect(None, [], None)
        return self._response

    async def __aexit__(self, *exc: object) -> None:
        return None


def fake_session(read: bytes, sent: bytes) -> aiohttp.ClientSession:
    """An aiohttp session without sockets: GETs get ``read``, POSTs get ``sent``; its
    connector is the client's own class (its ``on_wire`` seam included, if this version has
    one) over a pool that hands out a dummy connection."""
    try:
        from d360_async._wire import WireConnector
    except ImportError:  # a version without the seam: the fake requests skip the connector
        WireConnector = None

    class _NoSocket(aiohttp.TCPConnector):
        async def connect(self, *_: object) -> Any:
            return None

    with warnings.catch_warnings():  # aiohttp discourages subclassing its session
        warnings.simplefilter("ignore", DeprecationWarning)

        class _Session(aiohttp.ClientSession):
            def request(self, method: str, url: object, **_: object) -> Any:
                return answers[method == "GET"]

    connector: Any = None
    if WireConnector is not None:

        class _Seam(WireConnector, _NoSocket):  # WireConnector.connect, then the dummy one
            pass

        connector = _Seam(limit=1000)
    session = _Session(connector=connector)
    seam = connector
    answers = {
        True: _FakeRequest(seam, _FakeResponse(read)),
        False: _FakeRequest(seam, _FakeResponse(sent)),
    }
    return session


async def stub_loop(
    fake: aiohttp.ClientSession, url: str, body: bytes, n: int, workers: int
) -> None:
    """The baseline of a python-cost run: ``workers`` tasks awaiting the fake POST ``n`` times."""
    left = iter(range(n))

    async def worker() -> None:
        for _ in left:
            async with fake.request("POST", url, data=body) as response:
                await response.read()

    await asyncio.gather(*(worker() for _ in range(workers)))


async def python_cost(args: argparse.Namespace) -> bool:
    """The CPU time of ``send_bulk(...).run()`` per message over a fake session, and of a bare
    loop over the same fake requests; no target (a diagnostic of the Python work)."""
    n, c, reps = args.messages, args.concurrency, max(args.rounds, 1)
    with emulator() as (url, _):  # one real answer of each kind, captured before any timing
        async with aiohttp.ClientSession(headers={"D360-API-KEY": API_KEY}) as session:
            query = {"name": "welcome_offer", "language": "en_US"}
            async with session.get(url + "/marketing/message_templates", params=query) as r:
                read = await r.read()
            first = orjson.dumps(prepare_message(next(messages(1, 0))))
            async with session.post(
                url + "/marketing_messages",
                data=first,
                headers={"Content-Type": "application/json"},
            ) as r:
                sent = await r.read()
    fake = fake_session(read, sent)
    timings: dict[str, list[float]] = {"stub": [], "sdk": []}

    async def stub() -> None:  # the baseline: c workers awaiting the fake request n times
        await stub_loop(fake, url, first, n, c)

    async def bulk(items: list[dict[str, Any]]) -> None:
        async with D360Client(API_KEY, base_url=url, rate_limit=None, session=fake) as client:
            report = await client.send_bulk(items, concurrency=c).run()
        if report.sent != n:
            raise RuntimeError(f"send_bulk sent {report.sent} of {n}: {report}")

    for rep in range(reps + 1):  # repetition 0 warms up
        for kind in ("stub", "sdk"):
            items = list(messages(n, rep * n))
            gc.collect()
            cpu = time.process_time()
            await (stub() if kind == "stub" else bulk(items))
            if rep:
                timings[kind].append(1e6 * (time.process_time() - cpu) / n)
    await fake.close()
    stub_us, sdk_us = min(timings["stub"]), min(timings["sdk"])
    print(f"\npython cost: {n:,} messages x {reps} repetitions, concurrency {c}, no sockets")
    print(f"{'CPU us/message (min, median)':<32}{'min':>8}{'median':>8}")
    for kind, label in (("stub", "bare loop over the stub"), ("sdk", "send_bulk(...).run()")):
        print(f"{label:<32}{min(timings[kind]):>8.2f}{statistics.median(timings[kind]):>8.2f}")
    print(f"{'send_bulk minus the stub':<32}{sdk_us - stub_us:>8.2f}")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "which",
        nargs="?",
        default="all",
        choices=["throughput", "memory", "ratelimit", "all", "memory-child", "python-cost"],
    )
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--url")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    pin_client()
    if args.which == "memory-child":
        asyncio.run(memory_child(args.url, args.messages))
        return 0
    print(f"Python {sys.version.split()[0]}, aiohttp {aiohttp.__version__}, loopback")
    chosen = ["throughput", "memory", "ratelimit"] if args.which == "all" else [args.which]
    runs = {
        "throughput": throughput,
        "memory": memory,
        "ratelimit": ratelimit,
        "python-cost": python_cost,
    }
    ok = True
    for name in chosen:  # every one runs, even after a miss
        ok = asyncio.run(runs[name](args)) and ok
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
