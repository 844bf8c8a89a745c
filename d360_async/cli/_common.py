"""What every ``d360`` command shares: errors, settings, the client, argument types."""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Final

import aiohttp
import attrs
from rich.console import Console

from d360_async._client import DEFAULT_BASE_URL, D360Client
from d360_async._limits import RateLimiter
from d360_async._retry import RetryPolicy

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "CLIError",
    "Context",
    "UsageError",
    "as_rows",
    "comma_list",
    "distinct_files",
    "non_negative_int",
    "plural",
    "port_arg",
    "positive_float",
    "positive_int",
    "rate_arg",
]

EXIT_OK: Final = 0
#: An operational failure: the API said no, preflight failed, a message was not sent.
EXIT_FAILURE: Final = 1
#: A usage or input error: a bad flag, a missing key, an unreadable or invalid input file.
EXIT_USAGE: Final = 2

_MESSAGE_INDEX: Final = re.compile(r"\bmessage (\d+)\b")


class CLIError(Exception):
    """A failure to report as one line (``d360: error: ...``) with an exit code.

    Example:
        >>> err = UsageError("no API key")
        >>> (str(err), err.exit_code)
        ('no API key', 2)
    """

    exit_code: int = EXIT_FAILURE

    def __init__(self, message: str, *, details: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        #: Extra lines shown with ``--verbose``.
        self.details = details


class UsageError(CLIError):
    """Bad flags or bad input: exit code 2."""

    exit_code = EXIT_USAGE


def plural(count: int, word: str, words: str | None = None) -> str:
    """``"1 row"``, ``"2 rows"``, ``"10,000 rows"``.

    Example:
        >>> plural(1, "row"), plural(10000, "row"), plural(2, "batch", "batches")
        ('1 row', '10,000 rows', '2 batches')
    """
    return f"{count:,} {word}" if count == 1 else f"{count:,} {words or word + 's'}"


def as_rows(text: str) -> str:
    """The SDK counts messages from 0; the command line counts rows from 1.

    Example:
        >>> as_rows("campaign stopped after message 2: 403 Template is paused")
        'campaign stopped after row 3: 403 Template is paused'
    """
    return _MESSAGE_INDEX.sub(lambda m: f"row {int(m.group(1)) + 1}", text)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)  # links and other names of one file
    except OSError:  # one does not exist yet: where it would be
        return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def distinct_files(*files: tuple[str, str | None]) -> None:
    """Refuse, before anything is opened, two flags naming the same file: an output written
    over the input (or over another output) would destroy it. ``files`` are (flag, path)
    pairs, the input first; a None path is not used.

    Raises:
        UsageError: Two of them are one file.

    Example:
        >>> distinct_files(("--csv", "in.csv"), ("--results", "out.csv"), ("--journal", None))
        >>> distinct_files(("--csv", "in.csv"), ("--results", "./in.csv"))
        Traceback (most recent call last):
        d360_async.cli._common.UsageError: --results is the same file as --csv (./in.csv): ...
    """
    given = [(flag, path) for flag, path in files if path]
    for i, (flag, path) in enumerate(given):
        for earlier, earlier_path in given[:i]:
            if _same_file(path, earlier_path):
                raise UsageError(
                    f"{flag} is the same file as {earlier} ({path}): it would be "
                    "overwritten; give another file"
                )


