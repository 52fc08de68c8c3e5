"""docs/backend-authors.md quotes the example backend: every ``python`` block there is code
from ``examples/unidl-numpy`` (line by line, so it cannot drift from code that passes
``mypy --strict`` against the Protocols); blocks fenced as ``py`` are fragments."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "backend-authors.md"
SOURCES = sorted((ROOT / "examples" / "unidl-numpy" / "unidl_numpy").glob("*.py"))


def _code(line: str) -> str:
    """A line without its indentation and trailing comment (the page may comment more)."""
    return line.split("  #")[0].strip()


def _code_lines(text: str) -> set[str]:
    return {_code(line) for line in text.splitlines() if _code(line)}


def _blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", PAGE.read_text(), re.S | re.M)


@pytest.mark.parametrize("block", _blocks(), ids=lambda b: b.splitlines()[0][:40])
def test_python_blocks_are_the_example_backends_code(block: str) -> None:
    source = set().union(*(_code_lines(p.read_text()) for p in SOURCES))
    missing = [line for line in block.splitlines()
               if _code(line) and _code(line) not in source]
    assert not missing, ("docs/backend-authors.md shows lines that are not in "
                         f"examples/unidl-numpy/unidl_numpy: {missing}")
