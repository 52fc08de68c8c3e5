"""Each optimizer against a NumPy implementation of its documented update rule."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from keras_helpers import build, one_batch_epoch, setup

import unidl

Array = Any


def _np_update(opt: unidl.spec.Optimizer, p: Array, g: Array, s: dict[str, Array],
               t: int) -> Array:
    """The formulas of unidl.spec.training, literally, in float64."""
    lr = opt.lr
    if isinstance(opt, unidl.SGD):
        if opt.momentum == 0:
            return p - lr * g
        s["v"] = opt.momentum * s.get("v", 0 * p) + g
        step = g + opt.momentum * s["v"] if opt.nesterov else s["v"]
        return p - lr * step
    if isinstance(opt, unidl.Adam):  # AdamW included
        if isinstance(opt, unidl.AdamW):
            p = p - lr * opt.weight_decay * p
        s["m"] = opt.beta_1 * s.get("m", 0 * p) + (1 - opt.beta_1) * g
        s["v"] = opt.beta_2 * s.get("v", 0 * p) + (1 - opt.beta_2) * g**2
        v = s["v"]
        if opt.amsgrad:
            s["vmax"] = v = np.maximum(s.get("vmax", 0 * p), v)
        m_hat = s["m"] / (1 - opt.beta_1**t)
        v_hat = v / (1 - opt.beta_2**t)
        return p - lr * m_hat / (np.sqrt(v_hat) + opt.epsilon)
    if isinstance(opt, unidl.RMSprop):
        s["v"] = opt.rho * s.get("v", 0 * p) + (1 - opt.rho) * g**2
        inner = s["v"]
        if opt.centered:
            s["mg"] = opt.rho * s.get("mg", 0 * p) + (1 - opt.rho) * g
            inner = inner - s["mg"] ** 2
        denom = np.sqrt(inner) + opt.epsilon
        if opt.momentum > 0:
            s["b"] = opt.momentum * s.get("b", 0 * p) + g / denom
            return p - lr * s["b"]
        return p - lr * g / denom
    if isinstance(opt, unidl.Adagrad):
        s["s"] = s.get("s", 0 * p + opt.initial_accumulator_value) + g**2
        return p - lr * g / (np.sqrt(s["s"]) + opt.epsilon)
    if isinstance(opt, unidl.Adadelta):
        s["v"] = opt.rho * s.get("v", 0 * p) + (1 - opt.rho) * g**2
        d = np.sqrt(s.get("u", 0 * p) + opt.epsilon) / np.sqrt(s["v"] + opt.epsilon) * g
        s["u"] = opt.rho * s.get("u", 0 * p) + (1 - opt.rho) * d**2
        return p - lr * d
    raise AssertionError(opt)


OPTIMIZERS = [
    unidl.SGD(lr=0.1), unidl.SGD(lr=0.1, momentum=0.9),
    unidl.SGD(lr=0.1, momentum=0.9, nesterov=True),
    unidl.Adam(lr=0.01), unidl.Adam(lr=0.01, epsilon=1e-3),  # big eps: placement shows
    unidl.Adam(lr=0.01, amsgrad=True), unidl.AdamW(lr=0.01, weight_decay=0.1),
    unidl.RMSprop(lr=0.01), unidl.RMSprop(lr=0.01, epsilon=1e-2),
    unidl.RMSprop(lr=0.01, centered=True, momentum=0.5),
    unidl.Adagrad(lr=0.1), unidl.Adadelta(lr=1.0), unidl.Adadelta(lr=1.0, epsilon=1e-2),
]


@pytest.mark.parametrize("opt", OPTIMIZERS, ids=repr)
def test_optimizer_steps_match_documented_formula(opt: unidl.spec.Optimizer,
                                                  rng: np.random.Generator) -> None:
    spec = unidl.Sequential([unidl.Input((4,)), unidl.Dense(3)])
    model = build(spec, seed=3)
    model.set_weights({**model.get_weights(),
                       "dense/bias": rng.standard_normal(3).astype(np.float32)})
    x = rng.standard_normal((20, 4)).astype(np.float32)
    y = rng.standard_normal((20, 3)).astype(np.float32)
    model.configure(setup("mse", opt))
    w = {k: v.astype(np.float64) for k, v in model.get_weights().items()}
    state: dict[str, dict[str, Array]] = {k: {} for k in w}
    for t in range(1, 4):  # three steps: exercises the state and the bias corrections
        p = x @ w["dense/kernel"] + w["dense/bias"]
        dp = 2 * (p - y) / p.size
        grads = {"dense/kernel": x.T @ dp, "dense/bias": dp.sum(0)}
        w = {k: _np_update(opt, w[k], grads[k], state[k], t) for k in w}
        one_batch_epoch(model, x, y)
        got = model.get_weights()
        for k in w:
            np.testing.assert_allclose(got[k], w[k], rtol=2e-5, atol=2e-6,
                                       err_msg=f"{k} after step {t}")


def test_learning_rate_can_change_without_losing_state(rng: np.random.Generator) -> None:
    spec = unidl.Sequential([unidl.Input((4,)), unidl.Dense(1)])
    model = build(spec)
    x = rng.standard_normal((8, 4)).astype(np.float32)
    y = rng.standard_normal((8, 1)).astype(np.float32)
    model.configure(setup("mse", unidl.SGD(lr=0.1)))
    model.set_learning_rate(0.0)
    before = model.get_weights()
    one_batch_epoch(model, x, y)
    np.testing.assert_array_equal(model.get_weights()["dense/kernel"], before["dense/kernel"])
