"""The ``d360`` command line (``pip install 'd360-async[cli]'``).

Commands: ``demo``, ``emulator``, ``send``, ``worker``, ``report``, ``events``,
``templates list|get``, ``analytics``, ``insights``, ``quality``, ``dataset get|create``;
``d360 COMMAND --help`` describes each. See ``docs/cli.md`` (and ``docs/redis.md`` for
``worker`` and ``send --workers``).

Errors are one line on stderr (``d360: error: ...``), never a traceback unless ``--debug``;
the API key is never printed. Exit codes: 0 success, 1 operational failure, 2 usage or input
error, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).

Example:
    >>> from d360_async.cli import main
    >>> main(["--version"])  # doctest: +ELLIPSIS
    d360-async ...
    0
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import logging
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING

from d360_async._bulk import PreflightError
from d360_async._campaign_journal import JournalError
from d360_async._errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    ValidationError,
    safe_location,
)

if TYPE_CHECKING:
    from ._common import Context

__all__ = ["main"]

_NO_RICH = "d360: error: the command line needs rich: pip install 'd360-async[cli]'"
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``d360`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit code.

    Runs the command in its own event loop (``asyncio.run``): call it from synchronous code.
    """
    if importlib.util.find_spec("rich") is None:
        print(_NO_RICH, file=sys.stderr)
        return 2
    from ._common import Context
    from ._parser import build_parser

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    ctx = Context.from_args(args)
    if ctx.verbose:
        _debug_logging(ctx)
    try:
        return asyncio.run(_run(args, ctx))
    except KeyboardInterrupt:
        sys.stderr.write("d360: interrupted\n")
        return EXIT_INTERRUPTED
    except asyncio.CancelledError:  # SIGTERM
        sys.stderr.write("d360: terminated\n")
        return EXIT_TERMINATED
    except BrokenPipeError:  # `d360 ... | head`: the reader went away
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as exc:
        return _fail(ctx, exc)


async def _run(args: argparse.Namespace, ctx: Context) -> int:
    """The command, cancelled cleanly by SIGTERM as asyncio.run cancels it on Ctrl-C: a
    campaign then records its in-flight messages as unknown in the journal and stops."""
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
    code: int = await args.handler(args, ctx)
    return code


def _describe(ctx: Context, exc: Exception) -> tuple[str, int]:
    """The one-line message and exit code of an error."""
    from ._common import CLIError, as_rows

    if isinstance(exc, CLIError):
        return str(exc), exc.exit_code
    if isinstance(exc, JournalError):
        return as_rows(str(exc)), 2
    if isinstance(exc, ValidationError):
        return str(exc), 2
    if isinstance(exc, PreflightError):
        return str(exc), 1
    if isinstance(exc, AuthenticationError):
        return f"{exc} (check --api-key or D360_API_KEY)", 1
    if isinstance(exc, APIConnectionError):
        return f"cannot reach {safe_location(ctx.base_url)}: {exc}", 1  # no user or password
    if isinstance(exc, APIError):
        return str(exc), 1
    if isinstance(exc, OSError):
        name = f" {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}{name}", 1
    return f"unexpected {type(exc).__name__}: {exc} (--debug shows the traceback)", 1


def _fail(ctx: Context, exc: Exception) -> int:
    message, code = _describe(ctx, exc)
    if ctx.debug:
        sys.stderr.write(ctx.redact("".join(traceback.format_exception(exc))))
    if ctx.verbose:
        from ._common import CLIError

        for line in exc.details if isinstance(exc, CLIError) else ():
            sys.stderr.write(ctx.redact(f"  {line}\n"))
    sys.stderr.write(ctx.redact(f"d360: error: {message}\n"))
    return code


class _Redacting(logging.Filter):
    """Removes the API key from every log line (the SDK never logs it; this is a second lock)."""

    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self._ctx = ctx

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._ctx.redact(record.getMessage())
        record.args = None
        return True


def _debug_logging(ctx: Context) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_Redacting(ctx))
    logger = logging.getLogger("d360_async")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
