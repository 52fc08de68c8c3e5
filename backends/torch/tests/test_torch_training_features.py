"""Per-step learning rates, chunked epochs, resuming, sample weights, gradient clipping and
canonical optimizer state, against NumPy computations of the spec's definitions."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from torch_refs import build, configure

import unidl
from unidl.data import ArrayData, EpochPlan, MappedData, epoch_plan
from unidl.losses import per_sample_loss
from unidl.optimizer_state import state_shapes
from unidl.testing.optimizers import ReferenceOptimizer

Array = np.ndarray


def _linear(rng: np.random.Generator, n: int = 24, d: int = 3, out: int = 2
            ) -> tuple[unidl.Sequential, dict[str, Array], Array, Array]:
    spec = unidl.Sequential([unidl.Input((d,)), unidl.Dense(out)])
    w = {"dense/kernel": rng.standard_normal((d, out)).astype(np.float32),
         "dense/bias": rng.standard_normal(out).astype(np.float32)}
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = rng.standard_normal((n, out)).astype(np.float32)
    return spec, w, x, y


def _mse_grads(w: dict[str, Array], x: Array, y: Array, sw: Array | None = None
               ) -> dict[str, Array]:
    """Gradients of sum_i w_i * mean_k (p_ik - y_ik)^2 / batch for p = x K + b (float64)."""
    k, b = w["dense/kernel"].astype(np.float64), w["dense/bias"].astype(np.float64)
    x64 = x.astype(np.float64)
    e = x64 @ k + b - y
    s = np.ones(len(x)) if sw is None else sw.astype(np.float64)
    de = 2 * e * s[:, None] / e.size  # d loss / d p
    return {"dense/kernel": x64.T @ de, "dense/bias": de.sum(axis=0)}


def _assert_same_weights(a: Any, b: Any, atol: float = 0.0) -> None:
    wb = b.get_weights()
    for k, v in a.get_weights().items():
        if atol:
            np.testing.assert_allclose(v, wb[k], rtol=0, atol=atol, err_msg=k)
        else:
            np.testing.assert_array_equal(v, wb[k], err_msg=k)


# -- per-step learning rates --------------------------------------------------------------

@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_per_step_learning_rates_follow_numpy_sgd(momentum: float,
                                                  rng: np.random.Generator) -> None:
    spec, w, x, y = _linear(rng)
    model = build(spec, weights=w)
    configure(model, "mse", unidl.SGD(lr=0.05, momentum=momentum))
    plan = replace(epoch_plan(24, 5, 3, 0), learning_rates=np.array([0.1, 0.02, 0.3, 0.05, 0.2]))
    model.train_epoch(ArrayData(x, y), plan, False)
    p = {k: v.astype(np.float64) for k, v in w.items()}
    ref = ReferenceOptimizer(unidl.SGD(lr=0.05, momentum=momentum), p)
    for lr, idx in zip(plan.learning_rates, plan.batches(), strict=True):  # type: ignore[arg-type]
        p = ref.step(p, _mse_grads(p, x[idx], y[idx]), lr)
    got = model.get_weights()
    for k in p:
        np.testing.assert_allclose(got[k], p[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_no_learning_rates_means_the_spec_lr_again(rng: np.random.Generator) -> None:
    """A plan without rates after a scheduled one steps with the optimizer's own lr."""
    spec, w, x, y = _linear(rng)
    scheduled, plain = build(spec, weights=w), build(spec, weights=w)
    for model in (scheduled, plain):
        configure(model, "mse", unidl.Adam(lr=0.01))
    data, plan = ArrayData(x, y), epoch_plan(24, 8, 0, 0)
    scheduled.train_epoch(data, replace(plan, learning_rates=np.full(3, 0.01)), False)
    plain.train_epoch(data, plan, False)
    _assert_same_weights(scheduled, plain)  # a constant schedule equal to lr changes nothing
    scheduled.train_epoch(data, replace(plan, learning_rates=np.full(3, 0.5)), False)
    before = scheduled.get_weights()
    scheduled.train_epoch(data, plan, False)
    step = {k: np.abs(v - before[k]).max() for k, v in scheduled.get_weights().items()}
    assert max(step.values()) < 0.01 * 3 * 1.01  # Adam moves at most ~lr per step


