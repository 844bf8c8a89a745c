"""``python -m d360_async demo``: run the demo against the embedded emulator."""

from __future__ import annotations

import argparse
import asyncio
import sys

from ._demo import run_demo


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m d360_async``."""
    parser = argparse.ArgumentParser(prog="python -m d360_async")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the SDK against the embedded emulator")
    demo.add_argument("--recipients", type=int, default=1000)
    demo.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args(argv)
    summary = asyncio.run(run_demo(recipients=args.recipients, concurrency=args.concurrency))
    return 0 if summary.failed == 0 and summary.sent == args.recipients else 1


if __name__ == "__main__":
    sys.exit(main())
