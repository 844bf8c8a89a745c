"""``d360 emulator``: the local MM Lite emulator as a server, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from ._common import EXIT_OK, CLIError, Context, UsageError

__all__ = ["run_emulator"]


async def run_emulator(args: argparse.Namespace, ctx: Context) -> int:
    """Serve the emulator on ``--host``:``--port`` until interrupted."""
    from d360_async.testing import DEFAULT_API_KEY, Emulator

    key = args.emulator_key or DEFAULT_API_KEY
    try:
        emulator = Emulator(
            host=args.host,
            port=args.port,
            api_key=key,
            rate=args.rate,
            fault_rate=args.fault_rate,
            fault_kinds=args.fault_kinds,
            latency_ms=args.latency_ms,
            seed=args.seed,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows
            loop.add_signal_handler(signum, stop.set)
            handled.append(signum)
    try:
        try:
            await emulator.start()
        except OSError as exc:
            raise CLIError(
                f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
            ) from exc
        try:
            ctx.say(f"d360 emulator listening on {emulator.url}")
            if key == DEFAULT_API_KEY:
                ctx.say(f"try: D360_BASE_URL={emulator.url} D360_API_KEY={key} d360 templates list")
            else:
                ctx.say("api key: the one given with --api-key")
            ctx.say("Ctrl-C stops it")
            sys.stdout.flush()
            await stop.wait()
        finally:
            await emulator.close()
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
    accepted = len(emulator.sent_messages)
    ctx.say(f"d360 emulator stopped ({accepted:,} messages accepted)")
    return EXIT_OK
