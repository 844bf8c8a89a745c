"""Throughput of the webhook receiver against a bare aiohttp handler that only decodes the JSON.

Both servers run in their own subprocess (same aiohttp runner settings, access log off). The
receiver is ``WebhookReceiver(on_webhook).app()`` with a callback that counts the statuses: it
checks the envelope, types every status (datetimes, enums, errors) and hands the delivery
over before answering. The bare handler reads the body, ``orjson.loads`` it and answers 200.
One aiohttp client loop in this process posts the same pre-built deliveries (``--statuses``
per delivery; Meta usually sends one) to each in turn; rounds alternate which goes first and
the best round of each is compared.

Usage::

    python benchmarks/bench_webhooks.py [--deliveries 20000] [--statuses 1] [--concurrency 50]
                                        [--rounds 5] [--check]

``--check`` exits with status 1 when the receiver sustains less than half the bare handler's
delivery rate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import alternate_rounds, drive, serve_forever, server, verdict

THRESHOLD = 0.5


# -- the servers (run in a subprocess with --serve bare|receiver) -----------------------------


async def _bare_handler(request: web.Request) -> web.Response:
    orjson.loads(await request.read())
    return web.Response(body=b'{"status":"ok"}', content_type="application/json")


def _receiver_app() -> web.Application:
    from d360_async.webhooks import Webhook, WebhookReceiver

    seen = 0

    async def on_webhook(webhook: Webhook) -> None:
        nonlocal seen
        seen += len(webhook.statuses)

    return WebhookReceiver(on_webhook).app()


async def _serve(kind: str) -> None:
    if kind == "bare":
        app = web.Application()
        app.router.add_post("/", _bare_handler)
    else:
        app = _receiver_app()
    await serve_forever(app, f"{kind} server")


# -- the driver ----------------------------------------------------------------------------


def _deliveries(count: int, statuses: int, offset: int) -> list[bytes]:
    kinds = ("sent", "delivered", "read")
    out = []
    for i in range(offset, offset + count):
        items = [
            {
                "id": f"wamid.HBgLNDkxNTEwMDAwMDAwMDAVAgARGBI{i:010d}{j:03d}",
                "status": kinds[j % 3],
                "timestamp": str(1767312000 + j),
                "recipient_id": f"49151{i:08d}",
                "pricing": {"billable": True, "pricing_model": "PMP", "category": "marketing_lite"},
            }
            for j in range(statuses)
        ]
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "1065403522"},
            "statuses": items,
        }
        change = {"field": "messages", "value": value}
        body = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]}
        out.append(orjson.dumps(body))
    return out


async def _bench(args: argparse.Namespace) -> int:
    names = ("bare: orjson.loads", "WebhookReceiver")
    commands = [[sys.executable, __file__, "--serve", kind] for kind in ("bare", "receiver")]
    headers = {"Content-Type": "application/json"}
    with server(commands[0]) as bare, server(commands[1]) as receiver:
        measured = await alternate_rounds(
            dict(zip(names, (bare, receiver), strict=True)),
            lambda count, offset: _deliveries(count, args.statuses, offset),
            lambda url, bodies: drive(url + "/", bodies, args.concurrency, headers),
            count=args.deliveries,
            warmup=args.warmup,
            rounds=args.rounds,
        )
    rates, cpu, failures = measured
    ratio = max(rates[names[1]]) / max(rates[names[0]])
    print(
        f"\n{args.deliveries} deliveries of {args.statuses} status(es) x {args.rounds} rounds per "
        f"server, concurrency {args.concurrency}, loopback, Python {sys.version.split()[0]}, "
        f"aiohttp {aiohttp.__version__}, {os.cpu_count()} CPUs\n"
    )
    print(
        f"{'server':<20} {'best deliveries/s':>18} {'median':>8} {'best statuses/s':>16} "
        f"{'server CPU us/delivery':>23}"
    )
    print(f"{'-' * 20} {'-' * 18} {'-' * 8} {'-' * 16} {'-' * 23}")
    for name in names:
        cpu_text = f"{statistics.median(cpu[name]):.1f}" if cpu[name] else "n/a"
        best = max(rates[name])
        print(
            f"{name:<20} {best:>18,.0f} {statistics.median(rates[name]):>8,.0f} "
            f"{best * args.statuses:>16,.0f} {cpu_text:>23}"
        )
    return verdict(
        "receiver/bare (best deliveries/s)", ratio, THRESHOLD, failures, check=args.check
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, with ``--serve``, one of the servers)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--deliveries", type=int, default=20_000, help="deliveries per round")
    parser.add_argument("--statuses", type=int, default=1, help="statuses per delivery")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1_000)
    parser.add_argument("--check", action="store_true", help="exit 1 if the ratio is < 0.5")
    parser.add_argument("--serve", choices=("bare", "receiver"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(args.serve))
        return 0
    return asyncio.run(_bench(args))


if __name__ == "__main__":
    raise SystemExit(main())
