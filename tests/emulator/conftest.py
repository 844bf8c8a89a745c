"""Fixtures for the emulator's own tests: a started emulator and a raw aiohttp session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from d360_async.testing import Emulator


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    """An emulator without the send rate limit, seeded."""
    async with Emulator(rate=None, seed=1) as emulator:
        yield emulator


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A raw aiohttp session (closed after the test)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session
