"""The ``unidl`` command line, run in-process through ``unidl.cli.main``: every subcommand on
every backend, spec files with and without a ``training:`` section, and every error as one
``error: ...`` line with the right exit status (spec errors with their file and line)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import unidl
from unidl import registry
from unidl.cli import main
from unidl.cli.locate import path_chain
from unidl.spec import from_dict

Run = Callable[..., tuple[int, str, str]]

IRIS_SPEC = """\
model:
  layers:
  - class: Input
    shape: [4]
  - class: Dense
    units: 16
    activation: relu
  - class: Dense
    units: 3
    activation: softmax
training:
  loss: sparse_categorical_crossentropy
  optimizer: {class: Adam, lr: 1e-2}
  metrics: [accuracy]
  epochs: 2
  batch_size: 32
"""

DIABETES_SPEC = """\
layers:
- {class: Input, shape: [10]}
- {class: Dense, units: 8, activation: relu}
- {class: Dense, units: 1}
"""


@dataclass(frozen=True)
class Files:
    iris_spec: Path
    iris_npz: Path
    iris_csv: Path
    diabetes_spec: Path
    diabetes_csv: Path
    x: Any
    y: Any


def _write_csv(path: Path, header: list[str], table: Any) -> Path:
    lines = [",".join(header)] + [",".join(f"{v:.6g}" for v in row) for row in table]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    from sklearn.datasets import load_diabetes, load_iris

    d = tmp_path_factory.mktemp("data")
    x, y = load_iris(return_X_y=True)
    x = x.astype(np.float32)
    np.savez(d / "iris.npz", x=x, y=y)
    _write_csv(d / "iris.csv", ["sepal_l", "sepal_w", "petal_l", "petal_w", "species"],
               np.column_stack([x, y]))
    dx, dy = load_diabetes(return_X_y=True)
    # the target first, so --target is needed to find it
    _write_csv(d / "diabetes.csv", ["progression", *[f"f{i}" for i in range(10)]],
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


@pytest.fixture(scope="module")
def saved(files: Files, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """A model fitted by ``unidl fit`` on the given backend, once per module."""
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


def test_backends_lists_versions_and_devices(run: Run) -> None:
    code, stdout, _ = run("backends")
    assert code == 0 and stdout.split()[:4] == ["NAME", "VERSION", "DEVICES", "PACKAGE"]
    for name in registry.backend_names():
        assert any(line.startswith(name) for line in stdout.splitlines())
    code, stdout, _ = run("backends", "--json")
    infos = json.loads(stdout)
    assert [i["name"] for i in infos] == registry.backend_names()
    assert all(i["importable"] and "cpu" in i["devices"] for i in infos)


def test_backends_shows_a_broken_plugin_and_exits_1(plugin: Any, run: Run) -> None:
    plugin("unidl-broken", "broken", "raise ImportError('libfoo.so not found')")
    code, stdout, _ = run("backends")
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
    data = _write_csv(tmp_path / "table.csv", list(cols), np.column_stack(list(cols.values())))
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
    with_id = _write_csv(tmp_path / "id.csv", [*cols, "id"],
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
    _write_csv(tmp_path / "ab.csv", ["a0", "a1", "a2", "a3", "b0", "b1", "b2", "kind", "size"],
               np.ones((4, 9)))
    code, _, err = run("fit", graph_spec[1], "--data", tmp_path / "ab.csv", "--target",
                       "kind,size", "--out", out)
    assert code == 1 and "inputs 'a', 'b' are named after no column of ab.csv" in err, err
    assert not out.exists()


# -- errors: spec files point at the line ------------------------------------------------
SPEC_ERRORS = {
    "unknown_layer": ("""\
        layers:
        - class: Input
          shape: [4]
        - class: Dense
          units: 8
        - class: Dnse
          units: 3
        """, 6, "spec.layers[2].class: unknown layer 'Dnse'. Did you mean 'Dense'?"),
    "bad_value": ("""\
        layers:
        - {class: Input, shape: [4]}
        - class: Dense
          activation: relu
          units: -8
        """, 5, "spec.layers[1]: Dense.units: must be a positive integer, got -8"),
    "unknown_argument": ("""\
        layers:
        - {class: Input, shape: [4]}
        - class: Dense
          unts: 8
        """, 4, "unexpected keyword argument 'unts'"),
    "bad_optimizer": ("""\
        model:
          layers:
          - {class: Input, shape: [4]}
          - {class: Dense, units: 3}
        training:
          loss: mse
          optimizer:
            class: Adam
            lr: -1
        """, 9, "Adam.lr: must be > 0"),
    "unknown_training_key": ("""\
        model:
          layers: [{class: Input, shape: [4]}, {class: Dense, units: 3}]
        training:
          loss: mse
          epoch: 3
        """, 5, "unknown training setting 'epoch'. Did you mean 'epochs'?"),
    "unknown_top_level_key": ("""\
        model:
          layers: [{class: Input, shape: [4]}, {class: Dense, units: 3}]
        trainig:
          loss: mse
        """, 3, "unknown top-level key 'trainig'. Did you mean 'training'?"),
    "unknown_metric": ("""\
        model:
          layers: [{class: Input, shape: [4]}, {class: Dense, units: 3}]
        training:
          loss: mse
          metrics:
          - mae
          - rmsee
        """, 7, "metrics[1]: unknown metric 'rmsee'. Did you mean 'rmse'?"),
    "yaml_syntax": ("""\
        layers:
        - class: Input
          shape: [4
        - class: Dense
        """, 4, "invalid YAML"),
    "duplicate_key": ("""\
        layers:
        - {class: Input, shape: [4]}
        - class: Dense
          units: 8
          units: 3
        """, 5, "duplicate key 'units' (first on line 4)"),
    "empty": ("", 1, "the file is empty"),
}


@pytest.mark.parametrize("case", sorted(SPEC_ERRORS))
def test_spec_file_errors_name_the_file_line_and_field(case: str, files: Files,
                                                       tmp_path: Path, run: Run) -> None:
    text, line, message = SPEC_ERRORS[case]
    spec = tmp_path / "model.yaml"
    spec.write_text(textwrap.dedent(text))
    code, stdout, err = run("fit", spec, "--data", files.iris_npz, "--out", tmp_path / "m")
    assert code == 1 and stdout == ""
    assert err.startswith(f"error: {spec}:{line}:") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "m").exists()


def test_json_spec_errors_have_lines_too(tmp_path: Path, run: Run) -> None:
    spec = tmp_path / "model.json"
    spec.write_text('{\n  "layers": [\n    {"class": "Input", "shape": [4]},\n'
                    '    {"class": "Dense", "units": 0}\n  ]\n}\n')
    code, _, err = run("summary", spec)
    assert code == 1 and f"{spec}:4: spec.layers[1]: Dense.units" in err
    spec.write_text('{"layers": [\n  {"class": "Input",}\n]}')
    code, _, err = run("summary", spec)
    assert code == 1 and f"{spec}:2:" in err and "invalid JSON" in err


def test_a_saved_model_directory_is_a_spec_file(saved: Callable[[str], Path], run: Run) -> None:
    path = saved(registry.backend_names()[0])
    code, stdout, _ = run("summary", path)
    assert code == 0 and "loss sparse_categorical_crossentropy" in stdout


def test_path_chain_follows_each_field_path_of_a_message() -> None:
    assert path_chain("spec.layers[2].class: unknown layer") == [["layers", 2, "class"]]
    assert path_chain("spec.layers[1]: Dense.units: must be") == [["layers", 1], ["units"]]
    assert path_chain("Sequential.layers[3] (conv2d): Conv2D: expects") == [
        ["layers", 3], []]
    assert path_chain("spec.layers[1]: Dense.__init__() got an unexpected keyword argument "
                      "'unts'") == [["layers", 1], ["unts"]]
    assert path_chain("must be > 0, got -1") == []


# -- errors: data, files, backends, usage --------------------------------------------------
def test_a_non_numeric_csv_column_names_the_column_and_line(files: Files, tmp_path: Path,
                                                            run: Run) -> None:
    data = tmp_path / "bad.csv"
    data.write_text("a,b,c,d,species\n1,2,3,4,0\n5,6,7,8,setosa\n")
    code, _, err = run("fit", files.iris_spec, "--data", data, "--out", tmp_path / "m")
    assert code == 1
    assert f"error: {data}, line 3, column 'species': the value is 'setosa'" in err
    data.write_text("1,2,3,4,0\n5,6,7,8,1\n")
    code, _, err = run("fit", files.iris_spec, "--data", data, "--out", tmp_path / "m")
    assert code == 1 and "expected a header row" in err


def test_data_file_errors(files: Files, tmp_path: Path, run: Run) -> None:
    code, _, err = run("fit", files.iris_spec, "--data", files.iris_npz, "--y-key", "yy",
                       "--out", tmp_path / "m")
    assert code == 1 and "has no array 'yy'. Did you mean 'y'? It holds: x, y" in err
    code, _, err = run("fit", files.iris_spec, "--data", files.iris_csv, "--target", "specie",
                       "--out", tmp_path / "m")
    assert code == 1 and "no column 'specie'. Did you mean 'species'?" in err
    code, _, err = run("fit", files.iris_spec, "--data", tmp_path / "x.parquet",
                       "--out", tmp_path / "m")
    assert code == 1 and "unsupported data file type '.parquet'" in err


def test_missing_files(files: Files, tmp_path: Path, run: Run) -> None:
    code, _, err = run("fit", tmp_path / "nope.yaml", "--data", files.iris_npz,
                       "--out", tmp_path / "m")
    assert (code, err) == (1, f"error: no such file or directory: {tmp_path / 'nope.yaml'}\n")
    code, _, err = run("fit", files.iris_spec, "--data", tmp_path / "nope.npz",
                       "--out", tmp_path / "m")
    assert (code, err) == (1, f"error: no such file or directory: {tmp_path / 'nope.npz'}\n")
    code, _, err = run("evaluate", tmp_path / "nomodel", "--data", files.iris_npz)
    assert code == 1 and "no saved model at" in err


def test_missing_loss_is_a_clear_error(files: Files, tmp_path: Path, run: Run) -> None:
    spec = tmp_path / "bare.yaml"
    spec.write_text(from_dict(
        {"layers": [{"class": "Input", "shape": [4]}, {"class": "Dense", "units": 3}]}
    ).to_yaml())
    code, _, err = run("fit", spec, "--data", files.iris_npz, "--out", tmp_path / "m")
    assert code == 1 and err.startswith("error: loss: no loss given")
    assert "--loss NAME" in err and "sparse_categorical_crossentropy" in err


def test_unknown_backend(files: Files, tmp_path: Path, run: Run) -> None:
    code, _, err = run("fit", files.iris_spec, "--data", files.iris_npz, "--backend", "nope",
                       "--out", tmp_path / "m")
    assert code == 1 and "no unidl backend named 'nope'; installed backends:" in err
    assert not (tmp_path / "m").exists()


def test_fit_needs_a_backend_when_several_are_installed(
        files: Files, tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    if len(registry.backend_names()) < 2:
        pytest.skip("one backend installed: it is the default")
    monkeypatch.delenv("UNIDL_BACKEND", raising=False)
    code, _, err = run("fit", files.iris_spec, "--data", files.iris_npz,
                       "--out", tmp_path / "m")
    assert code == 1 and "no backend given: pass --backend NAME or set UNIDL_BACKEND" in err


def test_out_must_not_clobber_something_else(files: Files, tmp_path: Path, run: Run) -> None:
    (tmp_path / "notes").mkdir()
    code, _, err = run("fit", files.iris_spec, "--data", files.iris_npz,
                       "--out", tmp_path / "notes")
    assert code == 1 and "is not a unidl model directory; refusing" in err
    code, _, err = run("predict", tmp_path / "m", "--data", files.iris_npz,
                       "--out", tmp_path / "p.txt")
    assert code == 1 and "unsupported output type '.txt'" in err


def test_usage_errors_exit_2(files: Files, run: Run) -> None:
    assert run()[0] == 2
    code, _, err = run("fit", files.iris_spec)
    assert code == 2 and "the following arguments are required: --data, --out" in err
    code, _, err = run("fit", files.iris_spec, "--data", "d.npz", "--out", "m", "--epochs",
                       "-1")
    assert code == 2 and "--epochs: must be >= 0" in err
    code, stdout, _ = run("fit", "--help")
    assert code == 0 and "exit status:" in stdout and "training:" in stdout


def test_ctrl_c_exits_130(files: Files, run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr("unidl.cli.commands.summary", interrupted)
    code, _, err = run("summary", files.iris_spec)
    assert code == 130 and "interrupted" in err


def test_console_script_and_module_run_without_importing_a_framework(files: Files) -> None:
    script = Path(sys.executable).parent / "unidl"
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "usage: unidl" in done.stdout
    assert "exit status:" in done.stdout
    check = ("import sys; from unidl.cli import main; code = main(['summary', sys.argv[1]]); "
             "assert code == 0; loaded = {'torch', 'tensorflow', 'keras'} & set(sys.modules); "
             "assert not loaded, loaded")
    done = subprocess.run([sys.executable, "-c", check, str(files.iris_spec)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([sys.executable, "-m", "unidl", "--version"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == f"unidl {unidl.__version__}"