# -- chunked epochs and resuming ----------------------------------------------------------

def _dropout_spec() -> unidl.Sequential:
    return unidl.Sequential([
        unidl.Input((6, 6, 1)), unidl.Conv2D(3, 3, padding="same", activation="relu"),
        unidl.BatchNorm(), unidl.Flatten(), unidl.Dropout(0.4),
        unidl.Dense(8, activation="relu"), unidl.Dropout(0.3),
        unidl.Dense(3, activation="softmax"),
    ])


def _dropout_data(rng: np.random.Generator, n: int = 37) -> ArrayData:
    x = rng.standard_normal((n, 6, 6, 1)).astype(np.float32)
    return ArrayData(x, rng.integers(0, 3, n).astype(np.int64))


def _chunks(plan: EpochPlan, cuts: list[int]) -> list[EpochPlan]:
    """``plan`` split before the batches in ``cuts`` (its learning rates follow)."""
    bounds = [0, *cuts, len(plan)]
    bs = plan.batch_size
    return [EpochPlan(plan.order[a * bs:b * bs], bs, plan.epoch, plan.first_batch + a,
                      None if plan.learning_rates is None else plan.learning_rates[a:b])
            for a, b in itertools.pairwise(bounds)]


def _sce(model: Any, optimizer: unidl.Optimizer, seed: int = 11) -> None:
    configure(model, "sparse_categorical_crossentropy", optimizer, logits_loss=True, seed=seed)


@pytest.mark.parametrize("fast", [True, False])
def test_an_epoch_in_chunks_equals_the_whole_epoch(fast: bool,
                                                   rng: np.random.Generator) -> None:
    data = _dropout_data(rng)
    source: Any = data if fast else MappedData(_Items(data), lambda xs, ys: (xs, ys))
    whole, chunked = build(_dropout_spec()), build(_dropout_spec())
    for model in (whole, chunked):
        _sce(model, unidl.Adam(lr=0.01))
    for epoch in range(2):
        plan = replace(epoch_plan(37, 4, 5, epoch),
                       learning_rates=np.linspace(0.02, 0.005, 10))
        full = whole.train_epoch(source, plan, True)
        parts = [chunked.train_epoch(source, c, True) for c in _chunks(plan, [1, 4, 9])]
        sizes = [len(c.order) for c in _chunks(plan, [1, 4, 9])]
        loss = sum(r.loss * s for r, s in zip(parts, sizes, strict=True)) / 37
        assert loss == pytest.approx(full.loss, rel=1e-6)
        outputs = np.concatenate([r.outputs for r in parts])  # type: ignore[misc]
        np.testing.assert_array_equal(outputs, full.outputs)  # type: ignore[arg-type]
    _assert_same_weights(whole, chunked)
    _assert_same_weights(whole, chunked)


class _Items:
    def __init__(self, data: ArrayData) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        assert self.data.y is not None
        return self.data.x[i], self.data.y[i]


RESUMABLE = [
    unidl.SGD(lr=0.05, momentum=0.9),
    unidl.SGD(lr=0.05, momentum=0.8, nesterov=True),
    unidl.SGD(lr=0.05),
    unidl.Adam(lr=0.01),
    unidl.AdamW(lr=0.01, amsgrad=True, weight_decay=0.05),
    unidl.RMSprop(lr=0.005, centered=True, momentum=0.5),
    unidl.RMSprop(lr=0.005),
    unidl.Adagrad(lr=0.05),
    unidl.Adadelta(lr=1.0),
]


@pytest.mark.parametrize("optimizer", RESUMABLE, ids=lambda o: repr(o)[:60])
def test_resume_at_an_epoch_boundary_reproduces_the_run(optimizer: unidl.Optimizer,
                                                        rng: np.random.Generator) -> None:
    data = _dropout_data(rng)
    plans = [epoch_plan(37, 8, 2, e) for e in range(2)]
    straight = build(_dropout_spec())
    _sce(straight, optimizer)
    for plan in plans:
        straight.train_epoch(data, plan, False)

    first = build(_dropout_spec())
    _sce(first, optimizer)
    first.train_epoch(data, plans[0], False)
    weights, state = first.get_weights(), first.get_optimizer_state()
    assert state["step"] == 5

    resumed = build(_dropout_spec(), seed=99)  # other initial weights, fresh optimizer
    _sce(resumed, optimizer)
    resumed.set_weights(weights)
    resumed.set_optimizer_state(state)
    resumed.train_epoch(data, plans[1], False)
    _assert_same_weights(straight, resumed, atol=1e-6)
    after = resumed.get_optimizer_state()
    for k, v in straight.get_optimizer_state().items():
        np.testing.assert_allclose(after[k], v, rtol=0, atol=1e-6, err_msg=k)


