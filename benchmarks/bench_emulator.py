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
from _common import alternate_rounds, drive, serve_forever, server, verdict

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
    with server(bare_cmd) as bare, server(emu_cmd) as emu:
        measured = await alternate_rounds(
            dict(zip(names, (bare, emu), strict=True)),
            _payloads,
            lambda url, bodies: _drive(url, bodies, args.concurrency),
            count=args.requests,
            warmup=args.warmup,
            rounds=args.rounds,
        )
    rates, cpu, failures = measured
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
    return verdict("emulator/bare (best req/s)", ratio, THRESHOLD, failures, check=args.check)


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
