"""The pytest plugin's fixtures (registered through the ``pytest11`` entry point)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from d360_async.testing import Emulator

from ._helpers import call, message


async def test_d360_emulator_is_started_and_unthrottled(
    d360_emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    status, body, _ = await call(http, d360_emulator, "POST", "/marketing_messages", json=message())

    assert status == 200
    assert d360_emulator.url.startswith("http://127.0.0.1:")
    assert d360_emulator.config.rate is None
    assert d360_emulator.sent_messages[0].wamid == body["messages"][0]["id"]


@pytest.mark.d360_emulator(rate=3, wrap_errors=True, api_key="marker-key")
async def test_marker_configures_the_emulator(d360_emulator: Emulator) -> None:
    assert (d360_emulator.config.rate, d360_emulator.config.wrap_errors) == (3, True)
    assert d360_emulator.api_key == "marker-key"


class TestOptionsFixture:
    @pytest.fixture
    def d360_emulator_options(self) -> dict[str, Any]:
        return {"faults": ["503"], "seed_templates": False}

    async def test_options_fixture_can_be_overridden(
        self, d360_emulator: Emulator, http: aiohttp.ClientSession
    ) -> None:
        status, _, _ = await call(
            http, d360_emulator, "POST", "/marketing_messages", json=message()
        )
        assert status == 503
        assert d360_emulator.templates == []

    @pytest.mark.d360_emulator(faults=["500"])
    async def test_marker_wins_over_options_fixture(
        self, d360_emulator: Emulator, http: aiohttp.ClientSession
    ) -> None:
        status, _, _ = await call(
            http, d360_emulator, "POST", "/marketing_messages", json=message()
        )
        assert status == 500
        assert d360_emulator.templates == []


def test_plugin_is_registered_under_the_entry_point_name(pytestconfig: pytest.Config) -> None:
    plugin = pytestconfig.pluginmanager.get_plugin("d360_async")
    assert plugin is not None
    assert plugin.__name__ == "d360_async.testing.pytest_plugin"
