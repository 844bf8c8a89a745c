"""The crash loop: a campaign through a journal, SIGKILLed at random moments, then run to the end.

``crash``
    ``send_bulk`` with a journal in a child process against the emulator (20 ms latency, a 503
    on every 50th request), killed with SIGKILL at ``--kills`` random moments (each time when
    the emulator has accepted a random number of messages, plus a random 0-20 ms); after each
    kill the same command resumes it; the last run goes to the end. A recording proxy sits in
    front of the emulator: it reads every request in full and forwards it whatever the sender
    does, so the server processes every request that was written. Printed: duplicate
    recipients, recipients never messaged (and why), ``unknown`` outcomes against the requests
    actually written when the kills happened. ``--webhooks``: the emulator also sends every
    accepted message's status webhooks to a ``DeliveryTracker`` recording them in the journal
    (a receiver on loopback in this process); once the last run ended, one more run with
    ``resend_unknown_after`` sends the unknown messages no status settled. Printed then: how
    many were settled and re-sent, and recipients never messaged and unknown at the end.
``gap``
    In one process, the window a kill can still hit: from a message's ``pending`` commit (made
    by the event loop, see ``d360_async._journal``) to its request's last byte being handed to
    the socket (the body is written but its last byte before the commit), and the turns of the
    event loop in between (none). A kill in that window leaves a message ``pending`` (then
    ``unknown``) whose request the server got cut short and never acted upon.

Usage::

    python benchmarks/bench_crash.py [crash|gap|all] [--messages N] [--kills K]
        [--concurrency C] [--latency-ms L] [--fault-every F] [--seed S] [--webhooks] [--check]

``--check`` exits 1 when a crash-loop target is missed: 0 duplicates, 0 recipients never
messaged other than those whose every request the server refused (503) or that a kill caught
between their pending commit and their request's last byte, no ``pending`` row left, and every
``unknown`` accounted for by a written request or one of those windows; with ``--webhooks``,
0 recipients never messaged, 0 duplicates and 0 unknown at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import signal
import sqlite3
import statistics
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import orjson
from aiohttp import web

from d360_async import D360Client, DeliveryTracker, SQLiteJournal
from d360_async._wire import CURRENT, WireConnector
from d360_async.testing import Emulator, WebhookSettings
from d360_async.webhooks import WebhookReceiver

ROOT = Path(__file__).resolve().parent.parent
SEND_PATH = "/marketing_messages"

CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from d360_async import D360Client

    def messages(n):
        for i in range(n):
            yield {
                "to": f"49151{i:08d}",
                "template": {
                    "name": "welcome_offer",
                    "language": {"code": "en_US"},
                    "components": [
                        {"type": "body", "parameters": [{"type": "text", "text": f"friend {i}"}]}
                    ],
                },
            }

    async def main(url, key, journal, n, concurrency, rate, after):
        async with D360Client(key, base_url=url, rate_limit=rate) as client:
            run = client.send_bulk(
                messages(n), journal=journal, concurrency=concurrency, resend_unknown_after=after
            )
            print(await run.run())

    url, key, journal, n, concurrency, rate, *after = sys.argv[1:]
    after = float(after[0]) if after else None
    asyncio.run(main(url, key, journal, int(n), int(concurrency), float(rate) or None, after))
    """
)
#: Status webhooks of every accepted message (``--webhooks``), batched as Meta does.
WEBHOOKS = WebhookSettings(
    delivered=0.5, read=0.3, delay_ms=5, jitter_ms=50, batch_size=50, batch_window_ms=20
)
#: Seconds after which an unknown message no status settled is sent again (``--webhooks``).
RESEND_AFTER = 2.0


