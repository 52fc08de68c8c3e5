"""Fixtures of the CLI tests: the data and spec files, an in-process ``unidl`` call, and
a model fitted by ``unidl fit`` once per backend."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from unidl.cli import main

from .support import DIABETES_SPEC, IRIS_SPEC, Files, Run, write_csv


@pytest.fixture(scope="session")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    from sklearn.datasets import load_diabetes, load_iris

    d = tmp_path_factory.mktemp("data")
    x, y = load_iris(return_X_y=True)
    x = x.astype(np.float32)
    np.savez(d / "iris.npz", x=x, y=y)
    write_csv(d / "iris.csv", ["sepal_l", "sepal_w", "petal_l", "petal_w", "species"],
               np.column_stack([x, y]))
    dx, dy = load_diabetes(return_X_y=True)
    # the target first, so --target is needed to find it
    write_csv(d / "diabetes.csv", ["progression", *[f"f{i}" for i in range(10)]],
               np.column_stack([dy / 100.0, dx]))
    (d / "iris.yaml").write_text(IRIS_SPEC)
    (d / "diabetes.yaml").write_text(DIABETES_SPEC)
    return Files(d / "iris.yaml", d / "iris.npz", d / "iris.csv", d / "diabetes.yaml",
                 d / "diabetes.csv", x, y)


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    """``run(*argv)`` -> (exit status, stdout, stderr) of one in-process ``unidl`` call."""
    def call(*argv: object) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err
    return call


@pytest.fixture(scope="session")
def saved(files: Files, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """A model fitted by ``unidl fit`` on the given backend, once per session."""
    cache: dict[str, Path] = {}

    def get(backend: str) -> Path:
        if backend not in cache:
            out = tmp_path_factory.mktemp(f"fitted-{backend}") / "iris"
            assert main(["fit", str(files.iris_spec), "--data", str(files.iris_npz),
                         "--backend", backend, "--seed", "0", "--quiet",
                         "--out", str(out)]) == 0
            cache[backend] = out
        return cache[backend]
    return get

