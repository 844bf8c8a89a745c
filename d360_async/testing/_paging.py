"""Meta-style cursor paging: ``{data, paging: {cursors: {before, after}, next?, previous?}}``."""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Any, TypeVar

from yarl import URL

T = TypeVar("T")

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000


class CursorError(ValueError):
    """A cursor or limit the emulator cannot decode.

    Example:
        >>> parse_limit("0")
        Traceback (most recent call last):
        ...
        d360_async.testing._paging.CursorError: limit must be between 1 and 1000, got 0
    """


def encode_cursor(value: str) -> str:
    """Opaque cursor for ``value`` (URL-safe base64, unpadded, like Graph's)."""
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """Inverse of :func:`encode_cursor`; raises :class:`CursorError`."""
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise CursorError(f"invalid cursor {cursor!r}") from exc


def parse_limit(raw: str | None, default: int = DEFAULT_LIMIT) -> int:
    """The ``limit`` query parameter as a positive int; raises :class:`CursorError`."""
    if raw is None or raw == "":
        return default
    try:
        limit = int(raw)
    except ValueError as exc:
        raise CursorError(f"limit must be an integer, got {raw!r}") from exc
    if not 1 <= limit <= MAX_LIMIT:
        raise CursorError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    return limit


def page(
    items: Sequence[T],
    keys: Sequence[int],
    url: URL,
    *,
    limit: int,
    after: str | None,
    before: str | None,
) -> tuple[list[T], dict[str, Any]]:
    """Slice ``items`` by cursor and build the ``paging`` object.

    Args:
        items: The full, ordered result set.
        keys: A stable, ascending integer key per item (what a cursor points at). A cursor
            stays valid when its item disappears (e.g. a template leaves a status filter).
        url: The request URL, used to build ``next``/``previous`` links.
        limit: Page size.
        after: Return items strictly after this cursor.
        before: Return the ``limit`` items strictly before this cursor.

    Returns:
        The page's items and the ``paging`` object.

    Raises:
        CursorError: a cursor cannot be decoded.
    """
    if after is not None:
        start = bisect_right(keys, _key(after))
        stop = start + limit
    elif before is not None:
        stop = bisect_left(keys, _key(before))
        start = max(0, stop - limit)
    else:
        start, stop = 0, limit
    chunk = list(items[start:stop])
    stop = min(stop, len(items))
    paging: dict[str, Any] = {}
    if chunk:
        paging["cursors"] = {
            "before": encode_cursor(str(keys[start])),
            "after": encode_cursor(str(keys[stop - 1])),
        }
        base = url.without_query_params("after", "before")
        if stop < len(items):
            paging["next"] = str(base.update_query(after=paging["cursors"]["after"]))
        if start > 0:
            paging["previous"] = str(base.update_query(before=paging["cursors"]["before"]))
    else:
        paging["cursors"] = {}
    return chunk, paging


def _key(cursor: str) -> int:
    raw = decode_cursor(cursor)
    try:
        return int(raw)
    except ValueError:
        raise CursorError(f"invalid cursor {cursor!r}") from None
