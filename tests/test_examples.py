"""The runnable examples in ``examples/``: each ``main`` runs in-process on every installed
backend (``--backend all``) with fewer epochs, and its numbers must show real learning.

Data comes from scikit-learn's shipped datasets, generated arrays, or tiny files written to
``tmp_path``; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import importlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

import unidl

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BACKENDS = unidl.backend_names()

pytestmark = pytest.mark.skipif(not BACKENDS, reason="no unidl backend installed")

Main = Callable[[list[str]], dict[str, dict[str, float]]]


@pytest.fixture
def load(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], ModuleType]:
    """Import an example (or helper) module from ``examples/`` as its script would."""
    monkeypatch.syspath_prepend(str(EXAMPLES))

    def get(name: str) -> ModuleType:
        return importlib.import_module(name)

    return get


def run(load: Callable[[str], ModuleType], name: str, *args: str) -> dict[str, dict[str, float]]:
    main: Main = load(name).main
    result = main(["--backend", "all", *args])
    assert list(result) == BACKENDS, "one table row per installed backend"
    columns = {tuple(row) for row in result.values()}
    assert len(columns) == 1, f"every backend's row has the same columns: {columns}"
    return result


def agree(result: dict[str, dict[str, float]], column: str, atol: float) -> None:
    """Same spec, data and seed without dropout: the backends' numbers agree."""
    values = [row[column] for row in result.values()]
    assert max(values) - min(values) <= atol, f"{column} differs between backends: {result}"


# -- shared helpers ------------------------------------------------------------------------
def test_table_and_backend_option(load: Callable[[str], ModuleType]) -> None:
    common = load("_common")
    text = common.format_table({"a": {"x": 1.0, "name": "cpu", "n": 3},
                                "bb": {"x": 12.5, "name": "cuda:0", "n": 10}},
                               {"x": ".1f"})
    lines = text.splitlines()
    assert lines[0].split() == ["backend", "x", "name", "n"]
    assert lines[1].split() == ["a", "1.0", "cpu", "3"]
    assert lines[2].split() == ["bb", "12.5", "cuda:0", "10"]
    assert lines[0].index("x") == lines[1].index("1.0") == lines[2].index("12.5")  # aligned
    assert common.numbers({"a": {"x": 1.0, "name": "cpu"}}) == {"a": {"x": 1.0}}

    parser = common.base_parser("doc", epochs=3)
    assert common.select_backends(parser, "all") == BACKENDS
    assert common.select_backends(parser, f" {BACKENDS[0].upper()} ,") == BACKENDS[:1]
    with pytest.raises(SystemExit):
        common.select_backends(parser, "no-such-backend")
    with pytest.raises(SystemExit):
        parser.parse_args(["--epochs", "0"])
    assert isinstance(parser.parse_args([]), argparse.Namespace)


# -- 1. California housing MLP -------------------------------------------------------------
HOUSING_COLUMNS = ["longitude", "latitude", "housing_median_age", "total_rooms",
                   "total_bedrooms", "population", "households", "median_income",
                   "median_house_value", "ocean_proximity"]


def write_housing_csv(path: Path, rows: int = 80) -> None:
    """A tiny file in the layout of the California housing ``housing.csv``."""
    rng = np.random.default_rng(0)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HOUSING_COLUMNS)
        for i in range(rows):
            features = rng.normal(size=8)
            value = 2e5 + 5e4 * features[7] - 2e4 * features[0]
            cells = [f"{v:.4f}" for v in features]
            if i == 3:
                cells[4] = ""  # housing.csv has missing total_bedrooms
            writer.writerow([*cells[:8], f"{value:.1f}", ["NEAR BAY", "INLAND"][i % 2]])


