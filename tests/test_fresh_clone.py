"""#13: the README's test command needs nothing beside the repository. The committed tree
(``git archive HEAD``, what a fresh clone holds) is unpacked alone in a temporary directory and a
representative selection of the suite runs there with this interpreter: the self-containment
checks, emulator tests, a client test, and a README block run by the docs collector."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Small but representative: the self-containment checks, an emulator test, the client's
#: retry matrix (aioresponses), the docs collector (README's blocks found), and one block run.
SELECTION = (
    "tests/test_self_contained.py",
    "tests/emulator/test_send.py::test_accepted_send_is_answered_and_recorded",
    "tests/test_retry.py",
    "tests/docs/test_docs.py::test_the_documents_have_blocks_to_run",
)


def a_readme_program() -> str:
    """The test id of the README's first program that talks to the API (the emulator)."""
    from tests.docs.test_docs import RUN

    for block in RUN:
        if block.kind == "program" and block.skip is None and "D360Client(" in block.text:
            return f"tests/docs/test_docs.py::test_block[{block.id}]"
    raise AssertionError("the README has no program using D360Client")


def committed_tree(into: Path) -> None:
    """Unpack ``git archive HEAD`` into ``into``; skip (with the reason) outside a checkout."""
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed: cannot take the committed tree")
    inside = subprocess.run(
        [git, "rev-parse", "--show-toplevel"], cwd=ROOT, capture_output=True, text=True
    )
    if inside.returncode != 0 or Path(inside.stdout.strip()).resolve() != ROOT:
        pytest.skip("not a git checkout of the repository: no committed tree to test")
    archive = subprocess.run(
        [git, "archive", "--format=tar", "HEAD"], cwd=ROOT, capture_output=True, check=True
    )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_selection_of_the_suite_passes_in_a_fresh_clone_with_nothing_beside_it(
    tmp_path: Path,
) -> None:
    clone = tmp_path / "alone" / "d360-async"  # nothing beside it (no shared folder)
    clone.mkdir(parents=True)
    committed_tree(clone)
    assert sorted(p.name for p in clone.parent.iterdir()) == ["d360-async"]

    # The clone's own package is the one imported (not this checkout's editable install).
    where = subprocess.run(
        [sys.executable, "-c", "import d360_async, tests; print(d360_async.__file__)"],
        cwd=clone, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert Path(where.stdout.strip()).resolve().is_relative_to(clone.resolve())

    selection = [*SELECTION, a_readme_program()]
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *selection],
        cwd=clone, capture_output=True, text=True, timeout=540,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-2000:]
    summary = ran.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary, summary
