"""Throughput of the emulator's send endpoint against a bare aiohttp handler.

Both servers run in their own subprocess (same aiohttp runner settings, access log off); one
aiohttp client loop in this process drives each in turn with the same pre-built payloads
(a distinct recipient per request), at a fixed concurrency and a bounded request count.
Rounds alternate which server goes first; the best round of each is compared.

Usage::

    python benchmarks/bench_emulator.py [--requests 20000] [--concurrency 50] [--rounds 5]
                                        [--check]

``--check`` exits with status 1 when the emulator sustains less than 80 % of the bare
handler's request rate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_seconds, drive, serve_forever, server

API_KEY = "bench-key"
PATH = "/marketing_messages"
THRESHOLD = 0.8
_FIXED = json.dumps(
    {
        "messaging_product": "whatsapp",
        "contacts": [{"input": "+4915100000000", "wa_id": "4915100000000"}],
        "messages": [{"id": "wamid.HBgLNDkxNTEwMDAwMDAwMDA", "message_status": "accepted"}],
    }
).encode()


# -- the bare server (run in a subprocess with --serve-bare) -----------------------------------


async def _bare_handler(request: web.Request) -> web.Response:
    await request.read()  # any real handler reads the body; so does the emulator
    return web.Response(body=_FIXED, content_type="application/json")


async def _serve_bare() -> None:
    app = web.Application()
    app.router.add_post(PATH, _bare_handler)
    await serve_forever(app, "bare server")


# -- the driver ----------------------------------------------------------------------------


def _payloads(count: int, offset: int) -> list[bytes]:
    return [
        json.dumps(
            {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": f"+49151{offset + i:08d}",
                "type": "template",
                "template": {
                    "name": "welcome_offer",
                    "language": {"code": "en_US", "policy": "deterministic"},
                    "components": [
                        {"type": "body", "parameters": [{"type": "text", "text": f"User {i}"}]}
                    ],
                },
            }
        ).encode()
        for i in range(count)
    ]


async def _drive(url: str, payloads: list[bytes], concurrency: int) -> tuple[float, int]:
    """Send every payload; returns (requests per second, non-200 answers)."""
    headers = {"D360-API-KEY": API_KEY, "Content-Type": "application/json"}
    return await drive(url + PATH, payloads, concurrency, headers)


async def _bench(args: argparse.Namespace) -> int:
    bare_cmd = [sys.executable, __file__, "--serve-bare"]
    emu_cmd = [sys.executable, "-m", "d360_async.testing", "--port", "0", "--rate", "none"]
    emu_cmd += ["--api-key", API_KEY]
    names = ("bare aiohttp handler", "emulator send")
    rates: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    failures = 0
    with server(bare_cmd) as bare, server(emu_cmd) as emu:
        servers = dict(zip(names, (bare, emu), strict=True))
        offset = 0
        for url, _ in servers.values():  # warm-up
            _, errors = await _drive(url, _payloads(args.warmup, offset), args.concurrency)
            offset += args.warmup
            failures += errors
        for round_ in range(args.rounds):
            order = list(servers.items())
            for name, (url, pid) in order if round_ % 2 == 0 else order[::-1]:
                payloads = _payloads(args.requests, offset)
                offset += args.requests
                before = cpu_seconds(pid)
                rate, errors = await _drive(url, payloads, args.concurrency)
                after = cpu_seconds(pid)
                failures += errors
                rates[name].append(rate)
                if before is not None and after is not None:
                    cpu[name].append(1e6 * (after - before) / args.requests)
    ratio = max(rates[names[1]]) / max(rates[names[0]])
    print(
        f"\n{args.requests} requests x {args.rounds} rounds per server, concurrency "
        f"{args.concurrency}, loopback, Python {sys.version.split()[0]}, "
        f"aiohttp {aiohttp.__version__}, {os.cpu_count()} CPUs\n"
    )
    print(f"{'server':<22} {'best req/s':>11} {'median req/s':>13} {'server CPU us/req':>18}")
    print(f"{'-' * 22} {'-' * 11} {'-' * 13} {'-' * 18}")
    for name in names:
        cpu_text = f"{statistics.median(cpu[name]):.1f}" if cpu[name] else "n/a"
        print(
            f"{name:<22} {max(rates[name]):>11,.0f} {statistics.median(rates[name]):>13,.0f} "
            f"{cpu_text:>18}"
        )
    print(f"\nratio emulator/bare (best req/s): {ratio:.3f}  (threshold {THRESHOLD})")
    if failures:
        print(f"non-200 answers: {failures}")
    if args.check and (ratio < THRESHOLD or failures):
        print("CHECK FAILED")
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, with ``--serve-bare``, the bare server)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=20_000, help="requests per round")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1_000)
    parser.add_argument("--check", action="store_true", help="exit 1 if the ratio is < 0.8")
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve_bare())
        return 0
    return asyncio.run(_bench(args))


if __name__ == "__main__":
    raise SystemExit(main())
