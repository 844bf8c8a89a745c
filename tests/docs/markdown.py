"""The code blocks of README.md and docs/*.md, and what the doc tests do with each.

The contract (also in README's "Development" section):

- A ```python block is a complete program: it runs as ``python -W error`` in a fresh folder,
  with ``D360_BASE_URL`` and ``D360_API_KEY`` pointing at an emulator, and must exit 0. When
  it ends with a ``# Output:`` comment, the comment lines after it are what it must print
  (``...`` matches anything, whitespace is normalised).
- A block whose first line names a file (``# app.py``, ``# pyproject.toml``) is also written
  under that name into the folder of every block of the same document, so later blocks can
  import it. A ``# test_*.py`` block runs with pytest there, in pytest-asyncio's default
  (strict) mode, ``-W error``, with the README's ``# pyproject.toml`` block as its
  configuration unless its own document has one.
- A ```pycon block is a doctest (``>>>`` prompts and their output).
- A ```bash (``sh``, ``shell``, ``console``) block runs command by command in one folder
  holding the files of ``tests/docs/files.py``, against the emulator; each must exit 0.
  Exempt: installing (``pip``, ``venv``), running the test suite, servers that run until
  Ctrl-C (``d360 emulator``) and ``d360 demo`` (tested by ``tests/cli/test_demo.py``), each
  for the reason given in ``EXEMPT``.
- Any other block (``text``, ``toml``, no language, ...) is not run.
- ``<!-- docs-test: skip REASON -->`` on the line before a block skips it; the reason is
  required.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import attrs

ROOT: Final = Path(__file__).resolve().parents[2]
PROGRAM_LANGUAGES: Final = frozenset({"python", "py", "python3"})
SHELL_LANGUAGES: Final = frozenset({"bash", "sh", "shell", "console"})
DOCTEST_LANGUAGES: Final = frozenset({"pycon"})
_FENCE: Final = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
_FILE_NAME: Final = re.compile(r"^#\s*(?P<name>[\w.-]+\.(?:py|toml|ini|cfg|csv|jsonl|json|txt))\b")
_SKIP: Final = re.compile(r"^<!--\s*docs-test:\s*skip\b\s*(?P<reason>.*?)\s*-->$")
_OUTPUT: Final = "# Output:"

#: Shell commands the doc tests do not run, and why.
EXEMPT: Final = (
    (
        re.compile(r"\bpip3? install\b|\b-m (?:venv|pip)\b"),
        "installs packages: the suite already runs in an environment with them installed",
    ),
    (re.compile(r"(?:^|[\s/])pytest\b|-m pytest\b"), "runs the test suite itself"),
    (
        re.compile(r"\bd360 emulator\b|-m d360_async\.testing\b"),
        "serves until Ctrl-C: tests/cli/test_emulator_command.py runs it",
    ),
    (
        re.compile(r"\bd360 demo\s*$"),
        "runs its own emulator: tests/cli/test_demo.py runs this very command and checks it",
    ),
)


@attrs.frozen
class Block:
    """One fenced code block.

    Attributes:
        document: The Markdown file, relative to the repository.
        line: The line of its opening fence (1-based).
        language: The first word of the info string (``python``, ``bash``, ...), lowercased.
        text: The code.
        name: The file name its first line gives (``# app.py``), if any.
        skip: The reason given by a ``docs-test: skip`` comment, if any.
    """

    document: str
    line: int
    language: str
    text: str
    name: str | None = None
    skip: str | None = None

    @property
    def id(self) -> str:
        """``README.md:42``."""
        return f"{self.document}:{self.line}"

    @property
    def kind(self) -> str | None:
        """``program``, ``pytest``, ``doctest``, ``shell``, or None (not run)."""
        if self.language in PROGRAM_LANGUAGES:
            if self.name == "conftest.py":
                return None
            if self.name and self.name.startswith("test_"):
                return "pytest"
            return "program"
        if self.language in DOCTEST_LANGUAGES:
            return "doctest"
        if self.language in SHELL_LANGUAGES:
            return "shell"
        return None

    def expected_output(self) -> str | None:
        """The text after a trailing ``# Output:`` comment, or None.

        Example:
            >>> Block("d", 1, "python", 'print("hi")\\n# Output:\\n# hi\\n').expected_output()
            'hi\\n'
        """
        lines = self.text.rstrip("\n").splitlines()
        for at in range(len(lines) - 1, -1, -1):
            if lines[at].strip() == _OUTPUT:
                wanted = lines[at + 1 :]
                if not all(line.startswith("#") for line in wanted):
                    raise ValueError(f"{self.id}: lines after {_OUTPUT} must all be comments")
                return "".join(line[1:].removeprefix(" ") + "\n" for line in wanted)
            if not lines[at].startswith("#"):
                return None
        return None

    def commands(self) -> Iterator[str]:
        r"""The commands of a shell block: continuation lines joined, comments dropped.

        Example:
            >>> text = "# hi\nd360 a \\\n  --b  # why\n\n$ d360 c\n"
            >>> list(Block("d", 1, "bash", text).commands())
            ['d360 a --b', 'd360 c']
        """
        pending = ""
        for raw in self.text.splitlines():
            line = raw.strip()
            if not pending and (not line or line.startswith("#")):
                continue
            line = re.sub(r"\s+#.*$", "", line).removeprefix("$ ")
            if line.endswith("\\"):
                pending += line[:-1].strip() + " "
                continue
            yield (pending + line).strip()
            pending = ""
        if pending.strip():
            yield pending.strip()


def exemption(command: str) -> str | None:
    """Why a shell command is not run, or None.

    Example:
        >>> exemption(".venv/bin/pip install -e .") is not None, exemption("d360 templates list")
        (True, None)
    """
    for pattern, reason in EXEMPT:
        if pattern.search(command):
            return reason
    return None


def blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    document = path.relative_to(ROOT).as_posix()
    found: list[Block] = []
    at = 0
    while at < len(lines):
        opening = _FENCE.match(lines[at])
        if opening is None:
            at += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        language = (opening["info"].split() or [""])[0].lower()
        start = at
        body: list[str] = []
        at += 1
        while at < len(lines) and not lines[at].strip().startswith(fence):
            body.append(lines[at][indent:] if lines[at][:indent].isspace() else lines[at])
            at += 1
        at += 1
        previous = next(
            (lines[i].strip() for i in range(start - 1, -1, -1) if lines[i].strip()), ""
        )
        skip = _SKIP.match(previous)
        name = _FILE_NAME.match(body[0]) if body else None
        found.append(
            Block(
                document=document,
                line=start + 1,
                language=language,
                text="\n".join(body) + "\n",
                name=name["name"] if name else None,
                skip=(skip["reason"] or "") if skip else None,
            )
        )
    return found


def documents() -> list[Path]:
    """README.md and every docs/*.md."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def all_blocks() -> list[Block]:
    """Every block of every document."""
    return [block for path in documents() for block in blocks(path)]
