"""The test suite runs from a plain clone: no test or module reads a path outside the repository.

Three ways out are flagged: the developers' folder beside the repository (``../shared``), a
path climbing above the repository's root from ``__file__`` (``parents[n]``, ``.parent``
chains, ``".."``), and an absolute path of a developer's machine (``/work/...``, ``/home/...``).
``tests/test_fresh_clone.py`` runs a selection of the suite in a clone with nothing beside it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The folder beside the repository on the developers' machines (``../shared``,
#: ``parents[2] / "shared"``): a user's clone has none.
_OUTSIDE = re.compile(r"""\.\./shared|["']shared["']""")
#: ``Path(__file__).resolve()`` (or ``.absolute()``, or none) and what climbs from it.
_FROM_FILE = re.compile(
    r"Path\(__file__\)(?:\.(?:resolve|absolute)\(\))?(?P<climb>(?:\.parent\b|\.parents\[\d+\])*)"
)
#: A name bound to a path derived from ``__file__`` (``HERE = Path(__file__).resolve().parent``).
_BOUND = re.compile(r"^\s*(?P<name>[A-Za-z_]\w*)(?::[^=]+)?\s*=\s*Path\(__file__\)")
#: A path of a developer's machine, or a path built from ``..``.
_ABSOLUTE = re.compile(r"""["'](?:/(?:work|home|Users|root|mnt|srv|opt|tmp)/|[A-Za-z]:\\)""")
_DOTDOT = re.compile(r"""(?:Path\(|/\s*)["']\.\.(?:[/\\]|["'])""")


def _levels(climb: str) -> int:
    """How many folders ``climb`` goes up from a file (``.parent``: 1, ``.parents[n]``: n+1)."""
    return sum(
        1 if step == "parent" else int(step[8:-1]) + 1
        for step in re.findall(r"parents\[\d+\]|parent\b", climb)
    )


def paths_out(relative: Path, text: str) -> list[str]:
    """The lines of the file at ``relative`` (to the root) that reach outside the repository.

    Example:
        >>> paths_out(Path("tests/x.py"), 'ROOT = Path(__file__).resolve().parents[1]')
        []
        >>> paths_out(Path("tests/x.py"), 'UP = Path(__file__).resolve().parents[2] / "x"')
        ['tests/x.py:1: UP = Path(__file__).resolve().parents[2] / "x"']
    """
    depth = len(relative.parts)  # folders between the file and the root, the file's own included
    bound: dict[str, int] = {}
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        reach = [_levels(m["climb"]) for m in _FROM_FILE.finditer(line)]
        binding = _BOUND.match(line)
        if binding and reach:
            bound[binding["name"]] = reach[0]
        for name, levels in bound.items():
            reach += [
                levels + _levels(m[1])
                for m in re.finditer(rf"\b{name}((?:\.parent\b|\.parents\[\d+\])+)", line)
            ]
        if (
            _OUTSIDE.search(line)
            or any(levels > depth for levels in reach)
            or _ABSOLUTE.search(line)
            or _DOTDOT.search(line)
        ):
            found.append(f"{relative}:{number}: {line.strip()}")
    return found


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
        line
        for path in _sources()
        for line in paths_out(path.relative_to(ROOT), path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("where", "line"),
    [
        ("tests/x.py", 'SHARED = ROOT.parent / "shared" / "api-facts.md"'),
        ("tests/x.py", 'FACTS = Path("../shared/api-facts.md")'),
        ("tests/x.py", "UP = Path(__file__).resolve().parents[2]"),
        ("tests/bulk/x.py", "UP = Path(__file__).resolve().parents[3]"),
        ("benchmarks/x.py", "UP = Path(__file__).resolve().parent.parent.parent"),
        ("tests/x.py", "UP = Path(__file__).parent.parents[1]"),
        ("tests/x.py", "HERE = Path(__file__).resolve().parent\nUP = HERE.parents[1]"),
        ("tests/x.py", 'SPEC = Path("/work/shared/spec/openapi.yaml")'),
        ("tests/x.py", 'CACHE = "/home/dev/.cache/d360"'),
        ("tests/x.py", 'OTHER = ROOT / ".." / "fixtures"'),
        ("tests/x.py", 'OTHER = Path("..") / "fixtures"'),
    ],
)
def test_a_path_reaching_above_the_root_is_flagged(where: str, line: str) -> None:
    assert paths_out(Path(where), line.replace("\\n", "\n"))


@pytest.mark.parametrize(
    ("where", "line"),
    [
        ("tests/x.py", "ROOT = Path(__file__).resolve().parents[1]"),
        ("tests/bulk/x.py", 'BENCH = Path(__file__).resolve().parents[2] / "benchmarks"'),
        ("benchmarks/x.py", "ROOT = Path(__file__).resolve().parent.parent"),
        ("tests/events/x.py", "HERE = Path(__file__).resolve().parent\nDOCS = HERE.parents[1]"),
        ("tests/x.py", 'st.sampled_from(["../..", "?a=1"])  # junk input, not a path'),
        ("tests/x.py", 'URL = "/v1/configs/templates"'),
        ("tests/x.py", 'STATUS = Path("/proc/self/status")'),
        ("tests/x.py", 'CA = os.path.join(os.path.dirname(pkg.__file__), "..", "ca.crt")'),
    ],
)
def test_a_path_inside_the_root_is_not_flagged(where: str, line: str) -> None:
    assert paths_out(Path(where), line.replace("\\n", "\n")) == []


def test_the_spec_copy_is_in_the_repository() -> None:
    from tests.spec import SPEC_PATH

    assert SPEC_PATH.is_relative_to(ROOT)
    assert SPEC_PATH.is_file()
