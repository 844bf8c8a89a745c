"""The collector's reading of Markdown: which blocks run, how, and what they must print."""

from __future__ import annotations

from pathlib import Path

import pytest

from .markdown import ROOT, blocks, exemption

SAMPLE = """\
# Title

```python
import asyncio
print("hi")
# Output:
# hi
```

<!-- docs-test: skip needs a real account -->
```python
print("never")
```

- a list item:

  ```bash
  d360 templates list \\
      --status APPROVED   # only approved ones
  pip install d360-async
  ```

```toml
# pyproject.toml
[tool.pytest.ini_options]
```

```python
# test_app.py
def test_x(): pass
```

```text
d360 send [--dry-run]
```
"""


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    path = folder / "sample.md"
    path.write_text(SAMPLE, encoding="utf-8")
    return path


def test_blocks_kinds_names_and_skips(sample: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tests.docs.markdown.ROOT", sample.parents[1])

    found = blocks(sample)

    assert [(b.line, b.language, b.kind, b.name, b.skip) for b in found] == [
        (3, "python", "program", None, None),
        (11, "python", "program", None, "needs a real account"),
        (17, "bash", "shell", None, None),
        (23, "toml", None, "pyproject.toml", None),
        (28, "python", "pytest", "test_app.py", None),
        (33, "text", None, None, None),
    ]
    assert found[0].id == "docs/sample.md:3"
    assert found[0].expected_output() == "hi\n"
    assert found[1].expected_output() is None
    assert list(found[2].commands()) == [
        "d360 templates list --status APPROVED",
        "pip install d360-async",
    ]
    assert [exemption(c) is None for c in found[2].commands()] == [True, False]


def test_every_document_of_the_repository_is_read() -> None:
    names = {b.document for path in sorted((ROOT / "docs").glob("*.md")) for b in blocks(path)}
    assert names == {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
