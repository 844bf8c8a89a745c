"""Helpers shared by the benchmarks: servers in their own process, CPU time, RSS."""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import aiohttp

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
