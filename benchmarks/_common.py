"""Helpers shared by the benchmarks: servers in their own process, CPU time, RSS."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-key"


@contextlib.contextmanager
def server(command: Sequence[str], *, pin: bool = True) -> Iterator[tuple[str, int]]:
    """Start a server subprocess; yield (the URL it prints on its first line, its pid).

    With ``pin``, the server runs on the last CPU (see ``pin_client`` for the client side).
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH"))))
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=_server_cpu if pin else None,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if "http://" not in line:
            raise RuntimeError(f"server did not start: {command!r} printed {line!r}")
        yield "http://" + line.split("http://", 1)[1].split()[0], process.pid
    finally:
        stop(process)


def stop(process: subprocess.Popen[str]) -> None:
    """Terminate a server subprocess (killed if it takes more than 10 s)."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _server_cpu() -> None:
    """Servers run on the last CPU, clients on the others (see pin_client): on a small machine
    this keeps the two from trading places on one core, which makes CPU figures noisy."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) > 1:
        os.sched_setaffinity(0, {cpus[-1]})


def pin_client() -> None:
    """Keep this (client) process off the CPU the servers run on."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) > 1:
        os.sched_setaffinity(0, set(cpus[:-1]))


def emulator(*options: str, pin: bool = True) -> contextlib.AbstractContextManager[tuple[str, int]]:
    """The project's emulator in its own process (no send limit unless options say so)."""
    command = [sys.executable, "-m", "d360_async.testing", "--port", "0", "--api-key", API_KEY]
    return server([*command, "--rate", "none", *options], pin=pin)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB.

    On Linux, ``VmHWM`` of /proc/self/status: ``getrusage``'s ``ru_maxrss`` survives ``exec``,
    so a child started by a big parent would report the parent's peak.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def reset_emulator(session: aiohttp.ClientSession, url: str) -> None:
    """Make the emulator forget its records and counters (so that each run starts empty)."""
    async with session.post(f"{url}/_emulator/reset", json={}) as response:
        response.raise_for_status()


async def serve_forever(app: web.Application, name: str) -> None:
    """Serve ``app`` on a free loopback port; print ``<name> listening on <url>`` (what
    ``server`` waits for) and serve until killed."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(f"{name} listening on http://127.0.0.1:{port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


async def drive(
    url: str, payloads: Sequence[bytes], concurrency: int, headers: Mapping[str, str]
) -> tuple[float, int]:
    """POST every payload to ``url``, ``concurrency`` at a time, through one session.

    Returns:
        (requests per second, answers other than 200).
    """
    connector = aiohttp.TCPConnector(limit=concurrency)
    errors = 0
    position = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors, position
        while position < len(payloads):
            body = payloads[position]
            position += 1
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    errors += 1

    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return len(payloads) / elapsed, errors


class Rounds(NamedTuple):
    """What ``alternate_rounds`` measured, per server name."""

    rates: dict[str, list[float]]  # requests per second, one per round
    cpu_us: dict[str, list[float]]  # server CPU microseconds per request, one per round
    failures: int  # answers other than 200, warm-up included


async def alternate_rounds(
    servers: Mapping[str, tuple[str, int]],
    payloads: Callable[[int, int], list[bytes]],
    post: Callable[[str, list[bytes]], Awaitable[tuple[float, int]]],
    *,
    count: int,
    warmup: int,
    rounds: int,
) -> Rounds:
    """Warm every server up, then run ``rounds`` rounds, the order reversed every other round.

    Args:
        servers: name -> (URL, pid) of each server, as ``server`` yields them.
        payloads: ``(count, offset)`` -> that many fresh request bodies.
        post: ``(url, bodies)`` -> (requests per second, non-200 answers); ``drive`` does it.
        count: Requests per server per round.
        warmup: Requests per server before the first round.
        rounds: How many rounds.
    """
    rates: dict[str, list[float]] = {name: [] for name in servers}
    cpu: dict[str, list[float]] = {name: [] for name in servers}
    failures = 0
    offset = 0
    for url, _ in servers.values():
        failures += (await post(url, payloads(warmup, offset)))[1]
        offset += warmup
    for round_ in range(rounds):
        order = list(servers.items())
        for name, (url, pid) in order if round_ % 2 == 0 else order[::-1]:
            bodies = payloads(count, offset)
            offset += count
            before = cpu_seconds(pid)
            rate, errors = await post(url, bodies)
            after = cpu_seconds(pid)
            failures += errors
            rates[name].append(rate)
            if before is not None and after is not None:
                cpu[name].append(1e6 * (after - before) / count)
    return Rounds(rates, cpu, failures)


def verdict(label: str, ratio: float, threshold: float, failures: int, *, check: bool) -> int:
    """Print the judged ratio (and any failures); the exit status for ``--check``."""
    print(f"\nratio {label}: {ratio:.3f}  (threshold {threshold})")
    if failures:
        print(f"non-200 answers: {failures}")
    if check and (ratio < threshold or failures):
        print("CHECK FAILED")
        return 1
    return 0
