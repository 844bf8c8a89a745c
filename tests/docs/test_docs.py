"""Every code block of README.md and docs/*.md runs, as ``tests/docs/markdown.py`` says.

Each block runs in a child process against an emulator served by this test's event loop
(``d360_emulator``): the child is a real user of the SDK over loopback, and the blocks stay
complete programs (``asyncio.run(main())``) that need nothing but ``D360_BASE_URL`` and
``D360_API_KEY``.
"""

from __future__ import annotations

import doctest
import os
import sys
from pathlib import Path

import pytest

from d360_async.testing import Emulator
from tests.child import run

from .files import write_files
from .markdown import ROOT, Block, all_blocks, blocks, exemption

BLOCKS = all_blocks()
RUN = [block for block in BLOCKS if block.kind is not None]
#: Shell commands that passed already: the same command in two documents runs once.
_PASSED: set[str] = set()


def environment(emulator: Emulator | None, redis_url: str | None = None) -> dict[str, str]:
    """The child's environment: nobody's D360_* but the emulator's (and a test Redis for the
    blocks that name ``D360_REDIS_URL``); the venv's tools first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("D360_")}
    if redis_url is not None:
        env["D360_REDIS_URL"] = redis_url
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    if emulator is not None:
        env["D360_BASE_URL"] = emulator.url
        env["D360_API_KEY"] = emulator.api_key
    return env


def _readme_setup() -> str:
    return next(b.text for b in blocks(ROOT / "README.md") if b.name == "pyproject.toml")


def prepare(folder: Path, block: Block) -> None:
    """The document's named blocks as files, the README's pytest setup, the shell files."""
    named = [b for b in BLOCKS if b.document == block.document and b.name]
    names = [b.name for b in named]
    assert len(names) == len(set(names)), f"{block.document}: two blocks name the same file"
    if "pyproject.toml" not in names:
        (folder / "pyproject.toml").write_text(_readme_setup(), encoding="utf-8")
    for other in named:
        assert other.name is not None
        (folder / other.name).write_text(other.text, encoding="utf-8")
    write_files(folder)


async def run_program(
    block: Block, folder: Path, emulator: Emulator, redis_url: str | None = None
) -> None:
    script = block.name or "block.py"
    (folder / script).write_text(block.text, encoding="utf-8")
    env = environment(emulator, redis_url)
    ran = await run(sys.executable, "-W", "error", script, cwd=folder, env=env)
    assert ran.code == 0, ran.explain(f"{block.id} (python {script})")
    wanted = block.expected_output()
    if wanted is not None:
        checker = doctest.OutputChecker()
        flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        assert checker.check_output(wanted, ran.out, flags), (
            f"{block.id} printed:\n{ran.out}\nbut its # Output: comment says:\n{wanted}"
        )


async def run_tests(block: Block, folder: Path) -> None:
    """In pytest-asyncio's default (strict) mode, as a reader's project has it (the plugin in
    auto mode: tests/emulator/test_plugin_modes.py)."""
    assert block.name is not None
    ran = await run(
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error",
        "-o", "asyncio_mode=strict", block.name,
        cwd=folder, env=environment(None),
    )  # fmt: skip
    assert ran.code == 0, ran.explain(f"{block.id} (pytest)")
    assert " passed" in ran.out and " skipped" not in ran.out, ran.out


async def run_doctest(block: Block, folder: Path, emulator: Emulator) -> None:
    (folder / "block.txt").write_text(block.text, encoding="utf-8")
    ran = await run(
        sys.executable, "-W", "error", "-m", "doctest", "-o", "ELLIPSIS",
        "-o", "NORMALIZE_WHITESPACE", "block.txt",
        cwd=folder, env=environment(emulator),
    )  # fmt: skip
    assert ran.code == 0, ran.explain(f"{block.id} (doctest)")


async def run_shell(
    block: Block, folder: Path, emulator: Emulator, redis_url: str | None = None
) -> None:
    commands = list(block.commands())
    assert commands, f"{block.id}: a shell block without a command"
    for command in commands:
        if exemption(command) is not None or command in _PASSED:
            continue
        env = environment(emulator, redis_url)
        ran = await run("bash", "-c", command, cwd=folder, env=env)
        assert ran.code == 0, ran.explain(f"{block.id}: {command}")
        _PASSED.add(command)


@pytest.mark.parametrize("block", RUN, ids=[block.id for block in RUN])
async def test_block(
    block: Block, d360_emulator: Emulator, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if block.skip is not None:
        assert block.skip, f"{block.id}: 'docs-test: skip' needs a reason"
        pytest.skip(block.skip)
    prepare(tmp_path, block)
    redis_url = (
        request.getfixturevalue("redis_server").url if "D360_REDIS_URL" in block.text else None
    )
    if block.kind == "program":
        await run_program(block, tmp_path, d360_emulator, redis_url)
    elif block.kind == "pytest":
        await run_tests(block, tmp_path)
    elif block.kind == "doctest":
        await run_doctest(block, tmp_path, d360_emulator)
    else:
        await run_shell(block, tmp_path, d360_emulator, redis_url)


def test_the_documents_have_blocks_to_run() -> None:
    kinds = {block.kind for block in RUN}
    assert {"program", "pytest", "shell"} <= kinds
    assert {b.document for b in RUN} >= {"README.md", "docs/cli.md", "docs/web.md"}


async def test_a_block_that_fails_or_prints_otherwise_is_caught(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    wrong_output = Block("README.md", 1, "python", 'print("hello")\n# Output:\n# goodbye\n')
    failing = Block("README.md", 2, "python", "import asyncio\nawait asyncio.sleep(0)\n")
    right = Block("README.md", 3, "python", 'print("hello", 1)\n# Output:\n# hello ...\n')

    with pytest.raises(AssertionError, match="but its # Output: comment says"):
        await run_program(wrong_output, tmp_path, d360_emulator)
    with pytest.raises(AssertionError, match="SyntaxError: 'await' outside function"):
        await run_program(failing, tmp_path, d360_emulator)
    await run_program(right, tmp_path, d360_emulator)
