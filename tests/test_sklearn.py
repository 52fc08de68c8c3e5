"""unidl.sklearn: the estimators pass scikit-learn's own checks on every installed backend,
work inside Pipeline / GridSearchCV / cross_val_score, pickle through the portable format,
and docs/sklearn.md and examples/california_sklearn.py run.

Kept small for two CPU cores: tiny MLPs, a few epochs, datasets shipped with scikit-learn.
"""

from __future__ import annotations

import copy
import importlib
import io
import pickle
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

import unidl

pytest.importorskip("sklearn", minversion="1.6")

from sklearn.base import clone
from sklearn.datasets import load_diabetes, load_iris, make_classification
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.estimator_checks import parametrize_with_checks

from unidl.sklearn import UnidlClassifier, UnidlRegressor

BACKENDS = unidl.backend_names()
ROOT = Path(__file__).resolve().parents[1]
Array = npt.NDArray[Any]

pytestmark = pytest.mark.skipif(not BACKENDS, reason="no unidl backend installed")

#: Small enough for ~110 fits per estimator and backend, large enough for the checks that
#: score the fit (accuracy > 0.83, R^2 > 0.5 on their toy data).
SMALL = {"hidden_layer_sizes": (16,), "epochs": 5, "learning_rate": 0.05, "device": "cpu"}

#: scikit-learn checks expected to fail, with why. One each; the limit is four.
EXPECTED_FAILURES = {
    "check_sample_weight_equivalence_on_dense_data": (
        "float32 training: a sample of weight 2 and the same sample twice give the same "
        "fit up to float32 rounding (differences ~1e-7 relative, measured), but the "
        "check compares at rtol=1e-7 in float64, so a single rounding step fails it"),
}


def expected_failures(estimator: object) -> dict[str, str]:
    return dict(EXPECTED_FAILURES)


def without_xla(monkeypatch: pytest.MonkeyPatch, backend_name: str) -> None:
    """Models built on ``backend_name`` train without XLA, in plain graph mode.

    The keras backend compiles every new model's training loop with XLA, about 2 s a model
    on these CPUs, and the checks fit ~110 models per estimator: graph mode runs the same
    TensorFlow ops (the keras backend's own tests hold the two to rtol 1e-5) in a tenth of
    the time. A backend whose models have no ``jit_compile`` is left as it is. Pickling,
    the other estimator tests and the example run the default, compiled path.
    """
    backend = unidl.registry.get_backend(backend_name)
    build = backend.build

    def build_in_graph_mode(*args: Any, **kwargs: Any) -> Any:
        native = build(*args, **kwargs)
        if getattr(native, "jit_compile", None) is True:
            native.jit_compile = False
        return native

    monkeypatch.setattr(backend, "build", build_in_graph_mode)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Iterator[None]:
    """These models are tiny: torch runs them faster on one thread than on two, and on a
    busy two-core machine two OpenMP threads that wait for each other make every step up
    to a hundred times slower (measured: 20 s instead of 0.15 s for one fit). Restored
    after this module."""
    if "torch" not in BACKENDS:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# -- scikit-learn's own checks --------------------------------------------------------------
@parametrize_with_checks(
    [est(backend=name, **SMALL) for name in BACKENDS for est in (UnidlClassifier, UnidlRegressor)],
    expected_failed_checks=expected_failures)
def test_scikit_learn_checks(estimator: UnidlClassifier | UnidlRegressor,
                             check: Callable[[Any], None],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    without_xla(monkeypatch, str(estimator.backend))
    check(estimator)


# -- data ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def iris() -> tuple[Array, Array]:
    x, y = load_iris(return_X_y=True)
    return x, np.array(["setosa", "versicolor", "virginica"])[y]  # string labels


@pytest.fixture(scope="module")
def diabetes() -> tuple[Array, Array]:
    x, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(x), (y - y.mean()) / y.std()


# -- in scikit-learn's tools -----------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_pipeline_in_grid_search_and_cross_val_score(
        backend: str, iris: tuple[Array, Array], diabetes: tuple[Array, Array],
        monkeypatch: pytest.MonkeyPatch) -> None:
    without_xla(monkeypatch, backend)  # 8 fits
    x, y = iris
    pipe = make_pipeline(StandardScaler(),
                         UnidlClassifier(backend=backend, epochs=20, learning_rate=0.02,
                                         device="cpu"))
    grid = GridSearchCV(pipe, {"unidlclassifier__hidden_layer_sizes": [(4,), (32,)]},
                        cv=KFold(2, shuffle=True, random_state=0))
    grid.fit(x, y)
    assert grid.best_params_["unidlclassifier__hidden_layer_sizes"] in [(4,), (32,)]
    assert grid.best_score_ > 0.8
    assert set(grid.predict(x)) <= set(y)
    assert grid.score(x, y) > 0.85

    xr, yr = diabetes
    scores = cross_val_score(make_pipeline(StandardScaler(), UnidlRegressor(
        backend=backend, hidden_layer_sizes=(16,), epochs=30, learning_rate=0.01,
        device="cpu")), xr, yr, cv=KFold(3, shuffle=True, random_state=0))
    assert scores.shape == (3,) and scores.mean() > 0.3  # mean prediction: 0


