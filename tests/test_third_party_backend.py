"""A third-party backend, installed the way a user installs one, found by the registry and
passing the conformance suite: the example package ``examples/unidl-numpy``.

It is installed with pip into a throwaway directory (not into this environment, so the
rest of the matrix is unaffected) and exercised in subprocesses that put it on sys.path.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "unidl-numpy"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--disable-pip-version-check", "--target",
                    str(target), str(EXAMPLE)], check=True, capture_output=True)
    return target


def _run(site: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p))
    return subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def test_the_registry_finds_it_without_importing_it(site: Path) -> None:
    out = _run(site, "-c", "import sys, unidl; print(unidl.backend_names()); "
                           "print('unidl_numpy' in sys.modules)")
    assert out.returncode == 0, out.stderr
    names, imported = out.stdout.split("\n")[:2]
    assert "'numpy'" in names and imported == "False"


def test_it_passes_the_conformance_suite(site: Path, tmp_path: Path) -> None:
    out = _run(site, "-m", "pytest", "--pyargs", "unidl.testing.conformance",
               "--unidl-backend", "numpy", "-q", "-rs", "-p", "no:cacheprovider", cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    summary = out.stdout.strip().splitlines()[-1]
    passed = int(re.search(r"(\d+) passed", summary).group(1))  # type: ignore[union-attr]
    assert passed >= 80 and "failed" not in summary and "skipped" in summary
    # what it does not declare is skipped, with the reason
    assert "backend 'numpy' does not declare layer Conv2D" in out.stdout


def test_it_trains_like_the_built_in_backends(site: Path) -> None:
    code = """
import numpy as np, unidl
from sklearn.datasets import load_iris
x, y = load_iris(return_X_y=True)
x = ((x - x.mean(0)) / x.std(0)).astype("float32")
spec = unidl.Sequential([unidl.Input((4,)), unidl.Dense(8, activation="tanh"),
                         unidl.Dense(3, activation="softmax")])
runs = [unidl.fit(spec, (x, y), backend=b, loss="sparse_categorical_crossentropy",
                  optimizer=unidl.Adam(lr=0.01), epochs=5, seed=0, verbose=0)
        for b in ("numpy", unidl.backend_names()[0])]
print(max(float(np.abs(runs[0].get_weights()[k] - runs[1].get_weights()[k]).max())
          for k in runs[0].get_weights()))
"""
    out = _run(site, "-c", code)
    assert out.returncode == 0, out.stderr[-3000:]
    assert float(out.stdout.strip()) < 1e-4
