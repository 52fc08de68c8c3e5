"""docs/extending.md runs: its Python blocks, top to bottom, in one fresh process.

They define a custom layer with trainable weights, a custom activation and a custom loss,
check them against their NumPy references on torch and keras, train with all three on both,
save on torch, load on keras (predictions within 1e-5), and show the error for loading the
file where the layer is not registered.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import unidl

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def test_the_extending_page_runs_top_to_bottom(tmp_path: Path) -> None:
    missing = {"torch", "keras"} - set(unidl.backend_names())
    if missing:
        pytest.skip(f"the page uses both backends; not installed: {sorted(missing)}")
    blocks = _python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 6
    script = tmp_path / "extending.py"
    script.write_text("\n\n".join(blocks), encoding="utf-8")
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "UnregisteredKindError" in run.stdout and "__main__" in run.stdout
    assert "'Scale': '__main__'" in run.stdout  # spec.json names the kind and its module
