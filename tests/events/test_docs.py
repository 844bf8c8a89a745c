"""The examples of ``docs/events.md`` run (in a subprocess: they call ``asyncio.run``)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def _block(marker: str) -> str:
    match = re.search(r"```python\n(" + re.escape(marker) + r".*?)```", DOC.read_text(), re.S)
    assert match is not None, f"the block starting with {marker!r} is missing"
    return match.group(1)


def test_the_sending_example_runs(tmp_path: Path) -> None:
    script = tmp_path / "send_events.py"
    script.write_text(_block("# send_events.py"))
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2500 of 2500 received in 3 batches" in result.stdout


def test_the_hashing_example_holds() -> None:
    namespace: dict[str, object] = {}
    exec(_block("from d360_async.hashing import"), namespace)
    normalize = namespace["normalize"]
    hash_user_data = namespace["hash_user_data"]
    assert normalize("em", " John_Smith@gmail.com ") == "john_smith@gmail.com"  # type: ignore[operator]
    assert normalize("ph", "(650)555-1212", default_country_code="1") == "16505551212"  # type: ignore[operator]
    data = hash_user_data({"em": ["Mary@Example.com", "mary@example.com"]})  # type: ignore[operator]
    assert len(data["em"]) == 1
