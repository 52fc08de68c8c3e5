"""Training features: per-step learning rates, chunked plans, sample weights and gradient
clipping (canonical optimizer state and resuming: test_optimizer_state)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from keras_helpers import build, setup

import unidl
from unidl.data import ArrayData, EpochPlan, epoch_plan
from unidl.losses import per_sample_loss
from unidl.testing.optimizers import ReferenceOptimizer, clip_gradients

Array = Any


class Generic:
    """A SampleSource that is not ArrayData (the per-batch ``take`` path)."""

    def __init__(self, x: Array, y: Array, sample_weight: Array | None = None) -> None:
        self._inner = ArrayData(x, y, sample_weight)
        self.sample_weight = sample_weight

    def __len__(self) -> int:
        return len(self._inner)

    def take(self, indices: Array) -> tuple[Array, Array | None]:
        return self._inner.take(indices)


def run_chunked(model: Any, data: Any, plan: EpochPlan, chunk: int,
                collect: bool = False) -> tuple[float, Array | None]:
    """Run ``plan`` as consecutive chunks of ``chunk`` batches, as the core does."""
    bs, total, outs = plan.batch_size, 0.0, []
    for first in range(0, len(plan), chunk):
        order = plan.order[first * bs:(first + chunk) * bs]
        rates = None if plan.learning_rates is None else \
            plan.learning_rates[first:first + chunk]
        part = model.train_epoch(data, EpochPlan(order, bs, plan.epoch, first, rates),
                                 collect)
        total += part.loss * len(order)
        if part.outputs is not None:
            outs.append(part.outputs)
    return total / len(plan.order), (np.concatenate(outs) if collect else None)


def _linear() -> unidl.Sequential:
    return unidl.Sequential([unidl.Input((4,)), unidl.Dense(3)])


def _dropout_mlp() -> unidl.Sequential:
    return unidl.Sequential([unidl.Input((6,)), unidl.Dense(16, activation="relu"),
                             unidl.Dropout(0.5), unidl.Dense(8, activation="tanh"),
                             unidl.Dropout(0.3), unidl.Dense(3, activation="softmax")])


def _cnn() -> unidl.Sequential:
    return unidl.Sequential([
        unidl.Input((6, 6, 2)), unidl.Conv2D(3, 3, padding="same", activation="relu"),
        unidl.BatchNorm(), unidl.MaxPool2D(2), unidl.Flatten(), unidl.Dropout(0.2),
        unidl.Dense(3, activation="softmax"),
    ])


def _linear_grads(w: dict[str, Array], x: Array, y: Array,
                  sw: Array | None = None) -> dict[str, Array]:
    """Gradients of the (weighted) batch MSE of ``Dense(3)``, float64."""
    p = x @ w["dense/kernel"] + w["dense/bias"]
    scale = np.ones(len(x)) if sw is None else sw.astype(np.float64)
    dp = 2 * (p - y) * scale[:, None] / p.size  # p.size = batch * outputs
    return {"dense/kernel": x.T @ dp, "dense/bias": dp.sum(0)}


def _f64(weights: dict[str, Array]) -> dict[str, Array]:
    return {k: v.astype(np.float64) for k, v in weights.items()}


def _assert_weights_equal(a: Any, b: Any) -> None:
    wb = b.get_weights()
    for k, v in a.get_weights().items():
        np.testing.assert_array_equal(v, wb[k], err_msg=k)


def _classification(rng: np.random.Generator, n: int = 103) -> tuple[Array, Array]:
    x = rng.standard_normal((n, 6)).astype(np.float32)
    y = rng.integers(0, 3, n).astype(np.int64)
    return x, y


# -- per-step learning rates -----------------------------------------------------------
@pytest.mark.parametrize("fast", [True, False], ids=["arrays", "generic"])
def test_per_step_learning_rates_match_numpy_sgd(fast: bool,
                                                 rng: np.random.Generator) -> None:
    x = rng.standard_normal((23, 4)).astype(np.float32)
    y = rng.standard_normal((23, 3)).astype(np.float32)
    model = build(_linear(), seed=1)
    model.configure(setup("mse", unidl.SGD(lr=0.5)))  # spec lr unused: the plan has rates
    w = _f64(model.get_weights())
    for epoch in range(2):
        plan = epoch_plan(23, 5, 0, epoch)  # 5 batches, the last of 3
        rates = np.array([0.1, 0.05, 0.2, 0.01, 0.3]) / (epoch + 1)
        plan = EpochPlan(plan.order, 5, epoch, 0, rates)
        for lr, idx in zip(rates, plan.batches(), strict=True):
            g = _linear_grads(w, x[idx].astype(np.float64), y[idx].astype(np.float64))
            w = {k: w[k] - lr * g[k] for k in w}
        model.train_epoch(ArrayData(x, y) if fast else Generic(x, y), plan, False)
        for k, v in model.get_weights().items():
            np.testing.assert_allclose(v, w[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_no_rates_means_the_spec_lr(rng: np.random.Generator) -> None:
    x = rng.standard_normal((16, 4)).astype(np.float32)
    y = rng.standard_normal((16, 3)).astype(np.float32)
    a, b = build(_linear()), build(_linear())
    a.configure(setup("mse", unidl.SGD(lr=0.07)))
    b.configure(setup("mse", unidl.SGD(lr=0.5)))
    plan = epoch_plan(16, 4, 0, 0)
    a.train_epoch(ArrayData(x, y), plan, False)
    b.train_epoch(ArrayData(x, y), EpochPlan(plan.order, 4, 0, 0, np.full(4, 0.07)), False)
    for k, v in a.get_weights().items():
        np.testing.assert_allclose(v, b.get_weights()[k], rtol=1e-6, atol=1e-7)


def test_changing_rates_does_not_retrace(rng: np.random.Generator) -> None:
    x, y = _classification(rng, 64)
    model = build(_dropout_mlp())
    model.configure(setup("sparse_categorical_crossentropy", unidl.Adam(), logits_loss=True))
    for epoch in range(4):
        plan = epoch_plan(64, 16, 0, epoch)
        model.train_epoch(ArrayData(x, y), EpochPlan(plan.order, 16, epoch, 0,
                                                     np.full(4, 1e-3 / (epoch + 1))), False)
    fn = model._trainer._epoch_fns[(16, False, False)]._compiled  # type: ignore[union-attr]
    assert fn.experimental_get_tracing_count() == 1


# -- chunked plans ---------------------------------------------------------------------
@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_chunked_epochs_equal_whole_epochs(chunk: int, rng: np.random.Generator) -> None:
    x, y = _classification(rng)  # 103 samples, batch 16: 7 batches, the last of 7
    data = ArrayData(x, y)

    def train(chunked: bool) -> tuple[Any, list[tuple[float, Array]]]:
        model = build(_dropout_mlp(), seed=2)
        model.configure(setup("sparse_categorical_crossentropy", unidl.Adam(lr=0.01),
                              logits_loss=True, seed=4))
        results = []
        for epoch in range(3):
            p = epoch_plan(103, 16, 4, epoch)
            plan = EpochPlan(p.order, 16, epoch, 0, np.geomspace(1e-2, 1e-3, 7) / (1 + epoch))
            if chunked:
                results.append(run_chunked(model, data, plan, chunk, collect=True))
            else:
                r = model.train_epoch(data, plan, True)
                results.append((r.loss, r.outputs))
        return model, results

    whole, whole_res = train(False)
    parts, parts_res = train(True)
    _assert_weights_equal(whole, parts)
    for (la, oa), (lb, ob) in zip(whole_res, parts_res, strict=True):
        assert la == pytest.approx(lb, rel=1e-12)
        np.testing.assert_array_equal(oa, ob)


def test_chunks_of_any_length_share_few_traces(rng: np.random.Generator) -> None:
    x, y = _classification(rng)
    model = build(_dropout_mlp())
    model.configure(setup("sparse_categorical_crossentropy", unidl.SGD(), logits_loss=True))
    for chunk in range(1, 8):  # 103 samples, batch 16: 6 full batches and one of 7
        run_chunked(model, ArrayData(x, y), epoch_plan(103, 16, 0, chunk), chunk)
    fn = model._trainer._epoch_fns[(16, False, False)]._compiled  # type: ignore[union-attr]
    # full-batch slots are padded to 1, 2, 4 or 8; the last batch adds a variant of each
    assert fn.experimental_get_tracing_count() <= 8


def test_chunked_generic_path_equals_whole(rng: np.random.Generator) -> None:
    x, y = _classification(rng, 40)
    models = []
    for chunk in (None, 2):
        model = build(_dropout_mlp(), seed=3)
        model.configure(setup("sparse_categorical_crossentropy", unidl.SGD(momentum=0.9),
                              logits_loss=True, seed=1))
        for epoch in range(2):
            plan = epoch_plan(40, 16, 1, epoch)
            if chunk is None:
                model.train_epoch(Generic(x, y), plan, False)
            else:
                run_chunked(model, Generic(x, y), plan, chunk)
        models.append(model)
    _assert_weights_equal(*models)


# -- sample weights --------------------------------------------------------------------
LOSS_CASES = [
    ("mse", False, False), ("mae", False, False), ("huber", False, False),
    ("binary_crossentropy", False, False), ("binary_crossentropy", True, False),
    ("binary_crossentropy", False, True), ("categorical_crossentropy", False, False),
    ("categorical_crossentropy", True, False), ("categorical_crossentropy", False, True),
    ("sparse_categorical_crossentropy", False, False),
    ("sparse_categorical_crossentropy", True, False),
    ("sparse_categorical_crossentropy", False, True),
]


def _targets(name: str, rng: np.random.Generator, n: int) -> Array:
    if name == "sparse_categorical_crossentropy":
        return rng.integers(0, 3, n).astype(np.int64)
    if name == "categorical_crossentropy":
        return np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]
    if name == "binary_crossentropy":
        return rng.integers(0, 2, (n, 3)).astype(np.float32)
    return rng.standard_normal((n, 3)).astype(np.float32)


@pytest.mark.parametrize(("name", "from_logits", "logits_loss"), LOSS_CASES,
                         ids=[f"{n}-{a}-{b}" for n, a, b in LOSS_CASES])
def test_sample_weighted_loss_matches_per_sample_loss(name: str, from_logits: bool,
                                                      logits_loss: bool,
                                                      rng: np.random.Generator) -> None:
    loss = unidl.Loss(name, from_logits=from_logits)
    spec = unidl.Sequential([unidl.Input((5,)), unidl.Dense(4, activation="tanh"),
                             unidl.Dense(3, activation=(
                                 "linear" if from_logits or not name.endswith("entropy")
                                 else "sigmoid" if name == "binary_crossentropy"
                                 else "softmax"))])
    n = 22
    x = rng.standard_normal((n, 5)).astype(np.float32)
    y = _targets(name, rng, n)
    sw = rng.uniform(0, 3, n).astype(np.float32)
    sw[3] = 0.0
    plan = epoch_plan(n, 8, 0, 0)  # batches of 8, 8, 6
    # replayed batch by batch: each batch's weighted loss, measured before its step
    model = build(spec, seed=5)
    model.configure(setup(loss, unidl.SGD(lr=0.05), logits_loss=logits_loss))
    generic = build(spec, seed=5)
    generic.configure(setup(loss, unidl.SGD(lr=0.05), logits_loss=logits_loss))
    total = 0.0
    for idx in plan.batches():
        pred = generic.predict(x[idx], 64)
        total += float(np.sum(sw[idx] * per_sample_loss(loss, y[idx], pred,
                                                        logits=from_logits)))
        generic.train_epoch(Generic(x[idx], y[idx], sw[idx]),
                            EpochPlan(np.arange(len(idx)), 64), False)
    got = model.train_epoch(ArrayData(x, y, sw), plan, False).loss
    assert got == pytest.approx(total / n, rel=1e-5, abs=1e-7)
    for k, v in model.get_weights().items():
        np.testing.assert_allclose(v, generic.get_weights()[k], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fast", [True, False], ids=["arrays", "generic"])
def test_sample_weights_scale_the_gradient(fast: bool, rng: np.random.Generator) -> None:
    """Weighted MSE step == NumPy: dL/dp_i = w_i * 2 (p_i - y_i) / (batch * outputs)."""
    x = rng.standard_normal((12, 4)).astype(np.float32)
    y = rng.standard_normal((12, 3)).astype(np.float32)
    sw = rng.uniform(0, 2, 12).astype(np.float32)
    sw[:3] = 0.0
    model = build(_linear(), seed=2)
    model.configure(setup("mse", unidl.SGD(lr=0.3)))
    w = _f64(model.get_weights())
    plan = epoch_plan(12, 5, 0, 0)  # 5, 5, 2
    for idx in plan.batches():
        g = _linear_grads(w, x[idx].astype(np.float64), y[idx].astype(np.float64), sw[idx])
        w = {k: w[k] - 0.3 * g[k] for k in w}
    model.train_epoch(ArrayData(x, y, sw) if fast else Generic(x, y, sw), plan, False)
    for k, v in model.get_weights().items():
        np.testing.assert_allclose(v, w[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_unit_sample_weights_equal_no_weights(rng: np.random.Generator) -> None:
    x, y = _classification(rng, 50)
    models = []
    for sw in (None, np.ones(50, np.float32)):
        model = build(_dropout_mlp(), seed=1)
        model.configure(setup("sparse_categorical_crossentropy", unidl.Adam(),
                              logits_loss=True))
        for e in range(2):
            model.train_epoch(ArrayData(x, y, sw), epoch_plan(50, 16, 0, e), False)
        models.append(model)
    for k, v in models[0].get_weights().items():
        np.testing.assert_allclose(v, models[1].get_weights()[k], rtol=1e-6, atol=1e-7)


# -- gradient clipping -----------------------------------------------------------------
def _clip_np(g: dict[str, Array], clipnorm: float | None,
             clipvalue: float | None) -> dict[str, Array]:
    """The core's reference (torch's rule): clamp_ (clip_grad_value_), then
    clip_grad_norm_ (min(1, c / (norm + 1e-6)))."""
    return clip_gradients(unidl.SGD(clipnorm=clipnorm, clipvalue=clipvalue), g)


CLIPS = [(0.05, None), (None, 0.02), (0.05, 0.02), (100.0, None), (None, 100.0)]


@pytest.mark.parametrize(("clipnorm", "clipvalue"), CLIPS, ids=repr)
@pytest.mark.parametrize("fast", [True, False], ids=["arrays", "generic"])
def test_gradient_clipping_one_step_matches_numpy(clipnorm: float | None,
                                                  clipvalue: float | None, fast: bool,
                                                  rng: np.random.Generator) -> None:
    x = rng.standard_normal((10, 4)).astype(np.float32)
    y = (rng.standard_normal((10, 3)) * 3).astype(np.float32)
    model = build(_linear(), seed=4)
    model.configure(setup("mse", unidl.SGD(lr=0.1, clipnorm=clipnorm, clipvalue=clipvalue)))
    w = _f64(model.get_weights())
    g = _clip_np(_linear_grads(w, x.astype(np.float64), y.astype(np.float64)),
                 clipnorm, clipvalue)
    plan = EpochPlan(np.arange(10), 10)
    model.train_epoch(ArrayData(x, y) if fast else Generic(x, y), plan, False)
    for k, v in model.get_weights().items():
        np.testing.assert_allclose(v - w[k], -0.1 * g[k], rtol=1e-4, atol=1e-7, err_msg=k)


def test_clipnorm_uses_torch_formula_not_tf(rng: np.random.Generator) -> None:
    """With a global norm of ~1e-4, torch's +1e-6 changes the scale by ~1%: visible."""
    x = rng.standard_normal((10, 4)).astype(np.float32)
    zero = {"dense/kernel": np.zeros((4, 3), np.float32), "dense/bias": np.zeros(3, np.float32)}
    y = (rng.standard_normal((10, 3)) * 1e-4).astype(np.float32)
    g = _linear_grads(_f64(zero), x.astype(np.float64), y.astype(np.float64))
    norm = np.sqrt(sum(float(np.sum(v**2)) for v in g.values()))
    clipnorm = norm / 2
    model = build(_linear(), weights=zero)
    model.configure(setup("mse", unidl.SGD(lr=1.0, clipnorm=clipnorm)))
    model.train_epoch(ArrayData(x, y), EpochPlan(np.arange(10), 10), False)
    torch_scale = clipnorm / (norm + 1e-6)
    tf_scale = clipnorm / max(norm, clipnorm)
    got = model.get_weights()["dense/kernel"]
    np.testing.assert_allclose(got, -torch_scale * g["dense/kernel"], rtol=1e-4)
    assert not np.allclose(got, -tf_scale * g["dense/kernel"], rtol=1e-3, atol=0)