# -- pickling --------------------------------------------------------------------------------
FRAMEWORKS = ("torch", "tensorflow", "keras", "unidl_torch", "unidl_keras")


def pickled_modules(data: bytes) -> set[str]:
    """The modules whose classes or functions a pickle names."""
    found: set[str] = set()

    class Recorder(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            found.add(module)
            return super().find_class(module, name)

    Recorder(io.BytesIO(data)).load()
    return found


@pytest.mark.parametrize("backend", BACKENDS)
def test_pickle_round_trip_through_the_portable_format(
        backend: str, iris: tuple[Array, Array], diabetes: tuple[Array, Array]) -> None:
    x, y = iris
    clf = UnidlClassifier(backend=backend, hidden_layer_sizes=(8,), epochs=5,
                          device="cpu").fit(x, y)
    data = pickle.dumps(clf)
    assert not {m for m in pickled_modules(data) if m.split(".")[0] in FRAMEWORKS}
    again = pickle.loads(data)
    assert again.model_.backend_name == backend and again.model_ is not clf.model_
    np.testing.assert_allclose(again.predict_proba(x), clf.predict_proba(x), atol=1e-6,
                               rtol=0)
    np.testing.assert_array_equal(again.predict(x), clf.predict(x))
    assert list(again.classes_) == ["setosa", "versicolor", "virginica"]
    # The optimizer state travels too: both continue on the same trajectory.
    clf.partial_fit(x, y)
    again.partial_fit(x, y)
    np.testing.assert_allclose(again.predict_proba(x), clf.predict_proba(x), atol=1e-5)
    deep = copy.deepcopy(clf)
    np.testing.assert_allclose(deep.predict_proba(x), clf.predict_proba(x), atol=1e-6, rtol=0)

    xr, yr = diabetes
    yr2 = np.column_stack([yr, -yr])
    reg = UnidlRegressor(backend=backend, hidden_layer_sizes=(8,), epochs=5,
                         device="cpu").fit(xr, yr2)
    back = pickle.loads(pickle.dumps(reg))
    assert back.predict(xr).shape == (len(xr), 2)
    np.testing.assert_allclose(back.predict(xr), reg.predict(xr), atol=1e-6, rtol=0)


def test_clone_copies_parameters_not_the_model(iris: tuple[Array, Array]) -> None:
    x, y = iris
    spec = unidl.Sequential([unidl.Input((4,)), unidl.Dense(3, activation="softmax")])
    clf = UnidlClassifier(spec, backend=BACKENDS[0], epochs=2, device="cpu").fit(x, y)
    fresh = clone(clf)
    assert not hasattr(fresh, "model_") and fresh.get_params() == clf.get_params()
    assert fresh.set_params(epochs=3).epochs == 3 and clf.epochs == 2


# -- models and targets ----------------------------------------------------------------------
def test_any_spec_a_spec_function_and_its_outputs(iris: tuple[Array, Array]) -> None:
    x, y = iris
    backend = BACKENDS[0]
    softmax = unidl.Sequential([unidl.Input((4,)), unidl.Dense(8, activation="relu"),
                                unidl.Dense(3, activation="softmax")])
    # 60 epochs: with float32 initial draws, 30 at lr 0.02 separate only setosa (0.67 on
    # both backends alike); 60 at lr 0.05 reach 0.987 on both
    a = UnidlClassifier(softmax, backend=backend, epochs=60, learning_rate=0.05,
                        device="cpu").fit(x, y)
    assert a.score(x, y) > 0.9
    np.testing.assert_allclose(a.predict_proba(x).sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(a.decision_function(x), np.log(a.predict_proba(x)), atol=1e-5)

    seen: list[tuple[int, int]] = []

    def make(n_features: int, n_classes: int) -> unidl.Sequential:
        seen.append((n_features, n_classes))
        return unidl.Sequential([unidl.Input((n_features,)), unidl.Dense(n_classes)])

    b = UnidlClassifier(make, backend=backend, epochs=2, device="cpu").fit(x, y)
    assert seen == [(4, 3)] and b.decision_function(x).shape == (150, 3)

    # Two classes: one sigmoid unit; a 1-D decision function (positive: classes_[1]).
    binary = y != "setosa"
    sigmoid = unidl.Sequential([unidl.Input((4,)), unidl.Dense(1, activation="sigmoid")])
    c = UnidlClassifier(sigmoid.to_dict(), backend=backend, epochs=30, learning_rate=0.05,
                        device="cpu").fit(x, binary)
    assert list(c.classes_) == [False, True] and c.decision_function(x).shape == (150,)
    np.testing.assert_array_equal(c.predict(x), c.decision_function(x) > 0)

    # An image spec takes the flattened pixels of X (the Input's shape is restored).
    image = unidl.Sequential([unidl.Input((2, 2, 1)), unidl.Flatten(), unidl.Dense(3)])
    d = UnidlClassifier(image, backend=backend, epochs=2, device="cpu").fit(x, y)
    assert d.predict(x).shape == (150,)


def test_labels_of_any_type_and_class_weight(iris: tuple[Array, Array]) -> None:
    x, y = iris
    backend = BACKENDS[0]
    for labels in (np.array([-1, 5, 7])[np.searchsorted(np.unique(y), y)],
                   np.searchsorted(np.unique(y), y).astype(float) * 2, y.astype(object)):
        clf = UnidlClassifier(backend=backend, hidden_layer_sizes=(8,), epochs=2,
                              device="cpu").fit(x, labels)
        assert list(clf.classes_) == sorted(set(labels))
        assert set(clf.predict(x)) <= set(labels)
    # class_weight is one weight per sample, by label: the same fit as giving those weights.
    skewed = np.where(y == "setosa", "a", "b")
    params = {"backend": backend, "hidden_layer_sizes": (8,), "epochs": 4, "device": "cpu"}
    balanced = UnidlClassifier(class_weight="balanced", **params).fit(x, skewed)
    weighted = UnidlClassifier(**params).fit(
        x, skewed, sample_weight=compute_sample_weight("balanced", skewed))
    np.testing.assert_array_equal(balanced.predict_proba(x), weighted.predict_proba(x))


def test_multi_output_regression_and_shapes(diabetes: tuple[Array, Array]) -> None:
    x, y = diabetes
    backend = BACKENDS[0]
    params = {"backend": backend, "hidden_layer_sizes": (16,), "epochs": 40,
              "learning_rate": 0.01, "device": "cpu"}
    three = np.column_stack([y, 2 * y, -y])
    reg = UnidlRegressor(**params).fit(x, three)
    assert reg.n_outputs_ == 3 and reg.predict(x).shape == (442, 3)
    assert reg.score(x, three) > 0.4
    assert UnidlRegressor(**params).fit(x, y[:, None]).predict(x).shape == (442, 1)
    assert UnidlRegressor(**params).fit(x, y).predict(x).shape == (442,)


def test_partial_fit_continues_the_fit_trajectory(iris: tuple[Array, Array]) -> None:
    x, y = iris
    params = {"backend": BACKENDS[0], "hidden_layer_sizes": (8,), "tol": None,
              "device": "cpu"}
    whole = UnidlClassifier(epochs=3, **params).fit(x, y)
    steps = UnidlClassifier(**params)
    for _ in range(3):
        steps.partial_fit(x, y, classes=np.unique(y))
    assert steps.n_iter_ == whole.n_iter_ == 3
    np.testing.assert_allclose(steps.predict_proba(x), whole.predict_proba(x), atol=1e-6)


def test_seeded_fits_repeat_and_unseeded_ones_say_so(iris: tuple[Array, Array]) -> None:
    x, y = iris
    params = {"backend": BACKENDS[0], "hidden_layer_sizes": (8,), "epochs": 3,
              "device": "cpu"}
    first = UnidlClassifier(seed=7, **params).fit(x, y).predict_proba(x)
    np.testing.assert_array_equal(UnidlClassifier(seed=7, **params).fit(x, y).predict_proba(x),
                                  first)
    unseeded = UnidlClassifier(seed=None, **params)
    assert unseeded.__sklearn_tags__().non_deterministic
    assert isinstance(unseeded.fit(x, y).model_.seed, int)  # recorded: the fit can be repeated


def test_bad_input_gets_a_specific_error(iris: tuple[Array, Array]) -> None:
    x, y = iris
    backend = BACKENDS[0]

    def fit(est: Any, *args: Any, **kwargs: Any) -> None:
        est.set_params(backend=backend, epochs=1, device="cpu").fit(*args, **kwargs)

    wide = unidl.Sequential([unidl.Input((4,)), unidl.Dense(5)])
    with pytest.raises(unidl.ShapeMismatchError, match=r"output has shape \(5,\).*3 classes"):
        fit(UnidlClassifier(wide), x, y)
    with pytest.raises(unidl.ShapeMismatchError, match="X has 3 features"):
        fit(UnidlClassifier(wide), x[:, :3], y)
    with pytest.raises(unidl.SpecError, match="softmax"):
        fit(UnidlClassifier(unidl.Sequential([unidl.Input((4,)),
                                              unidl.Dense(3, activation="relu")])), x, y)
    with pytest.raises(unidl.SpecError, match=r"^spec: must be None"):
        fit(UnidlClassifier("mlp"), x, y)
    with pytest.raises(unidl.SpecError, match="returned int"):
        fit(UnidlClassifier(lambda n, k: 3), x, y)
    with pytest.raises(unidl.SpecError, match="hidden_layer_sizes"):
        fit(UnidlClassifier(hidden_layer_sizes=(0,)), x, y)
    with pytest.raises(unidl.SpecError, match="batch_size"):
        fit(UnidlClassifier(batch_size="big"), x, y)
    with pytest.raises(unidl.UnknownNameError, match="Did you mean 'adam'"):
        fit(UnidlClassifier(optimizer="adamm"), x, y)
    with pytest.raises(unidl.DataError, match="one weight per sample"):
        fit(UnidlClassifier(), x, y, sample_weight=np.ones(3))
    with pytest.raises(unidl.DataError, match="classes="):
        UnidlClassifier(backend=backend).partial_fit(x, y)
    multilabel = make_classification(n_samples=30, n_classes=2, random_state=0)[1]
    with pytest.raises(ValueError):  # sklearn's own: y must be 1-D
        fit(UnidlClassifier(), x[:30], np.column_stack([multilabel, multilabel]))
    city = unidl.Input((1,), name="a")
    other = unidl.Input((3,), name="b")
    two_inputs = unidl.Graph([city, other],
                             unidl.Dense(3)(unidl.Concatenate()([city, other])))
    with pytest.raises(unidl.SpecError, match="2 inputs"):
        fit(UnidlClassifier(two_inputs), x, y)
    assert issubclass(unidl.SpecError, ValueError) and issubclass(unidl.DataError, ValueError)


# -- the documentation page and the example --------------------------------------------------
def _python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def test_the_sklearn_page_runs_top_to_bottom(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """docs/sklearn.md: its ``python`` blocks run, in order, as one script (in this process:
    the page registers nothing, and the frameworks are imported already); blocks fenced
    ``py`` are fragments and left out, and no other language is used for Python."""
    missing = {"torch", "keras"} - set(BACKENDS)
    if missing:
        pytest.skip(f"the page uses both backends; not installed: {sorted(missing)}")
    text = (ROOT / "docs" / "sklearn.md").read_text(encoding="utf-8")
    fences = set(re.findall(r"^```(\w*)$", text, flags=re.MULTILINE)) - {""}
    assert fences <= {"python", "py"}, fences
    blocks = _python_blocks(text)
    assert len(blocks) >= 8
    monkeypatch.chdir(tmp_path)
    code = compile("\n\n".join(blocks), str(ROOT / "docs" / "sklearn.md"), "exec")
    exec(code, {"__name__": "__sklearn_page__"})
    out = capsys.readouterr().out
    assert "end the model with Dense(3)" in out and "SpecError batch_size" in out


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    return importlib.import_module("california_sklearn")


def test_the_california_example_compares_on_the_same_folds(
        example: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    result = example.main(["--backend", "all", "--folds", "3", "--epochs", "10", "--lr",
                           "0.01", "--trees", "20"])
    out = capsys.readouterr().out
    assert "no --csv given" in out and "diabetes" in out  # --csv is an alias of --data
    assert list(result) == [*BACKENDS, "scikit-learn"]
    for row in result.values():
        assert row["mean r2"] > 0.3, result  # predicting the mean scores 0
        assert len({k for k in row if k.startswith("fold ")}) == 3
    if len(BACKENDS) == 2:  # same spec, data, folds and seed: the backends agree
        a, b = (result[name]["mean r2"] for name in BACKENDS)
        assert abs(a - b) < 1e-3, result


def test_the_california_example_reads_a_csv(example: ModuleType, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "housing.csv"
    rows = ["median_income,rooms,median_house_value,ocean_proximity"]
    for i in range(60):
        income, rooms = rng.normal(size=2)
        rows.append(f"{income:.3f},{rooms:.3f},{2e5 + 5e4 * income:.1f},"
                    f"{['INLAND', 'NEAR BAY'][i % 2]}")
    path.write_text("\n".join(rows) + "\n")
    result = example.main(["--backend", BACKENDS[0], "--data", str(path), "--folds", "2",
                           "--epochs", "2", "--trees", "5"])
    out = capsys.readouterr().out
    assert f"read {path}: 60 rows" in out and "ocean_proximity" in out
    assert set(result) == {BACKENDS[0], "scikit-learn"}
    with pytest.raises(SystemExit):  # a missing file is a usage error, not a traceback
        example.main(["--data", str(tmp_path / "missing.csv")])
