"""The pytest plugin as a user gets it: a project of their own, pytest-asyncio in strict mode
(its default) or auto mode, warnings as errors. Each case runs pytest in a child process, in a
folder outside this repository (so none of our configuration applies)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.child import run

#: The minimal setup README shows.
SETUP = '[tool.pytest.ini_options]\nasyncio_default_fixture_loop_scope = "function"\n'

USER_TESTS = """
import pytest

from d360_async import D360Client, RetryPolicy

TEMPLATE = {"name": "weekly_digest", "language": {"code": "en_GB"}}
SEND = {"to": "+4915100000001", "template": TEMPLATE}
#MARK
async def test_client_and_emulator(d360_client, d360_emulator):
    await d360_client.send_marketing_message(SEND)
    assert d360_emulator.accepted_counts() == {"4915100000001": 1}
#MARK
@pytest.mark.d360_emulator(faults=["503"], rate=5)
async def test_marker_configures_the_emulator(d360_client, d360_emulator):
    await d360_client.send_marketing_message(SEND)
    assert d360_emulator.config.rate == 5
    assert d360_emulator.faults_injected == {"503": 1}


class TestOptions:
    @pytest.fixture
    def d360_client_options(self):
        return {"retry": RetryPolicy.never()}
    #MARK
    @pytest.mark.d360_emulator(faults=["503"])
    async def test_options_fixture_configures_the_client(self, d360_client):
        with pytest.raises(Exception, match="503"):
            await d360_client.send_marketing_message(SEND)
"""


async def _pytest(folder: Path, *options: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("D360_", "PYTEST_"))}
    ran = await run(
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error",
        *options, cwd=folder, env=env,
    )  # fmt: skip
    return ran.code, ran.out + ran.err


def _project(folder: Path, *, marked: bool) -> Path:
    mark = "\n@pytest.mark.asyncio" if marked else ""
    (folder / "pyproject.toml").write_text(SETUP)
    text = USER_TESTS.replace("\n    #MARK", mark.replace("\n", "\n    "))
    (folder / "test_user.py").write_text(text.replace("\n#MARK", mark))
    return folder


@pytest.mark.parametrize(("mode", "marked"), [("strict", True), ("auto", False)])
async def test_the_fixtures_work_in_strict_and_auto_mode(
    tmp_path: Path, mode: str, marked: bool
) -> None:
    folder = _project(tmp_path, marked=marked)

    code, out = await _pytest(folder, "-o", f"asyncio_mode={mode}")

    assert code == 0, out
    assert "3 passed" in out


async def test_a_test_in_another_loop_gets_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(SETUP)
    (tmp_path / "test_user.py").write_text(
        "import pytest\n\n\n"
        '@pytest.mark.asyncio(loop_scope="module")\n'
        "async def test_in_the_module_loop(d360_client):\n"
        "    await d360_client.get_message_templates()\n"
    )

    code, out = await _pytest(tmp_path)

    assert code != 0
    assert "d360_emulator and d360_client live in the test's own (function) event loop" in out
    assert "loop_scope='module'" in out
    assert "RuntimeError" not in out
