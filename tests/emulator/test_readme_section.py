"""The pytest example of ``docs/emulator.md`` runs and passes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SECTION = Path(__file__).resolve().parents[2] / "docs" / "emulator.md"


def test_readme_pytest_example_passes(tmp_path: Path) -> None:
    text = SECTION.read_text()
    match = re.search(r"```python\n(# test_campaign\.py.*?)```", text, re.S)
    assert match is not None, "the example block is missing"
    (tmp_path / "test_campaign.py").write_text(match.group(1))

    options = "-q -p no:cacheprovider -W error -o asyncio_mode=auto"
    options += " -o asyncio_default_fixture_loop_scope=function"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *options.split(), "--rootdir", str(tmp_path), "."],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