def test_clipping_applies_to_every_optimizer(rng: np.random.Generator) -> None:
    x = rng.standard_normal((10, 4)).astype(np.float32)
    y = (rng.standard_normal((10, 3)) * 5).astype(np.float32)
    opt = unidl.Adam(lr=0.01, clipnorm=0.1, clipvalue=0.05)
    model = build(_linear(), seed=4)
    model.configure(setup("mse", opt))
    w = _f64(model.get_weights())
    ref = ReferenceOptimizer(opt, w)  # clips as the spec says, then Adam's rule
    for _ in range(3):
        w = ref.step(w, _linear_grads(w, x.astype(np.float64), y.astype(np.float64)))
        model.train_epoch(ArrayData(x, y), EpochPlan(np.arange(10), 10), False)
    for k, v in model.get_weights().items():
        np.testing.assert_allclose(v, w[k], rtol=2e-5, atol=2e-6, err_msg=k)


def test_backend_declares_the_features() -> None:
    from unidl_keras import KerasBackend

    from unidl.capabilities import FEATURES

    assert set(FEATURES) <= KerasBackend().capabilities.features


@pytest.mark.parametrize("name", ["categorical_crossentropy", "binary_crossentropy", "mse"])
def test_sample_weights_with_multi_dimensional_outputs(name: str,
                                                       rng: np.random.Generator) -> None:
    """Per-sample loss = the mean over the sample's positions (elements)."""
    act = {"categorical_crossentropy": "softmax", "binary_crossentropy": "sigmoid"}
    spec = unidl.Sequential([unidl.Input((3, 2, 2)),
                             unidl.Conv2D(3, 1, activation=act.get(name, "linear"))])
    x = rng.standard_normal((9, 3, 2, 2)).astype(np.float32)
    if name == "categorical_crossentropy":
        y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, (9, 3, 2))]
    else:
        y = rng.uniform(0, 1, (9, 3, 2, 3)).astype(np.float32)
    sw = rng.uniform(0, 2, 9).astype(np.float32)
    loss = unidl.Loss(name)
    model = build(spec, seed=1)
    before = model.predict(x, 16)
    model.configure(setup(loss, unidl.SGD(), logits_loss=name != "mse"))
    got = model.train_epoch(ArrayData(x, y, sw), EpochPlan(np.arange(9), 9), False).loss
    want = float(np.sum(sw * per_sample_loss(loss, y, before))) / 9
    assert got == pytest.approx(want, rel=1e-5)
