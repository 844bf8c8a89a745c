"""The emulator in its own process, telling when it accepted every send.

``Recording(*options)`` (for the benchmarks) runs this file as a script in a child process.
The script takes the emulator's own options (``python -m d360_async.testing --help``), prints
its URL on the first line like the emulator does, then reads commands on stdin:

``dump PATH``
    Writes ``{"accepted": [unix times of the accepted sends], "rate_limited": n,
    "duplicates": n, "requests": {...}, "stalls": [[unix time, seconds late], ...]}`` to PATH
    and answers ``ok``. ``stalls`` are the moments the emulator's event loop came back late
    (``watch_stalls``): a send stamped right after a stall may have arrived during it.

Raises its open-files limit to the hard limit: a pool of 1,250 connections needs it.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import API_KEY, ROOT, _server_cpu, stop

from d360_async.testing._cli import build_parser, emulator_from_args


class Recording:
    """The recording emulator in a child process (on the servers' CPU), with its URL."""

    def __init__(self, *options: str) -> None:
        self.options = options
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> Recording:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH"))))
        command = [sys.executable, __file__, "--port", "0", "--api-key", API_KEY, *self.options]
        self._process = process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            preexec_fn=_server_cpu,
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        if "http://" not in line:
            self.__exit__(None, None, None)
            raise RuntimeError(f"recording emulator did not start: {line!r}")
        self.url = "http://" + line.split("http://", 1)[1].split()[0]
        return self

    def dump(self) -> dict[str, Any]:
        """What the emulator accepted so far (see the module docstring)."""
        process = self._process
        assert process is not None and process.stdin is not None and process.stdout is not None
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "dump.json"
            process.stdin.write(f"dump {path}\n")
            process.stdin.flush()
            if process.stdout.readline().strip() != "ok":
                raise RuntimeError("recording emulator did not answer")
            data: dict[str, Any] = json.loads(path.read_text())
        return data

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        stop(process)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()


def rate(times: list[float]) -> float:
    """Events per second from the first to the last of ``times`` (sorted or not)."""
    if len(times) < 2:
        return 0.0
    return (len(times) - 1) / (max(times) - min(times))


def busiest_window(times: list[float], width: float = 1.0) -> int:
    """The most of ``times`` inside any window of ``width`` seconds (sliding, not aligned)."""
    return busiest_span(times, width)[0]


def busiest_span(times: list[float], width: float = 1.0) -> tuple[int, float]:
    """(the most of ``times`` inside any window of ``width`` seconds, where it begins)."""
    ordered = sorted(times)
    most = start = 0
    begins = ordered[0] if ordered else 0.0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= width:
            start += 1
        if end - start + 1 > most:
            most, begins = end - start + 1, ordered[start]
    return most, begins


#: A turn of the event loop that comes this late is a stall (``watch_stalls``).
STALL: float = 0.010
_TICK = 0.005


async def watch_stalls(stalls: list[tuple[float, float]]) -> None:
    """Note ``(unix time, seconds late)`` each time this task wakes up more than ``STALL``
    late (the process was starved of CPU or busy, e.g. collecting garbage); until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + _TICK
        await asyncio.sleep(_TICK)
        late = loop.time() - due
        if late > STALL:
            stalls.append((time.time(), late))


def stalled(stalls: list[tuple[float, float]], since: float, until: float) -> float:
    """Seconds of ``stalls`` that ended between ``since`` and ``until``."""
    return sum(late for moment, late in stalls if since <= moment < until)


def per_second(times: list[float], origin: float, seconds: int) -> list[int]:
    """How many of ``times`` fall in each second after ``origin``."""
    counts = [0] * seconds
    for moment in times:
        slot = int(moment - origin)
        if 0 <= slot < seconds:
            counts[slot] += 1
    return counts


def raise_open_files_limit() -> None:
    """Open files up to the hard limit (a pool of 1,250 connections needs more than 1,024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def main() -> None:
    raise_open_files_limit()
    emulator = emulator_from_args(build_parser().parse_args())
    stalls: list[tuple[float, float]] = []
    watch = asyncio.create_task(watch_stalls(stalls))
    async with emulator:
        print(f"recording emulator listening on {emulator.url}", flush=True)
        await serve(emulator, stalls)
    watch.cancel()


async def serve(emulator: Any, stalls: list[tuple[float, float]]) -> None:
    """Answer the commands read on stdin until it closes."""
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            return
        command, _, argument = line.strip().partition(" ")
        if command == "dump":
            text = json.dumps(
                {
                    "accepted": [message.timestamp for message in emulator.sent_messages],
                    "rate_limited": emulator.rate_limited,
                    "duplicates": len(emulator.duplicate_recipients()),
                    "requests": dict(emulator.requests),
                    "stalls": stalls,
                }
            )
            await asyncio.to_thread(Path(argument).write_text, text)
            print("ok", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
