"""pytest fixtures for testing code built on d360-async against the local emulator.

Registered automatically through the ``pytest11`` entry point when d360-async is installed.
Requires pytest-asyncio (the fixtures are async); works in its strict mode (mark the tests
``@pytest.mark.asyncio``) and in its auto mode. The fixtures live in the test's own event
loop (function scope); a test run in a wider loop (``loop_scope="module"``) is told so.

Fixtures:
    d360_emulator: a started :class:`~d360_async.testing.Emulator` (one per test).
    d360_client: a ``d360_async.D360Client`` connected to ``d360_emulator``.
    d360_emulator_options: keyword arguments for the emulator (override to configure).
    d360_client_options: extra keyword arguments for the client (override to configure).

Marker:
    ``@pytest.mark.d360_emulator(**options)`` configures the emulator of one test; it wins
    over ``d360_emulator_options``.

Example:
    A test of your own code, in two lines::

        async def test_campaign(d360_client, d360_emulator):
            await send_welcome_campaign(d360_client, ["+4915100000001"])
            assert d360_emulator.accepted_counts() == {"4915100000001": 1}
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from d360_async import D360Client

    from ._emulator import Emulator

try:
    import pytest_asyncio

    _async_fixture: Callable[..., Any] = pytest_asyncio.fixture
except ImportError:  # pragma: no cover - async fixtures then need another async plugin
    _async_fixture = pytest.fixture

MARKER = "d360_emulator"


def _test_loop_scope(request: pytest.FixtureRequest) -> str:
    """The scope of the event loop the requesting test runs in (pytest-asyncio's rules)."""
    marker = request.node.get_closest_marker("asyncio")
    scope = marker.kwargs.get("loop_scope") or marker.kwargs.get("scope") if marker else None
    if scope is None:
        try:
            scope = request.config.getini("asyncio_default_test_loop_scope")
        except ValueError:  # an older pytest-asyncio without that option
            scope = None
    return str(scope or "function")


def _check_loop(request: pytest.FixtureRequest) -> None:
    scope = _test_loop_scope(request)
    if scope != "function":
        pytest.fail(
            "d360_emulator and d360_client live in the test's own (function) event loop, but "
            f"{request.node.nodeid} runs in loop_scope={scope!r}: run it in the function loop, "
            f"or start an Emulator and a D360Client in fixtures of your own with "
            f"loop_scope={scope!r}",
            pytrace=False,
        )


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``d360_emulator`` marker (for ``--strict-markers``)."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): keyword arguments for the d360_emulator fixture's Emulator",
    )


@pytest.fixture
def d360_emulator_options() -> dict[str, Any]:
    """Keyword arguments for the ``d360_emulator`` fixture; override in a conftest.py.

    The default lifts the 80 messages/s limit so tests run at full speed.
    """
    return {"rate": None}


@pytest.fixture
def d360_client_options() -> dict[str, Any]:
    """Extra keyword arguments for ``D360Client`` in ``d360_client``; override to configure."""
    return {}


@_async_fixture
async def d360_emulator(
    request: pytest.FixtureRequest, d360_emulator_options: dict[str, Any]
) -> AsyncIterator[Emulator]:
    """A started emulator on an ephemeral loopback port, closed after the test."""
    from ._emulator import Emulator

    _check_loop(request)
    options = dict(d360_emulator_options)
    for marker in reversed(list(request.node.iter_markers(MARKER))):
        if marker.args:
            raise pytest.UsageError(f"@pytest.mark.{MARKER} takes keyword arguments only")
        options.update(marker.kwargs)
    async with Emulator(**options) as emulator:
        yield emulator


@_async_fixture
async def d360_client(
    d360_emulator: Emulator, d360_client_options: dict[str, Any]
) -> AsyncIterator[D360Client]:
    """A ``d360_async.D360Client`` pointed at ``d360_emulator`` with its API key."""
    from d360_async import D360Client

    async with D360Client(
        d360_emulator.api_key, base_url=d360_emulator.url, **d360_client_options
    ) as client:
        yield client