def _wide_console(*, stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    terminal = stream.isatty()
    width = None if terminal or os.environ.get("COLUMNS") else 200
    return Console(
        stderr=stderr, markup=False, emoji=False, highlight=False, width=width, soft_wrap=False
    )


@attrs.define(kw_only=True)
class Context:
    """Settings of one invocation and the consoles it writes to.

    Attributes:
        api_key: From ``--api-key`` or ``D360_API_KEY`` (None when neither is set).
        base_url: From ``--base-url`` or ``D360_BASE_URL``.
        timeout: Seconds per request.
        retries: Retries per request after the first attempt.
        verbose: Whether ``--verbose`` (or ``--debug``) was given.
        debug: Whether ``--debug`` was given: an error also shows its traceback.
        out: Console for results (stdout).
        err: Console for progress and diagnostics (stderr).
    """

    api_key: str | None
    base_url: str
    timeout: float
    retries: int
    verbose: bool
    debug: bool = False
    out: Console = attrs.field(factory=lambda: _wide_console(stderr=False))
    err: Console = attrs.field(factory=lambda: _wide_console(stderr=True))

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Context:
        """Settings from parsed flags, falling back to the environment."""
        key = getattr(args, "api_key", None) or os.environ.get("D360_API_KEY") or None
        base_url = (
            getattr(args, "base_url", None) or os.environ.get("D360_BASE_URL") or DEFAULT_BASE_URL
        )
        return cls(
            api_key=key.strip() if key and key.strip() else None,
            base_url=base_url.strip(),
            timeout=getattr(args, "timeout", 30.0),
            retries=getattr(args, "retries", 3),
            verbose=getattr(args, "verbose", False) or getattr(args, "debug", False),
            debug=getattr(args, "debug", False),
        )

    def require_key(self) -> str:
        """The API key.

        Raises:
            UsageError: No API key was given.
        """
        if self.api_key is None:
            raise UsageError("no API key: pass --api-key KEY or set D360_API_KEY")
        return self.api_key

    def client(self, *, rate_limit: float | RateLimiter | None = None) -> D360Client:
        """A client configured from the flags; the key is required.

        Raises:
            UsageError: No API key was given.
        """
        return D360Client(
            self.require_key(),
            base_url=self.base_url,
            timeout=aiohttp.ClientTimeout(total=self.timeout, connect=min(10.0, self.timeout)),
            rate_limit=rate_limit,
            retry=RetryPolicy(attempts=self.retries + 1),
        )

    def redact(self, text: str) -> str:
        """``text`` with the API key replaced by ``***``.

        Example:
            >>> ctx = Context(api_key="s3cret", base_url="", timeout=1, retries=0, verbose=False)
            >>> ctx.redact("key s3cret leaked")
            'key *** leaked'
        """
        return text.replace(self.api_key, "***") if self.api_key else text

    def say(self, text: str) -> None:
        """One line of output on stdout."""
        self.out.print(text, soft_wrap=True)

    def note(self, text: str) -> None:
        """One line of diagnostics on stderr."""
        self.err.print(self.redact(text), soft_wrap=True)


def rate_arg(text: str) -> float | None:
    """``--rate``: a positive number, or ``0``/``none`` for no client-side limit.

    Example:
        >>> rate_arg("80"), rate_arg("none"), rate_arg("0")
        (80.0, None, None)
    """
    if text.strip().lower() in ("none", "off", "unlimited"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError("must be a positive number, or 0/none for no limit")
    return value or None


def positive_int(text: str) -> int:
    """An integer of at least 1 (``--concurrency``, ``--batch-size``, ...).

    Example:
        >>> positive_int("50")
        50
    """
    return _integer(text, 1, None, "must be at least 1")


def non_negative_int(text: str) -> int:
    """An integer of at least 0 (``--retries``).

    Example:
        >>> non_negative_int("0")
        0
    """
    return _integer(text, 0, None, "must not be negative")


def port_arg(text: str) -> int:
    """A TCP port, 0 to 65535 (``--port``; 0 lets the system pick one).

    Example:
        >>> port_arg("8360"), port_arg("0")
        (8360, 0)
    """
    return _integer(text, 0, 65535, "must be a port from 0 to 65535")


def _integer(text: str, low: int, high: int | None, outside: str) -> int:
    """An integer from ``low`` to ``high`` (None: no upper bound); ``outside`` says why not."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < low or (high is not None and value > high):
        raise argparse.ArgumentTypeError(outside)
    return value


def positive_float(text: str) -> float:
    """A number above 0 (``--timeout``).

    Example:
        >>> positive_float("2.5")
        2.5
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


def comma_list(text: str) -> list[str]:
    """``a,b , c`` as ``["a", "b", "c"]``.

    Example:
        >>> comma_list("SENT, DELIVERED,")
        ['SENT', 'DELIVERED']
    """
    return [item.strip() for item in text.split(",") if item.strip()]
