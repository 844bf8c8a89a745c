"""Fixtures for bulk-sender tests: an emulator on loopback and a client wired to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from d360_async import D360Client, MessageBuilder, RetryPolicy
from d360_async.testing import Emulator

WELCOME = MessageBuilder(name="welcome_offer", language="en_US")  # BODY has one placeholder
FAULTS = ("429", "503", "drop_before", "drop_after")


def number(i: int) -> str:
    return f"49151{i:08d}"


def welcome(n: int, start: int = 0) -> Iterator[Any]:
    for i in range(start, start + n):
        yield WELCOME.build(number(i), body=[f"friend {i}"])


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(rate=None, seed=11) as emulator:
        yield emulator


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[D360Client]:
    async with D360Client(
        emu.api_key, base_url=emu.url, rate_limit=None, retry=RetryPolicy(wait=False)
    ) as c:
        yield c


@asynccontextmanager
async def faulty(seed: int) -> AsyncIterator[tuple[Emulator, D360Client]]:
    """An emulator failing 8 % of requests with every kind of ``FAULTS``, and a client on it."""
    async with (
        Emulator(rate=None, seed=seed, fault_rate=0.08, fault_kinds=FAULTS) as emulator,
        D360Client(
            emulator.api_key, base_url=emulator.url, rate_limit=None, retry=RetryPolicy(wait=False)
        ) as c,
    ):
        yield emulator, c