def test_restoring_the_initial_state_changes_nothing(rng: np.random.Generator) -> None:
    """Setting the fresh state (zeros, step 0) before the first step, e.g. on fused Adam
    whose state torch otherwise creates lazily, is the same as not setting it."""
    data = _dropout_data(rng)
    for optimizer in RESUMABLE:
        a, b = build(_dropout_spec()), build(_dropout_spec())
        _sce(a, optimizer)
        _sce(b, optimizer)
        b.set_optimizer_state(b.get_optimizer_state())
        for model in (a, b):
            model.train_epoch(data, epoch_plan(37, 8, 2, 0), False)
        _assert_same_weights(a, b)


# -- sample weights -----------------------------------------------------------------------

def _head_case(loss: str, rng: np.random.Generator, n: int
               ) -> tuple[unidl.Sequential, Array, bool]:
    if loss == "sparse_categorical_crossentropy":
        return (unidl.Sequential([unidl.Input((4,)), unidl.Dense(3, activation="softmax")]),
                rng.integers(0, 3, n).astype(np.int64), True)
    if loss == "categorical_crossentropy":
        y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]
        return (unidl.Sequential([unidl.Input((4,)), unidl.Dense(3, activation="softmax")]),
                y, True)
    if loss == "binary_crossentropy":
        return (unidl.Sequential([unidl.Input((4,)), unidl.Dense(2, activation="sigmoid")]),
                rng.integers(0, 2, (n, 2)).astype(np.float32), False)
    return (unidl.Sequential([unidl.Input((4,)), unidl.Dense(2)]),
            rng.standard_normal((n, 2)).astype(np.float32), False)


@pytest.mark.parametrize("loss", ["mse", "mae", "huber", "binary_crossentropy",
                                  "categorical_crossentropy",
                                  "sparse_categorical_crossentropy"])
@pytest.mark.parametrize("fast", [True, False])
def test_sample_weighted_loss_is_keras_rule(loss: str, fast: bool,
                                            rng: np.random.Generator) -> None:
    n = 10
    spec, y, logits_loss = _head_case(loss, rng, n)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    sw = rng.uniform(0, 3, n).astype(np.float32)
    sw[2] = 0.0
    model = build(spec)
    before = model.predict(x, n)
    configure(model, loss, unidl.SGD(lr=1e-3), logits_loss=logits_loss)
    plan = epoch_plan(n, n, 0, 0)  # one batch: its loss is measured at the initial weights
    data: Any = ArrayData(x, y, sw)
    if not fast:
        data = MappedData(_Items(ArrayData(x, y)), lambda xs, ys: (xs, ys), sw)
    got = model.train_epoch(data, plan, False).loss
    want = float((sw * per_sample_loss(unidl.Loss(loss), y, before)).sum() / n)
    assert got == pytest.approx(want, rel=1e-5, abs=1e-7)


def test_sample_weights_scale_each_sample_gradient(rng: np.random.Generator) -> None:
    spec, w, x, y = _linear(rng, n=12)
    sw = rng.uniform(0, 2, 12).astype(np.float32)
    model = build(spec, weights=w)
    configure(model, "mse", unidl.SGD(lr=0.1))
    plan = epoch_plan(12, 5, 1, 0)  # batches of 5, 5, 2: each divided by its own size
    result = model.train_epoch(ArrayData(x, y, sw), plan, False)
    p = {k: v.astype(np.float64) for k, v in w.items()}
    total = 0.0
    for idx in plan.batches():
        e = x[idx] @ p["dense/kernel"] + p["dense/bias"] - y[idx]
        total += float((sw[idx] * (e ** 2).mean(axis=1)).sum())
        g = _mse_grads(p, x[idx], y[idx], sw[idx])
        p = {k: p[k] - 0.1 * g[k] for k in p}
    got = model.get_weights()
    for k in p:
        np.testing.assert_allclose(got[k], p[k], rtol=1e-5, atol=1e-6, err_msg=k)
    assert result.loss == pytest.approx(total / 12, rel=1e-5)