@asynccontextmanager
async def receiving(tracker: DeliveryTracker) -> AsyncIterator[str]:
    """A webhook receiver on loopback handing every webhook to ``tracker``; yields its URL."""
    runner = web.AppRunner(WebhookReceiver(tracker.handle).app(), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def number(i: int) -> str:
    return f"49151{i:08d}"


def _recipient_of(partial: bytes) -> str:
    """The ``to`` of a send's body, complete or cut short."""
    found = re.search(rb'"to":"([^"]*)"', partial)
    return "".join(ch for ch in (found[1] if found else b"").decode() if ch.isdigit())


class Recorder:
    """A reverse proxy on loopback: records, per recipient, every send that arrived in full and
    the statuses it got, and forwards each one to the upstream server to its end, whatever the
    sender does meanwhile.

    It reads HTTP/1.1 itself, off asyncio streams: a request followed at once by the end of its
    connection (a sender killed right after writing it) is still read and forwarded, where an
    aiohttp server may drop it. A request cut short (its connection ended before its
    Content-Length was reached, as a sender killed before its body's last byte leaves it) is
    never forwarded: no server acts on it.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.written: Counter[str] = Counter()
        self.cut_short: Counter[str] = Counter()  # sends whose connection ended mid-body
        self.refused: Counter[str] = Counter()  # answered 503
        self.throttled: Counter[str] = Counter()  # answered 429
        self.url = ""
        self._server: asyncio.Server | None = None
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Recorder:
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.close()
        if self._session is not None:
            await self._session.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                method, target, _ = head[0].split(" ", 2)
                headers = {
                    k.strip(): v.strip() for k, v in (h.split(":", 1) for h in head[1:] if h)
                }
                length = int(headers.get("Content-Length") or headers.get("content-length") or 0)
                try:
                    body = await reader.readexactly(length) if length else b""
                except asyncio.IncompleteReadError as exc:  # cut short: not forwarded
                    if method == "POST" and target == SEND_PATH:
                        self.cut_short[_recipient_of(exc.partial)] += 1
                    raise
                status, data, content_type = await self._forward(method, target, headers, body)
                writer.write(
                    f"HTTP/1.1 {status} -\r\nContent-Type: {content_type}\r\n"
                    f"Content-Length: {len(data)}\r\n\r\n".encode()
                    + data
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass  # the sender went away (a request cut short is not forwarded)
        finally:
            writer.close()

    async def _forward(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, str]:
        to = None
        if target == SEND_PATH and method == "POST":
            to = "".join(ch for ch in str(orjson.loads(body).get("to", "")) if ch.isdigit())
            self.written[to] += 1
        keep = {k: v for k, v in headers.items() if k.lower() in ("d360-api-key", "content-type")}
        assert self._session is not None
        async with self._session.request(
            method, self.upstream + target, data=body or None, headers=keep
        ) as upstream:
            data = await upstream.read()
            status = upstream.status
            content_type = upstream.headers.get("Content-Type", "application/json")
        if to is not None and status == 503:
            self.refused[to] += 1
        elif to is not None and status == 429:
            self.throttled[to] += 1
        return status, data, content_type


@asynccontextmanager
async def servers(
    n: int, latency_ms: float, fault_every: int, fault: str, seed: int, hooks: str | None = None
) -> AsyncIterator[tuple[Emulator, Recorder]]:
    every = max(fault_every, 0)
    schedule = (["ok"] * (every - 1) + [fault]) * (2 * n // every + 1) if every else []
    async with (
        Emulator(
            rate=None,
            latency_ms=latency_ms,
            faults=schedule,
            seed=seed,
            webhook_url=hooks,
            webhooks=WEBHOOKS if hooks else None,
        ) as emu,
        Recorder(emu.url) as proxy,
    ):
        yield emu, proxy


def journal_rows(path: Path) -> dict[int, str]:
    if not path.exists():
        return {}
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT idx, status FROM messages"))


@attrs.frozen(kw_only=True)
class CrashFigures:
    """What a crash loop shows (counts of recipients unless said otherwise)."""

    messages: int
    kills: int
    seconds: float
    requests_written: int  # requests that reached the server in full
    refused_503: int  # of those, answered 503
    duplicates: int  # accepted more than once
    never_messaged: int  # never accepted
    never_refused: int  # ... though not pending at any kill, every request refused (503): 0
    never_window: int  # ... pending at a kill with no request accepted, of which
    never_cut: int  # ... never written in full: caught between the commit and the last byte
    never_throttled: int  # ... not pending at a kill, throttled and never sent again: 0
    never_other: int  # ... for any other reason: must be 0
    unknown: int  # rows unknown at the end
    pending_at_kills: int  # rows pending when a kill happened (the next run says unknown)
    written_at_kills: int  # of those, requests the server had received in full
    cut_at_kills: int  # of the others, requests the server got cut short (never acted upon)
    unknown_answered_503: int  # unknown because the answer was a 503, not because of a kill
    unknown_other: int  # unknown for any other reason: must be 0
    pending_left: int
    settled_on_read: int = 0  # pending at a kill, ``sent`` once a status matched (webhooks)
    #: With ``--webhooks`` (else None): unknown messages settled by a status, sent again
    #: after the settle window, and at the very end recipients never messaged, unknown rows
    #: and duplicate recipients.
    settled: int | None = None
    resent: int = 0
    never_end: int = 0
    unknown_end: int = 0
    duplicates_end: int = 0

    @property
    def settled_ok(self) -> bool:
        """With webhooks: everyone messaged once, nothing unknown, at the end."""
        return self.settled is None or (
            self.never_end == 0 and self.unknown_end == 0 and self.duplicates_end == 0
        )

    @property
    def sound(self) -> bool:
        """Nothing doubled, nothing lost that the figures do not explain."""
        return (
            self.duplicates == 0
            and self.never_other == 0
            and self.unknown_other == 0
            and self.pending_left == 0
        )

    @property
    def ok(self) -> bool:
        """The acceptance of #10: sound, nobody caught waiting to retry, and every unknown
        after a kill a request that was written (no kill inside the window)."""
        return (
            self.sound
            and self.never_throttled == 0
            and self.never_refused == 0
            and self.pending_at_kills == self.written_at_kills
            and self.settled_ok
        )

    def lines(self) -> list[str]:
        window = self.pending_at_kills - self.written_at_kills
        return [
            f"crash loop: {self.messages:,} messages, {self.kills} SIGKILLs, then to the end "
            f"({self.seconds:.0f} s)",
            f"requests written in full: {self.requests_written:,}, of which answered 503: "
            f"{self.refused_503:,}",
            f"duplicate recipients: {self.duplicates}",
            f"recipients never messaged: {self.never_messaged} = {self.never_window} pending at "
            f"a kill with no request accepted ({self.never_window - self.never_cut} written in "
            f"full and refused (503), the kill before the answer was put in the journal; "
            f"{self.never_cut} never written in full: between the pending commit and the last "
            f"byte) + {self.never_refused} refused (503) and not sent again "
            f"+ {self.never_throttled} throttled (429) and not sent again + {self.never_other} "
            f"other",
            f"unknown: {self.unknown} = {self.pending_at_kills - self.settled_on_read} pending "
            f"at a kill (of {self.pending_at_kills}: {self.written_at_kills} written, {window} "
            f"never written, of which {self.cut_at_kills} cut short at the server; "
            f"{self.settled_on_read} settled by their status when the next run read them) + "
            f"{self.unknown_answered_503} answered 503 + {self.unknown_other} other; "
            f"pending left: {self.pending_left}",
            f"unknown after a kill vs requests written at the kills: {self.pending_at_kills} vs "
            f"{self.written_at_kills}",
            *self._settle_lines(),
        ]

    def _settle_lines(self) -> list[str]:
        if self.settled is None:
            return []
        return [
            f"webhooks: {self.settled} more unknown settled by their statuses once all were "
            f"delivered (the API had accepted them), {self.resent} with no status sent again "
            f"after {RESEND_AFTER:.0f} s (resend_unknown_after); at the end: "
            f"{self.never_end} recipients never messaged, {self.unknown_end} unknown, "
            f"{self.duplicates_end} duplicate recipients",
        ]


async def crash_loop(
    *,
    messages: int,
    kills: int,
    concurrency: int = 50,
    latency_ms: float = 20.0,
    fault_every: int = 50,
    fault: str = "503",
    rate_limit: float | None = None,
    seed: int = 1,
    webhooks: bool = False,
    folder: Path,
) -> CrashFigures:
    """Run the crash loop; see the module docstring."""
    rng = random.Random(seed)
    journal = folder / "crash.sqlite"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH"))))
    started = time.perf_counter()
    stack = contextlib.AsyncExitStack()
    hooks = None
    if webhooks:
        tracker = await stack.enter_async_context(DeliveryTracker(journal))
        hooks = await stack.enter_async_context(receiving(tracker))
    async with (
        stack,
        servers(messages, latency_ms, fault_every, fault, seed, hooks) as (
            emu,
            proxy,
        ),
    ):

        async def child(*after: str) -> asyncio.subprocess.Process:
            return await asyncio.create_subprocess_exec(
                sys.executable, "-c", CHILD, proxy.url, emu.api_key, str(journal),
                str(messages), str(concurrency), str(rate_limit or 0), *after, env=env,
                stdout=asyncio.subprocess.DEVNULL,
            )  # fmt: skip

        at_kills: set[str] = set()
        killed = 0
        # Kill points spread over the campaign, short of its end (some messages are refused)
        for target in sorted(rng.sample(range(1, int(messages * 0.9)), kills)):
            process = await child()
            target = max(target, len(emu.sent_messages) + 1)
            async with asyncio.timeout(120):
                while len(emu.sent_messages) < target and process.returncode is None:  # noqa: ASYNC110
                    await asyncio.sleep(0.001)
            await asyncio.sleep(rng.uniform(0, 0.02))
            if process.returncode is not None:  # it ended first: fewer messages to accept
                break
            process.send_signal(signal.SIGKILL)
            await process.wait()
            killed += 1
            at_kills |= {number(i) for i, s in journal_rows(journal).items() if s == "pending"}
        process = await child()
        async with asyncio.timeout(600):
            if await process.wait():
                raise RuntimeError(f"the last run failed with status {process.returncode}")
        await asyncio.sleep(0.1 + 2 * latency_ms / 1000)  # the proxy's last forwards end
        accepted = emu.accepted_counts()
        written = dict(proxy.written)
        refused = dict(proxy.refused)
        cut_short = set(proxy.cut_short)
        throttled = set(proxy.throttled)
        rows = journal_rows(journal)
        settle: dict[str, int] = {}
        if webhooks:
            settle = await _settle(emu, journal, rows, child, messages)
    never = {number(i) for i in range(messages)} - set(accepted)
    unknown = {number(i) for i, s in rows.items() if s == "unknown"}
    written_at_kills = {r for r in at_kills if written.get(r)}
    never_window = never & at_kills
    never_refused = {r for r in never - at_kills if 0 < written.get(r, 0) == refused.get(r, 0)}
    never_throttled = (never - at_kills - never_refused) & throttled
    answered_503 = (unknown - at_kills) & set(refused)
    return CrashFigures(
        messages=messages,
        kills=killed,
        seconds=time.perf_counter() - started,
        requests_written=sum(written.values()),
        refused_503=sum(refused.values()),
        duplicates=sum(1 for count in accepted.values() if count > 1),
        never_messaged=len(never),
        never_refused=len(never_refused),
        never_window=len(never_window),
        never_cut=len(never_window - set(written)),
        never_throttled=len(never_throttled),
        never_other=len(never - never_refused - never_window - never_throttled),
        unknown=len(unknown),
        pending_at_kills=len(at_kills),
        written_at_kills=len(written_at_kills),
        cut_at_kills=len((at_kills - written_at_kills) & cut_short),
        unknown_answered_503=len(answered_503),
        unknown_other=len(unknown - at_kills - answered_503),
        pending_left=sum(1 for s in rows.values() if s == "pending"),
        settled_on_read=len(at_kills - unknown),
        **settle,
    )


async def _settle(
    emu: Emulator,
    journal: Path,
    rows: dict[int, str],
    child: Any,
    messages: int,
) -> dict[str, int]:
    """Every status delivered and recorded, the settle window over: one more run with
    ``resend_unknown_after`` sends the unknown messages no status settled."""
    async with asyncio.timeout(120):
        await emu.webhooks.drain()
    await asyncio.sleep(RESEND_AFTER)
    unknown = {i for i, s in rows.items() if s == "unknown"}
    settled = {i for i, s in journal_rows(journal).items() if s == "sent"} & unknown
    process = await child(str(RESEND_AFTER))
    async with asyncio.timeout(600):
        if await process.wait():
            raise RuntimeError(f"the settling run failed with status {process.returncode}")
    await asyncio.sleep(0.1)
    accepted = emu.accepted_counts()
    end = journal_rows(journal)
    return {
        "settled": len(settled),
        "resent": sum(1 for i in unknown - settled if end.get(i) == "sent"),
        "never_end": sum(1 for i in range(messages) if number(i) not in accepted),
        "unknown_end": sum(1 for s in end.values() if s == "unknown"),
        "duplicates_end": sum(1 for count in accepted.values() if count > 1),
    }


class _TimedJournal(SQLiteJournal):
    """Notes when each ``pending`` commit is made, and in which turn of the event loop."""

    committed: dict[int, float]
    turn: dict[int, int]
    turns: list[int]

    async def mark_pending(self, index: int, recipient: str, fingerprint: str) -> None:
        await super().mark_pending(index, recipient, fingerprint)
        self.committed[index] = time.perf_counter()
        self.turn[index] = self.turns[0]


def _quantiles(label: str, micros: list[float]) -> str:
    q = statistics.quantiles(micros, n=100)
    return (
        f"{label}: median {statistics.median(micros):.0f} us, p90 {q[89]:.0f} us, "
        f"p99 {q[98]:.0f} us, max {max(micros):.0f} us"
    )


async def wire_gap(*, messages: int, concurrency: int, latency_ms: float, folder: Path) -> None:
    """Measure, in one process, the window a kill can still hit: from a message's
    ``pending`` commit to its request's last byte (the body's last byte is held back until
    the commit is made, see ``d360_async._wire``), and check that every request had been
    written but its last byte before its commit."""
    first_byte: dict[int, float] = {}
    last_byte: dict[int, float] = {}
    last_turn: dict[int, int] = {}
    turns = [0]

    def tick() -> None:
        turns[0] += 1
        asyncio.get_running_loop().call_soon(tick)

    async def chunk_sent(session: object, context: object, params: Any) -> None:
        # The body is written from a task that inherits the request's context: its wire state
        # says which message it is (``hook`` is the run's item).
        now = time.perf_counter()
        state = CURRENT.get()
        assert state is not None
        index = state.hook.index  # type: ignore[union-attr]
        first_byte.setdefault(index, now)
        last_byte[index] = now
        last_turn[index] = turns[0]

    trace = aiohttp.TraceConfig()
    trace.on_request_chunk_sent.append(chunk_sent)
    journal = _TimedJournal(folder / "gap.sqlite")
    journal.committed = {}
    journal.turn = {}
    journal.turns = turns
    tick()
    body = [{"type": "body", "parameters": [{"type": "text", "text": "x"}]}]
    items = (
        {
            "to": number(i),
            "template": {
                "name": "welcome_offer",
                "language": {"code": "en_US"},
                "components": body,
            },
        }
        for i in range(messages)
    )
    async with (
        Emulator(rate=None, latency_ms=latency_ms) as emu,
        aiohttp.ClientSession(
            connector=WireConnector(limit=concurrency), trace_configs=[trace]
        ) as session,
        D360Client(emu.api_key, base_url=emu.url, rate_limit=None, session=session) as client,
    ):
        report = await client.send_bulk(items, journal=journal, concurrency=concurrency).run()
    sent = [i for i in journal.committed if i in last_byte]
    if report.sent != messages or len(sent) != messages:
        raise RuntimeError(f"gap run incomplete: {report}, {len(sent)} timed")
    before = sum(1 for i in sent if first_byte[i] < journal.committed[i] < last_byte[i])
    other_turn = sum(1 for i in sent if last_turn[i] != journal.turn[i])
    print(
        f"\npending commit -> last byte to the socket, {messages:,} sends, concurrency "
        f"{concurrency} (Python {sys.version.split()[0]}, aiohttp {aiohttp.__version__}):"
    )
    print(
        f"requests written but their last byte before their pending commit was made, and "
        f"finished after: {before:,} of {len(sent):,}"
    )
    print(
        f"last byte in a later turn of the event loop than the commit: {other_turn:,} of "
        f"{len(sent):,}"
    )
    print(
        _quantiles(
            "pending commit (event loop) -> last byte",
            [1e6 * (last_byte[i] - journal.committed[i]) for i in sent],
        )
    )
    print(
        "(a SIGKILL in that window leaves a message pending, then unknown, whose request the "
        "server got cut short and never acted upon)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("which", nargs="?", default="all", choices=["crash", "gap", "all"])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--fault-every", type=int, default=50)
    parser.add_argument("--fault", default="503", help="the fault injected: 503 (default), 429")
    parser.add_argument("--rate", type=float, default=0, help="the sender's rate limit (0: none)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--webhooks", action="store_true", help="settle unknowns by status webhooks, then resend"
    )
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    print(f"Python {sys.version.split()[0]}, aiohttp {aiohttp.__version__}, loopback")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        if args.which in ("crash", "all"):
            figures = asyncio.run(
                crash_loop(
                    messages=args.messages,
                    kills=args.kills,
                    concurrency=args.concurrency,
                    latency_ms=args.latency_ms,
                    fault_every=args.fault_every,
                    fault=args.fault,
                    rate_limit=args.rate or None,
                    seed=args.seed,
                    webhooks=args.webhooks,
                    folder=Path(tmp),
                )
            )
            print()
            print("\n".join(figures.lines()))
            print(f"targets: {'met' if figures.ok else 'MISSED'}")
            ok = figures.ok
        if args.which in ("gap", "all"):
            asyncio.run(
                wire_gap(
                    messages=min(args.messages, 20_000),
                    concurrency=args.concurrency,
                    latency_ms=args.latency_ms,
                    folder=Path(tmp),
                )
            )
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