def test_california_fallback_learns(load: Callable[[str], ModuleType],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    result = run(load, "california_mlp", "--epochs", "30")
    out = capsys.readouterr().out
    assert "no --csv given" in out and "diabetes" in out
    for row in result.values():
        assert row["test r2"] > 0.2, result  # well above predicting the mean (r2 = 0)
        assert row["train loss"] < 0.6, result  # standardised target: 1.0 = predicting mean
    agree(result, "test r2", 1e-3)


def test_california_reads_housing_csv(tmp_path: Path, load: Callable[[str], ModuleType],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "housing.csv"
    write_housing_csv(path)
    data = load("_datasets").read_csv_table(path)
    assert data.target == "median_house_value"
    assert data.features == HOUSING_COLUMNS[:8]
    assert data.x.shape == (79, 8) and data.y.shape == (79,)  # the incomplete row dropped
    assert any("ocean_proximity" in n for n in data.notes)
    assert any("1 row(s) with missing values (in total_bedrooms)" in n for n in data.notes)

    result = run(load, "california_mlp", "--csv", str(path), "--epochs", "2")
    out = capsys.readouterr().out
    assert "dropped non-numeric column(s): ocean_proximity" in out
    assert "model 8-30-15-1" in out and "no --csv given" not in out
    assert all(np.isfinite(list(row.values())).all() for row in result.values())


def test_california_csv_target_option_and_errors(tmp_path: Path,
                                                 load: Callable[[str], ModuleType]) -> None:
    datasets = load("_datasets")
    path = tmp_path / "t.csv"
    path.write_text("a,b,label\n" + "".join(f"{i},{i % 3},{2 * i}\n" for i in range(12)))
    data = datasets.read_csv_table(path, target="label")
    assert data.features == ["a", "b"] and data.y[-1] == 22.0
    with pytest.raises(ValueError, match="--target"):
        datasets.read_csv_table(path)
    with pytest.raises(ValueError, match="no column 'price'"):
        datasets.read_csv_table(path, target="price")
    with pytest.raises(SystemExit):  # a bad --csv is a usage error, not a traceback
        load("california_mlp").main(["--csv", str(tmp_path / "missing.csv")])


# -- 2. MNIST MLP and CNN ------------------------------------------------------------------
def test_mnist_mlp_fallback_classifies(load: Callable[[str], ModuleType],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    result = run(load, "mnist_mlp", "--epochs", "3")
    out = capsys.readouterr().out
    assert "no --data given" in out and "load_digits" in out
    assert "classification report" in out and "macro avg" in out
    assert "confusion matrix" in out
    for row in result.values():
        assert row["test acc"] > 0.8, result  # chance is 0.1
        assert row["test f1 (macro)"] > 0.75, result


def test_mnist_cnn_fallback_classifies(load: Callable[[str], ModuleType],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    result = run(load, "mnist_cnn", "--epochs", "3")
    out = capsys.readouterr().out
    assert "no --data given" in out and "classification report" in out
    for row in result.values():
        assert row["test acc"] > 0.8, result
        assert row["test f1 (macro)"] > 0.75, result


def write_idx(path: Path, array: npt.NDArray[Any]) -> None:
    data = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape) + array.astype(np.uint8).tobytes()
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def fake_mnist(n: int, size: int, seed: int) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """Images whose class is the bright row: learnable, and tiny."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    x = rng.integers(0, 40, size=(n, size, size)).astype(np.uint8)
    x[np.arange(n), y + 1, :] = 255
    return x, y.astype(np.uint8)


def test_mnist_readers_idx_and_npz(tmp_path: Path, load: Callable[[str], ModuleType],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    datasets = load("_datasets")
    x_train, y_train = fake_mnist(60, 12, 0)
    x_test, y_test = fake_mnist(20, 12, 1)
    idx = tmp_path / "idx"
    idx.mkdir()
    write_idx(idx / "train-images-idx3-ubyte.gz", x_train)  # gzipped, as downloaded
    write_idx(idx / "train-labels-idx1-ubyte.gz", y_train)
    write_idx(idx / "t10k-images.idx3-ubyte", x_test)  # the dotted, unzipped variant
    write_idx(idx / "t10k-labels.idx1-ubyte", y_test)
    npz = tmp_path / "mnist.npz"
    np.savez(npz, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)

    assert np.array_equal(datasets.read_idx(idx / "train-images-idx3-ubyte.gz"), x_train)
    for data in (datasets.load_images(idx), datasets.load_images(npz)):
        assert data.x_train.shape == (60, 12, 12) and data.x_test.shape == (20, 12, 12)
        assert data.x_train.dtype == np.float32 and data.x_train.max() == 1.0
        np.testing.assert_allclose(data.x_train * 255, x_train, atol=1e-4)
        assert np.array_equal(data.y_test, y_test) and data.classes == 10

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + bytes(12) + b"x")
    with pytest.raises(ValueError, match="IDX"):
        datasets.read_idx(bad / "train-images-idx3-ubyte")
    with pytest.raises(FileNotFoundError, match="train_labels"):
        datasets.load_images(bad)
    np.savez(tmp_path / "partial.npz", x_train=x_train)
    with pytest.raises(ValueError, match="y_train"):
        datasets.load_images(tmp_path / "partial.npz")

    # Both scripts train on the files end to end (12x12 images, not the fallback).
    run(load, "mnist_cnn", "--data", str(idx), "--epochs", "1")
    out = capsys.readouterr().out
    assert f"read {idx}: 60 training and 20 test images of 12x12" in out
    assert "no --data given" not in out
    result = run(load, "mnist_mlp", "--data", str(npz), "--epochs", "1", "--train-size", "30")
    out = capsys.readouterr().out
    assert "30 training images" in out
    assert all(0.0 <= row["test acc"] <= 1.0 for row in result.values())


# -- 3. linear regression by gradient descent ----------------------------------------------
def test_linear_regression_recovers_the_weights(load: Callable[[str], ModuleType],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    example = load("linear_regression_gd")
    result = run(load, "linear_regression_gd", "--epochs", "60")
    assert "true: w = [2.0, -3.4], b = 4.2" in capsys.readouterr().out
    for row in result.values():
        learned = [row["w[0]"], row["w[1]"], row["b"]]
        np.testing.assert_allclose(learned, [*example.TRUE_WEIGHTS, example.TRUE_BIAS],
                                   atol=0.01)
        assert row["max |error|"] < 0.01
    agree(result, "b", 1e-4)


# -- 4. schedules, early stopping, TensorBoard ---------------------------------------------
def test_schedule_early_stopping_tensorboard(tmp_path: Path,
                                             load: Callable[[str], ModuleType],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tensorboard")
    max_epochs = 60
    result = run(load, "schedules_early_stopping", "--epochs", str(max_epochs), "--patience",
                 "4", "--logdir", str(tmp_path))
    out = capsys.readouterr().out
    assert f"tensorboard --logdir {tmp_path}" in out
    for name, row in result.items():
        # Adam at 0.01 overfits these 1077 digits long before 60 epochs.
        assert row["epochs run"] < max_epochs, result
        assert row["epochs run"] == row["best epoch"] + 4  # patience 4 after the best
        # restore_best_weights: the model ends with the best epoch's weights.
        assert row["restored val loss"] == pytest.approx(row["best val loss"], rel=1e-5)
        # ReduceLROnPlateau (patience 2) lowered the rate before EarlyStopping (4) ended it.
        assert row["final lr"] < 0.01 and row["lr changes"] >= 1
        assert row["test acc"] > 0.9
        assert list((tmp_path / name).glob("events.out.tfevents.*")), "no TensorBoard events"


def test_other_schedules(load: Callable[[str], ModuleType]) -> None:
    example = load("schedules_early_stopping")
    step = example.make_schedule("step", 40)
    assert [step.rate(0.01, t) for t in (0, 9, 10, 25)] == pytest.approx(
        [0.01, 0.01, 0.005, 0.0025])
    assert example.make_schedule("cosine", 40).rate(0.01, 40) == pytest.approx(0.0)
    assert example.make_schedule("exponential", 40).rate(0.01, 2) == pytest.approx(0.01 * 0.95**2)


# -- 5. save on one backend, load on the other ---------------------------------------------
def test_cross_backend_round_trip(tmp_path: Path, load: Callable[[str], ModuleType],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    result = run(load, "cross_backend", "--epochs", "1", "--save-dir", str(tmp_path))
    out = capsys.readouterr().out
    assert (tmp_path / "digits-cnn" / "weights.safetensors").is_file()
    assert "(the same model)" in out
    if len(BACKENDS) == 1:
        assert "only one backend is installed" in out
    for row in result.values():
        assert row["max |pred diff|"] < 1e-4, result
        assert row["|loss diff|"] < 1e-4, result
        assert row["test acc"] > 0.5, result  # one epoch, still far above chance (0.1)


def test_cross_backend_single_backend_says_so(tmp_path: Path,
                                              load: Callable[[str], ModuleType],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    main: Main = load("cross_backend").main
    result = main(["--backend", BACKENDS[-1], "--epochs", "1", "--save-dir", str(tmp_path)])
    assert list(result) == [BACKENDS[-1]]
    assert result[BACKENDS[-1]]["max |pred diff|"] == 0.0  # same backend: bit-identical
    out = capsys.readouterr().out
    assert f"{BACKENDS[-1]} -> file -> {BACKENDS[-1]}" in out


def test_tabular_embeddings_generated_table(load: Callable[[str], ModuleType],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    if not all("graph" in unidl.registry.get_backend(b).capabilities.features
               for b in BACKENDS):
        pytest.skip("a backend without functional graphs is installed")
    result = run(load, "tabular_embeddings", "--epochs", "8", "--rows", "1500")
    out = capsys.readouterr().out
    assert "no --csv given: using a generated table" in out
    assert "classification report" in out and "0 = unacc" in out
    for row in result.values():
        assert row["val_accuracy"] > 0.6, result  # chance: at most 0.5 (the largest class)


def test_tabular_embeddings_reads_categorical_csv(tmp_path: Path,
                                                  load: Callable[[str], ModuleType]) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "car_evaluation.csv"
    safety = ["low", "med", "high"]
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["price", "doors", "safety", "output"])
        for _ in range(300):
            s = int(rng.integers(0, 3))
            writer.writerow([str(rng.choice(["vhigh", "high", "low"])), int(rng.integers(2, 6)),
                             safety[s], ["unacc", "acc", "good"][s]])
    table = load("tabular_embeddings").read_table(path, None)
    assert table.sizes == (3, 3) and table.numeric.shape == (300, 1)  # doors is numeric
    assert table.classes == ["acc", "good", "unacc"]
    result = run(load, "tabular_embeddings", "--csv", str(path), "--epochs", "20",
                 "--batch-size", "16", "--lr", "1e-2")
    for row in result.values():
        assert row["val_accuracy"] > 0.9, result  # safety alone decides the class
    with pytest.raises(ValueError, match="no column 'label'"):
        load("tabular_embeddings").read_table(path, "label")
