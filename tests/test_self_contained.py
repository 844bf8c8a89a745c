"""The test suite runs from a plain clone: no test or module reads a path outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The folder beside the repository on the developers' machines (``../shared``,
#: ``parents[2] / "shared"``): a user's clone has none.
_OUTSIDE = re.compile(r"""\.\./shared|["']shared["']""")


def _sources() -> list[Path]:
    return [
        path
        for folder in ("d360_async", "tests", "benchmarks")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path != Path(__file__).resolve()
    ]


def test_sources_are_found() -> None:
    names = {path.name for path in _sources()}
    assert {"_client.py", "spec.py", "bench_bulk.py"} <= names


def test_no_source_reads_a_path_outside_the_repository() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _sources()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _OUTSIDE.search(line)
    ]
    assert offenders == []


def test_the_spec_copy_is_in_the_repository() -> None:
    from tests.spec import SPEC_PATH

    assert SPEC_PATH.is_relative_to(ROOT)
    assert SPEC_PATH.is_file()
