"""Canonical optimizer state: slot names, shapes and meanings, handing state over from
another implementation, and resuming a run (moved out of test_training_features)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from keras_helpers import build, setup
from test_training_features import (
    _assert_weights_equal,
    _classification,
    _cnn,
    _dropout_mlp,
    _f64,
    _linear,
    _linear_grads,
    run_chunked,
)

import unidl
from unidl.data import ArrayData, EpochPlan, epoch_plan
from unidl.optimizer_state import STEP, optimizer_slots, state_shapes
from unidl.testing.optimizers import ReferenceOptimizer

Array = Any


# -- optimizer state -------------------------------------------------------------------
OPTIMIZERS = [
    unidl.SGD(lr=0.05), unidl.SGD(lr=0.05, momentum=0.9),
    unidl.SGD(lr=0.05, momentum=0.9, nesterov=True),
    unidl.Adam(lr=0.01), unidl.Adam(lr=0.01, amsgrad=True),
    unidl.AdamW(lr=0.01, amsgrad=True, weight_decay=0.05),
    unidl.RMSprop(lr=0.01), unidl.RMSprop(lr=0.01, centered=True, momentum=0.5),
    unidl.Adagrad(lr=0.1), unidl.Adadelta(lr=1.0),
]


@pytest.mark.parametrize("opt", OPTIMIZERS, ids=repr)
def test_state_names_and_shapes_are_canonical(opt: unidl.spec.Optimizer) -> None:
    spec = _cnn()
    model = build(spec)
    assert model.get_optimizer_state() == {}
    model.configure(setup("sparse_categorical_crossentropy", opt, logits_loss=True))
    state = model.get_optimizer_state()
    want = state_shapes(spec, opt)
    assert list(state) == list(want)
    for k, shape in want.items():
        assert state[k].shape == shape, k
        assert state[k].dtype == (np.float64 if k == STEP else np.float32), k
    assert not any("moving" in k for k in state)  # BatchNorm statistics are not trainable
    assert state[STEP] == 0.0
    init = opt.initial_accumulator_value if isinstance(opt, unidl.Adagrad) else 0.0
    for k, v in state.items():
        if k != STEP:
            np.testing.assert_array_equal(v, np.full(v.shape, init, np.float32), err_msg=k)


@pytest.mark.parametrize("opt", OPTIMIZERS, ids=repr)
def test_state_slots_mean_the_documented_buffers(opt: unidl.spec.Optimizer,
                                                 rng: np.random.Generator) -> None:
    """After three steps every slot equals the NumPy formula's buffer, and step is 3."""
    x = rng.standard_normal((20, 4)).astype(np.float32)
    y = rng.standard_normal((20, 3)).astype(np.float32)
    model = build(_linear(), seed=3)
    model.configure(setup("mse", opt))
    w = _f64(model.get_weights())
    ref = ReferenceOptimizer(opt, w)
    for _ in range(3):
        w = ref.step(w, _linear_grads(w, x.astype(np.float64), y.astype(np.float64)))
        model.train_epoch(ArrayData(x, y), EpochPlan(np.arange(20), 20), False)
    state = model.get_optimizer_state()
    assert float(state[STEP]) == 3.0
    for name in w:
        for slot in optimizer_slots(opt):
            want = ref.state[name][slot]
            np.testing.assert_allclose(state[f"{name}/{slot}"], want, rtol=2e-5, atol=1e-7,
                                       err_msg=f"{name}/{slot}")


@pytest.mark.parametrize("opt", OPTIMIZERS, ids=repr)
def test_set_state_continues_a_numpy_run(opt: unidl.spec.Optimizer,
                                         rng: np.random.Generator) -> None:
    """State written by another implementation (NumPy) continues exactly on this one."""
    x = rng.standard_normal((20, 4)).astype(np.float32)
    y = rng.standard_normal((20, 3)).astype(np.float32)
    w = _f64(build(_linear(), seed=3).get_weights())
    ref = ReferenceOptimizer(opt, w)
    for _ in range(5):  # five NumPy steps, then hand over
        w = ref.step(w, _linear_grads(w, x.astype(np.float64), y.astype(np.float64)))
    model = build(_linear(), weights={k: v.astype(np.float32) for k, v in w.items()})
    model.configure(setup("mse", opt))
    canonical: dict[str, Array] = {STEP: np.array(5.0)}
    for name in w:
        for slot in optimizer_slots(opt):
            canonical[f"{name}/{slot}"] = ref.state[name][slot].astype(np.float32)
    model.set_optimizer_state(canonical)
    w = {k: v.astype(np.float32).astype(np.float64) for k, v in w.items()}
    ref.state = {k: {s: v.astype(np.float32).astype(np.float64) for s, v in d.items()}
                 for k, d in ref.state.items()}
    w = ref.step(w, _linear_grads(w, x.astype(np.float64), y.astype(np.float64)))
    model.train_epoch(ArrayData(x, y), EpochPlan(np.arange(20), 20), False)
    for k, v in model.get_weights().items():
        np.testing.assert_allclose(v, w[k], rtol=2e-5, atol=2e-6, err_msg=k)
    assert float(model.get_optimizer_state()[STEP]) == 6.0


RESUME = [
    unidl.SGD(lr=0.05, momentum=0.9), unidl.Adam(lr=0.01),
    unidl.AdamW(lr=0.01, amsgrad=True), unidl.RMSprop(lr=0.01, centered=True, momentum=0.5),
    unidl.Adagrad(lr=0.05), unidl.Adadelta(lr=1.0),
]


def _fit(model: Any, data: ArrayData, epochs: range, seed: int, chunk: int | None) -> None:
    n = len(data)
    for epoch in epochs:
        p = epoch_plan(n, 16, seed, epoch)
        plan = EpochPlan(p.order, 16, epoch, 0, np.full(len(p), 0.5 ** epoch) *
                         np.linspace(1.0, 0.5, len(p)))
        if chunk is None:
            model.train_epoch(data, plan, False)
        else:
            run_chunked(model, data, plan, chunk)


@pytest.mark.parametrize("dropout", [False, True], ids=["plain", "dropout"])
@pytest.mark.parametrize("opt", RESUME, ids=repr)
def test_resume_equals_uninterrupted(opt: unidl.spec.Optimizer, dropout: bool,
                                     rng: np.random.Generator) -> None:
    x, y = _classification(rng, 70)
    data = ArrayData(x, y)
    spec = _dropout_mlp() if dropout else unidl.Sequential(
        [unidl.Input((6,)), unidl.Dense(8, activation="relu"),
         unidl.Dense(3, activation="softmax")])
    train = setup("sparse_categorical_crossentropy", opt, logits_loss=True, seed=11)

    straight = build(spec, seed=8)
    straight.configure(train)
    _fit(straight, data, range(4), 11, None)

    first = build(spec, seed=8)
    first.configure(train)
    _fit(first, data, range(2), 11, 2)  # the first half even ran in chunks
    weights, state = first.get_weights(), first.get_optimizer_state()
    assert float(state[STEP]) == 2 * 5
    resumed = build(spec, weights=weights)  # a fresh model, as after loading a checkpoint
    resumed.configure(train)
    resumed.set_optimizer_state(state)
    _fit(resumed, ArrayData(x, y), range(2, 4), 11, None)

    _assert_weights_equal(straight, resumed)
    s1, s2 = straight.get_optimizer_state(), resumed.get_optimizer_state()
    for k, v in s1.items():
        np.testing.assert_array_equal(v, s2[k], err_msg=k)
