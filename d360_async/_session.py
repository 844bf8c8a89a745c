"""The aiohttp session behind a client (and its ``with_options`` copies), and its lifecycle:
created in the running loop on first use, bound to that loop, closed once."""

from __future__ import annotations

import asyncio

import aiohttp

from ._errors import ClientClosedError, EventLoopError
from ._wire import WireConnector

__all__ = ["SharedSession"]

_OTHER_LOOP = (
    "this D360Client belongs to the event loop of its first request, which is {}; create one "
    "client per event loop (for example inside the coroutine you pass to asyncio.run())"
)


class SharedSession:
    """One session shared by a client and its copies.

    Args:
        session: A session to use instead of one of our own (left open on close).
        max_connections: Size of our own session's connection pool.
    """

    __slots__ = ("_closed", "_loop", "_max_connections", "_own", "_session")

    def __init__(self, session: aiohttp.ClientSession | None, max_connections: int) -> None:
        self._session = session
        self._own = session is None
        self._max_connections = max_connections
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def closed(self) -> bool:
        """True once closed (or once an injected session was closed by its owner)."""
        return self._closed or (self._session is not None and self._session.closed)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the session belongs to (None before first use)."""
        return self._loop

    def get(self) -> aiohttp.ClientSession:
        """The session, created on first use; checks that it may be used from here.

        Raises:
            ClientClosedError: The client was closed.
            EventLoopError: Called outside a running loop, or from another loop than the first.
        """
        if self.closed:
            raise ClientClosedError("this D360Client is closed", maybe_sent=False)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise EventLoopError(
                "a D360Client is used inside a running event loop (in a coroutine)"
            ) from None
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            state = "closed" if self._loop.is_closed() else "another loop"
            raise EventLoopError(_OTHER_LOOP.format(state))
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=WireConnector(limit=self._max_connections)
            )
        return self._session

    async def close(self) -> None:
        """Close our own session (an injected one is left open); safe to call twice."""
        self._closed = True
        session = self._session
        if not self._own or session is None or session.closed:
            return
        loop = self._loop
        if loop is not None and loop is not asyncio.get_running_loop() and not loop.is_closed():
            raise EventLoopError(_OTHER_LOOP.format("still running elsewhere"))
        # From a later loop (the first one is gone) this still closes the session and its
        # connector; only sockets of the dead loop stay for the garbage collector.
        await session.close()
