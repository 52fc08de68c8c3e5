"""The ``unidl`` command line, run in-process through ``unidl.cli.main``: every subcommand on
every backend, spec files with and without a ``training:`` section, Graph specs and CSV
data (errors: ``test_errors.py``)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import unidl
from unidl import registry
from unidl.spec import from_dict

from .support import Files, Run, write_csv


# -- happy paths, every backend --------------------------------------------------------------
def test_fit_evaluate_predict_convert(backend: str, files: Files, tmp_path: Path,
                                      run: Run) -> None:
    out = tmp_path / "iris"
    code, stdout, _ = run("fit", files.iris_spec, "--data", files.iris_npz, "--backend",
                          backend, "--seed", "0", "--out", out)
    assert code == 0
    assert "Epoch 1/2" in stdout and "Epoch 2/2" in stdout
    final = stdout.strip().splitlines()[-1]
    assert final.startswith(f"trained 2 epochs on {backend} (") and "seed 0" in final
    assert "accuracy: " in final and final.endswith(f"saved to {out.absolute()}")
    model = unidl.load(out)
    assert model.backend_name == backend and model.epochs_trained == 2
    assert model.optimizer == unidl.Adam(lr=1e-2) and model.metrics == ("accuracy",)

    code, stdout, _ = run("evaluate", out, "--data", files.iris_npz, "--json")
    assert code == 0
    assert json.loads(stdout) == pytest.approx(model.evaluate((files.x, files.y)), rel=1e-6)
    code, stdout, _ = run("evaluate", out, "--data", files.iris_csv)
    assert code == 0 and [line.split()[0] for line in stdout.splitlines()] == [
        "loss", "accuracy"]

    expected = model.predict(files.x)
    for suffix in (".npy", ".npz", ".csv"):
        target = tmp_path / f"pred{suffix}"
        code, stdout, _ = run("predict", out, "--data", files.iris_npz, "--out", target)
        assert code == 0 and "150 samples (shape (150, 3))" in stdout
    np.testing.assert_allclose(np.load(tmp_path / "pred.npy"), expected, rtol=1e-6)
    np.testing.assert_allclose(np.load(tmp_path / "pred.npz")["y_pred"], expected, rtol=1e-6)
    csv_text = (tmp_path / "pred.csv").read_text().splitlines()
    assert csv_text[0] == "y_pred_0,y_pred_1,y_pred_2"
    np.testing.assert_allclose(np.loadtxt(csv_text[1:], delimiter=","), expected, rtol=1e-6)

    # a CSV that still holds the target column: --target leaves it out, forgetting it says so
    code, _, _ = run("predict", out, "--data", files.iris_csv, "--target", "species",
                     "--out", tmp_path / "p2.npy")
    assert code == 0
    np.testing.assert_allclose(np.load(tmp_path / "p2.npy"), expected, rtol=1e-5)
    code, _, err = run("predict", out, "--data", files.iris_csv, "--out", tmp_path / "p3.npy")
    assert code == 1 and "(150, 5)" in err and "--target" in err

    native = registry.get_backend(backend).native_formats[0]
    artifact = tmp_path / f"iris.{native}"
    code, stdout, _ = run("convert", out, "--backend", backend, "--format", "native",
                          "--out", artifact)
    assert code == 0 and artifact.is_file() and artifact.stat().st_size > 0
    assert f"format {native!r}" in stdout


def test_a_model_fitted_on_one_backend_evaluates_on_another(
        backend_pair: tuple[str, str], saved: Callable[[str], Path], files: Files,
        tmp_path: Path, run: Run) -> None:
    a, b = backend_pair
    path = saved(a)
    results = []
    for name in (a, b):
        code, stdout, _ = run("evaluate", path, "--data", files.iris_npz, "--backend", name,
                              "--device", "cpu", "--json")
        assert code == 0
        results.append(json.loads(stdout))
    assert results[1] == pytest.approx(results[0], rel=1e-4, abs=1e-6)
    code, _, _ = run("predict", path, "--data", files.iris_npz, "--backend", b,
                     "--out", tmp_path / "p.npy")
    assert code == 0
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), unidl.load(path).predict(files.x),
                               atol=1e-5)


def test_csv_with_target_and_training_from_flags(backend: str, files: Files, tmp_path: Path,
                                                 run: Run) -> None:
    out = tmp_path / "diabetes"
    code, stdout, _ = run("fit", files.diabetes_spec, "--data", files.diabetes_csv,
                          "--target", "progression", "--backend", backend, "--loss", "mse",
                          "--optimizer", "sgd", "--lr", "0.01", "--metrics", "mae,r2",
                          "--epochs", "1", "--batch-size", "64", "--validation-split", "0.2",
                          "--seed", "1", "--quiet", "--out", out)
    assert code == 0
    assert "Epoch" not in stdout and len(stdout.strip().splitlines()) == 1
    assert "val_loss: " in stdout and "val_r2: " in stdout
    model = unidl.load(out)
    assert model.optimizer == unidl.SGD(lr=0.01) and model.metrics == ("mae", "r2")
    code, stdout, _ = run("evaluate", out, "--data", files.diabetes_csv, "--target",
                          "progression", "--json")
    assert code == 0 and set(json.loads(stdout)) == {"loss", "mae", "r2"}


def test_flags_override_the_spec_files_training_section(backend: str, files: Files,
                                                        tmp_path: Path, run: Run) -> None:
    out = tmp_path / "iris"
    code, stdout, _ = run("fit", files.iris_spec, "--data", files.iris_csv, "--backend",
                          backend, "--epochs", "1", "--lr", "0.05", "--metrics", "",
                          "--out", out)
    assert code == 0 and "trained 1 epoch on" in stdout
    model = unidl.load(out)
    assert model.epochs_trained == 1 and model.metrics == ()
    assert model.optimizer == unidl.Adam(lr=0.05)  # the file's optimizer, the flag's rate


def test_backends_lists_names_and_packages(run: Run) -> None:
    code, stdout, _ = run("backends")
    assert code == 0 and stdout.split()[:2] == ["NAME", "PACKAGE"]
    for name, dist in registry.backend_distributions().items():
        assert any(line.startswith(name) and line.endswith(dist)
                   for line in stdout.splitlines())
    assert "unidl backends --verbose" in stdout
    code, stdout, _ = run("backends", "--json")
    assert [i["name"] for i in json.loads(stdout)] == registry.backend_names()


def test_listing_backends_imports_no_framework() -> None:
    """``unidl backends`` and ``unidl.backend_names()`` read package metadata only."""
    code = ("import sys, unidl; from unidl.cli import main; unidl.backend_names(); "
            "status = main(['backends']); "
            "print(sorted(m for m in ('torch', 'tensorflow', 'keras', 'unidl_torch', "
            "'unidl_keras') if m in sys.modules), status, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.stderr.strip().splitlines()[-1] == "[] 0", proc.stderr


def test_backends_verbose_lists_versions_and_devices(run: Run) -> None:
    code, stdout, _ = run("backends", "--verbose")
    assert code == 0 and stdout.split()[:4] == ["NAME", "VERSION", "DEVICES", "PACKAGE"]
    for name in registry.backend_names():
        assert any(line.startswith(name) for line in stdout.splitlines())
    code, stdout, _ = run("backends", "--verbose", "--json")
    infos = json.loads(stdout)
    assert [i["name"] for i in infos] == registry.backend_names()
    assert all(i["importable"] and "cpu" in i["devices"] for i in infos)


def test_backends_shows_a_broken_plugin_and_exits_1(plugin: Any, run: Run) -> None:
    plugin("unidl-broken", "broken", "raise ImportError('libfoo.so not found')")
    code, stdout, _ = run("backends")  # metadata only: listed, not imported
    assert code == 0 and "broken" in stdout and "unidl-broken 1.0" in stdout
    code, stdout, _ = run("backends", "-v")
    assert code == 1
    assert "broken" in stdout and "(failed to load)" in stdout
    assert "libfoo.so not found" in stdout


def test_summary_prints_the_spec_and_training(files: Files, run: Run) -> None:
    code, stdout, _ = run("summary", files.iris_spec)
    assert code == 0
    assert stdout.startswith(from_dict(
        {"layers": [{"class": "Input", "shape": [4]},
                    {"class": "Dense", "units": 16, "activation": "relu"},
                    {"class": "Dense", "units": 3, "activation": "softmax"}]}).summary())
    assert "optimizer Adam(lr=0.01)" in stdout  # `1e-2` is a number, not YAML 1.1's string


def _two_in_two_out() -> Any:
    """Two inputs, two outputs; one branch each, so no merge layer is needed."""
    a, b = unidl.Input((4,), name="a"), unidl.Input((3,), name="b")
    kind = unidl.Dense(3, activation="softmax", name="kind")(
        unidl.Dense(8, activation="relu", name="h")(a))
    size = unidl.Dense(1, name="size")(b)
    return unidl.Graph(inputs=[a, b], outputs=[kind, size])


GRAPH_TRAINING = """\
training:
  loss: {kind: sparse_categorical_crossentropy, size: mse}
  loss_weights: {kind: 1.0, size: 0.5}
  metrics: {kind: [accuracy], size: [mae]}
  epochs: 1
