"""``async for`` over every page of a cursor-paged list, cursors hidden."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from ._models_messages import Paging

__all__ = ["iterate_pages", "next_cursor"]

T_co = TypeVar("T_co", covariant=True)
T = TypeVar("T")


class Page(Protocol[T_co]):
    """What a page looks like: items in ``data``, cursors in ``paging``."""

    @property
    def data(self) -> Sequence[T_co]: ...

    @property
    def paging(self) -> Paging | None: ...


def next_cursor(page: Page[object], limit: int | None) -> str | None:
    """The ``after`` cursor of the next page, or None on the last page.

    Meta marks the last page by leaving out ``paging.next``. A proxy that drops ``next``
    altogether must not cut a listing short, so a full page (``limit`` items) with an
    ``after`` cursor is followed even without ``next``; an empty page always ends the listing.
    """
    paging = page.paging
    if not page.data or paging is None or paging.cursors is None:
        return None
    after = paging.cursors.after
    if not after:
        return None
    if paging.next or (limit is not None and len(page.data) >= limit):
        return after
    return None


async def iterate_pages(
    fetch: Callable[[str | None], Awaitable[Page[T]]], limit: int | None
) -> AsyncIterator[T]:
    """Yield every item of every page; ``fetch(after)`` gets one page.

    A cursor seen before ends the listing, so a server that repeats itself cannot loop us.
    """
    after: str | None = None
    seen: set[str] = set()
    while True:
        page = await fetch(after)
        for item in page.data:
            yield item
        after = next_cursor(page, limit)
        if after is None or after in seen:
            return
        seen.add(after)
