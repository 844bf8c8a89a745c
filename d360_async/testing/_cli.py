"""Command line: ``python -m d360_async.testing --port 8360 --api-key KEY [options]``."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

from ._config import ANALYTICS_SHAPES, DEFAULT_API_KEY
from ._emulator import Emulator
from ._faults import DEFAULT_RATE_KINDS, FAULT_KINDS


def _rate(text: str) -> float | None:
    if text.lower() in ("none", "off", "0", "0.0"):
        return None
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("rate must be >= 0 (0 or 'none' disables it)")
    return value


def fault_kinds(text: str) -> list[str]:
    """``--faults`` / ``--fault-kinds``: a comma list of the emulator's fault kinds.

    Example:
        >>> fault_kinds("500, 503")
        ['500', '503']
    """
    kinds = [kind.strip() for kind in text.split(",") if kind.strip()]
    for kind in kinds:
        if kind not in FAULT_KINDS:
            raise argparse.ArgumentTypeError(
                f"unknown fault {kind!r}; expected one of {', '.join(sorted(FAULT_KINDS))}"
            )
    return kinds


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (options mirror :class:`Emulator`'s keyword arguments)."""
    parser = argparse.ArgumentParser(
        prog="python -m d360_async.testing",
        description="Serve a local emulator of 360dialog's MM Lite API.",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    add("--port", type=int, default=8360, help="port; 0 picks a free one (default: %(default)s)")
    add(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help=f"accepted API key; repeat for several (default: {DEFAULT_API_KEY})",
    )
    add("--rate", type=_rate, default=80.0, help="sends/s per key; 0 or 'none' disables")
    add("--burst", type=float, default=None, help="token-bucket capacity (default: rate)")
    add("--pair-rate-limit", type=int, default=0, metavar="N", help="max sends per recipient")
    add("--pair-window", type=float, default=6.0, help="pair-limit window, seconds")
    add("--fault-rate", type=float, default=0.0, help="probability of a fault on send/events")
    add(
        "--fault-kinds",
        type=fault_kinds,
        default=list(DEFAULT_RATE_KINDS),
        help="comma list drawn by --fault-rate (default: %(default)s)",
    )
    add("--faults", type=fault_kinds, default=[], help="explicit schedule, e.g. 500,ok,drop_after")
    add("--seed", type=int, default=None, help="seed for fault draws and jitter")
    add("--latency-ms", type=float, default=0.0, help="delay added to every API request")
    add("--latency-jitter-ms", type=float, default=0.0, help="extra uniform random delay")
    add("--slow-body-chunks", type=int, default=4, help="pieces of a 'slow' response")
    add("--slow-body-delay-ms", type=float, default=50.0, help="pause between those pieces")
    add("--retry-after", type=int, default=1, help="Retry-After of an injected 429")
    add("--wrap-errors", action="store_true", help='wrap Meta errors in {"detail": ...}')
    add("--no-seed-templates", action="store_true", help="start without the built-in templates")
    add("--analytics-disabled", action="store_true", help="require enabling template analytics")
    add(
        "--analytics-shape",
        choices=ANALYTICS_SHAPES,
        default="spec",
        help="template analytics as the spec shows them, as Meta sends them ({data: "
        "[{data_points}]}) or by field expansion (default: %(default)s)",
    )
    add("--webhook-url", default=None, help="deliver status webhooks there (or configure later)")
    return parser


def emulator_from_args(args: argparse.Namespace) -> Emulator:
    """An :class:`Emulator` configured from parsed arguments."""
    keys: list[str] = args.api_keys or [DEFAULT_API_KEY]
    return Emulator(
        host=args.host,
        port=args.port,
        api_key=keys[0],
        api_keys=keys[1:],
        rate=args.rate,
        burst=args.burst,
        pair_rate_limit=args.pair_rate_limit,
        pair_window=args.pair_window,
        fault_rate=args.fault_rate,
        fault_kinds=args.fault_kinds,
        faults=args.faults,
        seed=args.seed,
        latency_ms=args.latency_ms,
        latency_jitter_ms=args.latency_jitter_ms,
        slow_body_chunks=args.slow_body_chunks,
        slow_body_delay_ms=args.slow_body_delay_ms,
        retry_after=args.retry_after,
        wrap_errors=args.wrap_errors,
        seed_templates=not args.no_seed_templates,
        analytics_enabled=not args.analytics_disabled,
        analytics_shape=args.analytics_shape,
        webhook_url=args.webhook_url,
    )


async def serve(emulator: Emulator) -> None:
    """Serve until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with emulator:
        print(f"d360 emulator listening on {emulator.url} (api key: {emulator.api_key})")
        sys.stdout.flush()
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        emulator = emulator_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    asyncio.run(serve(emulator))
    return 0