"""


@pytest.fixture
def graph_spec(tmp_path: Path) -> tuple[Any, Path]:
    if not hasattr(unidl, "Graph"):
        pytest.skip("this unidl has no Graph spec")
    graph = _two_in_two_out()
    path = tmp_path / "graph.yaml"
    model = textwrap.indent(graph.to_yaml(), "  ")
    path.write_text(f"model:\n{model}{GRAPH_TRAINING}")
    return graph, path


def test_summary_of_a_graph_spec(graph_spec: tuple[Any, Path], tmp_path: Path,
                                 run: Run) -> None:
    graph, path = graph_spec
    code, stdout, _ = run("summary", path)
    assert code == 0 and stdout.startswith(graph.summary().rstrip())
    assert "loss kind: sparse_categorical_crossentropy (weight 1), size: mse (weight 0.5)" in (
        stdout)
    text = path.read_text()
    for old, new, field in [
        ("    - h\n", "    - hh\n", "spec.nodes[1].inputs[0]"),
        ("size: mse}", "size: {name: huber, delta: -1}}", "loss['size'].delta"),
        ("size: [mae]}", "size: [maee]}", "metrics['size'][0]"),
    ]:
        assert text.count(old) == 1
        bad = text.replace(old, new)
        (tmp_path / "bad.yaml").write_text(bad)
        line = next(i for i, t in enumerate(bad.splitlines(), 1) if new.strip() in t)
        code, _, err = run("summary", tmp_path / "bad.yaml")
        assert code == 1 and f"bad.yaml:{line}: {field}" in err, err


@pytest.mark.unidl_requires(features=["graph"])
def test_a_multi_input_multi_output_graph(backend: str, graph_spec: tuple[Any, Path],
                                         tmp_path: Path, run: Run) -> None:
    _, spec = graph_spec
    rng = np.random.default_rng(0)
    data = tmp_path / "data.npz"
    np.savez(data, a=rng.normal(size=(64, 4)), b=rng.normal(size=(64, 3)),
             kind=rng.integers(0, 3, 64), size=rng.normal(size=(64, 1)))
    out = tmp_path / "m"
    keys = ["--x-key", "a,b", "--y-key", "kind,size"]
    code, stdout, _ = run("fit", spec, "--data", data, *keys, "--backend", backend,
                          "--quiet", "--out", out)
    assert code == 0 and "kind_accuracy: " in stdout and "size_mae: " in stdout
    code, stdout, _ = run("evaluate", out, "--data", data, *keys, "--json")
    assert code == 0 and {"loss", "kind_loss", "size_loss", "kind_accuracy", "size_mae"} <= set(
        json.loads(stdout))
    code, stdout, _ = run("predict", out, "--data", data, "--x-key", "a,b",
                          "--out", tmp_path / "p.npz")
    assert code == 0 and "outputs kind (64, 3), size (64, 1)" in stdout
    with np.load(tmp_path / "p.npz") as saved:
        assert sorted(saved.files) == ["kind", "size"]
    code, _, err = run("predict", out, "--data", data, "--x-key", "a,b",
                       "--out", tmp_path / "p.npy")
    assert code == 1 and "has 2 outputs (kind, size); write them to an .npz" in err


def _tabular_graph() -> Any:
    """Seed 002's layout: integer columns through embeddings, numeric features beside them;
    two outputs."""
    city = unidl.Input((1,), dtype="int64", name="city")
    color = unidl.Input((1,), dtype="int64", name="color")
    numeric = unidl.Input((2,), name="numeric")
    emb = [unidl.Flatten()(unidl.Embedding(n, 2)(i)) for n, i in ((5, city), (3, color))]
    h = unidl.Dense(8, activation="relu", name="h")(unidl.Concatenate()([*emb, numeric]))
    return unidl.Graph([city, color, numeric], [
        unidl.Dense(3, activation="softmax", name="kind")(h), unidl.Dense(1, name="size")(h)])


@pytest.fixture
def tabular(tmp_path: Path) -> tuple[Path, Path, dict[str, Any]]:
    """The spec file, and a CSV whose numeric columns sit between the categorical ones."""
    if not hasattr(unidl, "Graph"):
        pytest.skip("this unidl has no Graph spec")
    rng = np.random.default_rng(1)
    n = 60
    cols = {"city": rng.integers(0, 5, n), "temp": rng.normal(size=n),
            "color": rng.integers(0, 3, n), "humid": rng.normal(size=n),
            "kind": rng.integers(0, 3, n), "size": rng.normal(size=n)}
    cols = {k: np.array([float(f"{v:.6g}") for v in a]) for k, a in cols.items()}  # as written
    data = write_csv(tmp_path / "table.csv", list(cols), np.column_stack(list(cols.values())))
    spec = tmp_path / "tabular.yaml"
    spec.write_text(f"model:\n{textwrap.indent(_tabular_graph().to_yaml(), '  ')}"
                    f"{GRAPH_TRAINING}")
    return spec, data, cols


@pytest.mark.unidl_requires(features=["graph"])
def test_a_multi_input_graph_from_a_csv(backend: str, tabular: tuple[Path, Path, Any],
                                        tmp_path: Path, run: Run) -> None:
    """Inputs named after columns take them, the numeric input takes the rest (in header
    order), --target names one column per output."""
    spec, data, cols = tabular
    out = tmp_path / "m"
    code, stdout, err = run("fit", spec, "--data", data, "--target", "kind,size",
                            "--backend", backend, "--seed", "0", "--quiet", "--out", out)
    assert code == 0 and "kind_accuracy: " in stdout, err
    code, stdout, _ = run("evaluate", out, "--data", data, "--target", "kind,size", "--json")
    assert code == 0 and {"kind_loss", "size_loss", "size_mae"} <= set(json.loads(stdout))
    code, stdout, _ = run("predict", out, "--data", data, "--target", "kind,size",
                          "--out", tmp_path / "p.npz")
    assert code == 0 and "outputs kind (60, 3), size (60, 1)" in stdout
    x = {"city": cols["city"][:, None], "color": cols["color"][:, None],
         "numeric": np.column_stack([cols["temp"], cols["humid"]]).astype(np.float32)}
    expected = unidl.load(out, backend=backend, device="cpu").predict(x)
    with np.load(tmp_path / "p.npz") as saved:
        for name, want in zip(["kind", "size"], expected, strict=True):
            np.testing.assert_allclose(saved[name], want, rtol=1e-5, atol=1e-6)


def test_csv_columns_that_fit_no_input_are_clear_errors(tabular: tuple[Path, Path, Any],
                                                        graph_spec: tuple[Any, Path],
                                                        tmp_path: Path, run: Run) -> None:
    spec, data, cols = tabular
    out = tmp_path / "m"
    text = data.read_text()
    with_id = write_csv(tmp_path / "id.csv", [*cols, "id"],
                         np.column_stack([*cols.values(), np.arange(60)])).read_text()
    cases = [
        # one column too many for the input that takes the rest
        (with_id, [],
         "input 'numeric' takes 2 values (shape (2,)) per sample, the columns of table.csv "
         "(columns city, temp, color, humid, id) left over by the other inputs, but 3 are "
         "left (temp, humid, id)"),
        # a column named after an input that takes several values
        (text.replace("temp", "numeric", 1), [],
         "input 'numeric' takes 2 values (shape (2,)) per sample, but table.csv"),
        # a misspelt target in a list
        (text, ["--target", "kind,sise"], "has no column 'sise'. Did you mean 'size'?"),
        # fewer target columns than outputs
        (text, ["--target", "kind"], "the model has 2 outputs (kind, size) but table.csv "
         "gives 1 target column; name one per output, in this order, with --target"),
    ]
    for csv_text, flags, message in cases:
        (tmp_path / "table.csv").write_text(csv_text)
        code, _, err = run("fit", spec, "--data", tmp_path / "table.csv",
                           *(flags or ["--target", "kind,size"]), "--out", out)
        assert code == 1 and message in err, err
    # two inputs of several values each: neither can be found by its name
    write_csv(tmp_path / "ab.csv", ["a0", "a1", "a2", "a3", "b0", "b1", "b2", "kind", "size"],
               np.ones((4, 9)))
    code, _, err = run("fit", graph_spec[1], "--data", tmp_path / "ab.csv", "--target",
                       "kind,size", "--out", out)
    assert code == 1 and "inputs 'a', 'b' are named after no column of ab.csv" in err, err
    assert not out.exists()



@pytest.mark.parametrize("mask", [0o022, 0o007])
def test_written_files_respect_the_umask(backend: str, saved: Callable[[str], Path],
                                         files: Files, tmp_path: Path, run: Run,
                                         mask: int) -> None:
    """``predict --out`` and ``convert`` write atomically through a temporary file; the
    file keeps the mode a plain ``open()`` gives (before: ``-rw-------`` always)."""
    suffix = {"torch": ".pt", "keras": ".keras"}.get(backend, ".bin")
    old = os.umask(mask)
    try:
        assert run("predict", saved(backend), "--data", files.iris_npz, "--out",
                   tmp_path / "p.csv")[0] == 0
        assert run("convert", saved(backend), "--out", tmp_path / f"m{suffix}")[0] == 0
    finally:
        os.umask(old)
    for name in ("p.csv", f"m{suffix}"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~mask, name
