"""The user pages run: each page's ``python`` blocks, top to bottom, as one script.

Blocks fenced ``py`` are fragments (placeholders, doctest output that depends on versions)
and are left out; the pages say what their placeholders stand for. Pages with a test of
their own: docs/sklearn.md (tests/test_sklearn.py), docs/extending.md
(tests/test_extending_doc.py), docs/backend-authors.md (tests/test_backend_authors_doc.py),
docs/data.md (tests/test_data_sources.py);
the reference pages' blocks are signatures, checked by tests/test_docs.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from unidl import registry

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["README.md", "docs/index.md", "docs/getting-started.md", "docs/graphs.md"]
OWN_TESTS = ["docs/sklearn.md", "docs/extending.md", "docs/backend-authors.md",
             "docs/data.md"]
FRAGMENTS_ONLY = ["docs/training.md", "docs/side-by-side.md", "docs/distributed.md"]


def _blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("page", PAGES)
def test_the_page_runs_top_to_bottom(page: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    missing = {"torch", "keras"} - set(registry.backend_names())
    if missing:
        pytest.skip(f"the pages use both backends; not installed: {sorted(missing)}")
    blocks = _blocks((ROOT / page).read_text(encoding="utf-8"))
    assert blocks, f"{page} has no python block"
    monkeypatch.chdir(tmp_path)  # the pages save models in the working directory
    namespace: dict[str, object] = {"__name__": "__doc_page__"}
    exec(compile("\n\n".join(blocks), str(ROOT / page), "exec"), namespace)
    assert "spec" in namespace


def test_every_user_page_with_python_blocks_is_run() -> None:
    pages = [p.relative_to(ROOT).as_posix() for p in [ROOT / "README.md",
                                                      *sorted((ROOT / "docs").glob("*.md"))]]
    with_code = {p for p in pages if _blocks((ROOT / p).read_text(encoding="utf-8"))}
    assert with_code <= set(PAGES) | set(OWN_TESTS), sorted(with_code - set(PAGES))
    for page in FRAGMENTS_ONLY:
        assert "```py\n" in (ROOT / page).read_text(encoding="utf-8")


def test_no_seed_wording_in_user_text() -> None:
    """User text names the TensorFlow/PyTorch scenarios or an example, never "seed notes"
    or "seed 002", which read like a random seed."""
    files = [ROOT / "README.md", *ROOT.glob("docs/**/*.md"), *ROOT.glob("examples/*.py"),
             *ROOT.glob("examples/*.md"), *ROOT.glob("unidl/cli/*.py")]
    pattern = re.compile(r"seed notes|seed \d{3}\b|seed scenarios", re.IGNORECASE)
    found = [f"{f.relative_to(ROOT)}:{n}" for f in files
             for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1)
             if pattern.search(line)]
    assert not found, found