def test_unit_sample_weights_equal_no_weights(rng: np.random.Generator) -> None:
    data = _dropout_data(rng)
    a, b = build(_dropout_spec()), build(_dropout_spec())
    for m in (a, b):
        _sce(m, unidl.Adam(lr=0.01))
    weighted = ArrayData(data.x, data.y, np.ones(len(data), np.float32))
    ra = a.train_epoch(data, epoch_plan(37, 8, 0, 0), False)
    rb = b.train_epoch(weighted, epoch_plan(37, 8, 0, 0), False)
    assert ra.loss == pytest.approx(rb.loss, rel=1e-6)
    _assert_same_weights(a, b, atol=1e-6)


# -- gradient clipping --------------------------------------------------------------------


def test_clipped_adam_resumes_exactly(rng: np.random.Generator) -> None:
    test_resume_at_an_epoch_boundary_reproduces_the_run(
        unidl.Adam(lr=0.01, clipnorm=0.1, clipvalue=0.02), rng)


# -- canonical optimizer state ------------------------------------------------------------

def _state_spec() -> unidl.Sequential:
    return unidl.Sequential([
        unidl.Input((5, 5, 2)), unidl.Conv2D(3, (3, 2), activation="relu"), unidl.BatchNorm(),
        unidl.Flatten(), unidl.Dense(4, use_bias=False), unidl.Dense(2),
    ])


@pytest.mark.parametrize("optimizer", RESUMABLE, ids=lambda o: repr(o)[:60])
def test_state_names_shapes_and_round_trip(optimizer: unidl.Optimizer,
                                           rng: np.random.Generator) -> None:
    spec = _state_spec()
    model = build(spec)
    assert model.get_optimizer_state() == {}
    configure(model, "mse", optimizer)
    shapes = state_shapes(spec, optimizer)
    fresh = model.get_optimizer_state()
    assert list(fresh) == list(shapes)
    init = optimizer.initial_accumulator_value if isinstance(optimizer, unidl.Adagrad) else 0
    for k, shape in shapes.items():
        assert fresh[k].shape == shape, k
        if k == "step":
            assert fresh[k].dtype == np.float64 and fresh[k] == 0
        else:
            assert fresh[k].dtype == np.float32
            np.testing.assert_array_equal(fresh[k], np.full(shape, init, np.float32))

    x = rng.standard_normal((10, 5, 5, 2)).astype(np.float32)
    y = rng.standard_normal((10, 2)).astype(np.float32)
    model.train_epoch(ArrayData(x, y), epoch_plan(10, 4, 0, 0), False)
    state = model.get_optimizer_state()
    assert list(state) == list(shapes) and state["step"] == 3
    assert all(state[k].shape == s for k, s in shapes.items())

    other = build(spec)
    configure(other, "mse", optimizer)
    other.set_optimizer_state(state)
    again = other.get_optimizer_state()
    for k, v in state.items():
        np.testing.assert_array_equal(again[k], v, err_msg=k)


def test_conv_state_layout_round_trips_through_torch(rng: np.random.Generator) -> None:
    spec = _state_spec()
    model = build(spec)
    configure(model, "mse", unidl.SGD(momentum=0.9))
    state = {k: rng.standard_normal(s).astype(np.float32) if s else np.float64(7)
             for k, s in state_shapes(spec, unidl.SGD(momentum=0.9)).items()}
    model.set_optimizer_state(state)
    torch_buf = model._optimizer.state[model.net.layer_modules["conv2d"].weight]  # type: ignore[union-attr]
    np.testing.assert_array_equal(torch_buf["momentum_buffer"].cpu().numpy(),
                                  state["conv2d/kernel/momentum"].transpose(3, 2, 0, 1))
    got = model.get_optimizer_state()
    assert got["step"] == 7
    for k, v in state.items():
        np.testing.assert_array_equal(got[k], v, err_msg=k)


def test_capabilities_declare_the_training_features() -> None:
    from unidl_torch import TorchBackend

    from unidl.capabilities import FEATURES

    assert set(FEATURES) <= TorchBackend().capabilities.features
