"""A few steps of each optimizer against a NumPy implementation of the spec's formula."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from torch_refs import build, configure

import unidl
from unidl.data import ArrayData, epoch_plan

Update = Callable[[np.ndarray, np.ndarray, dict[str, np.ndarray], int], np.ndarray]


def sgd(o: unidl.SGD) -> Update:
    def step(p: np.ndarray, g: np.ndarray, s: dict[str, np.ndarray], t: int) -> np.ndarray:
        v = s["v"] = o.momentum * s.get("v", 0) + g
        return p - o.lr * ((g + o.momentum * v) if o.nesterov else v)
    return step


def adam(o: unidl.Adam) -> Update:
    def step(p: np.ndarray, g: np.ndarray, s: dict[str, np.ndarray], t: int) -> np.ndarray:
        if isinstance(o, unidl.AdamW):
            p = p - o.lr * o.weight_decay * p
        m = s["m"] = o.beta_1 * s.get("m", 0) + (1 - o.beta_1) * g
        v = s["v"] = o.beta_2 * s.get("v", 0) + (1 - o.beta_2) * g * g
        if o.amsgrad:
            v = s["vmax"] = np.maximum(s.get("vmax", 0), v)
        m_hat, v_hat = m / (1 - o.beta_1 ** t), v / (1 - o.beta_2 ** t)
        return p - o.lr * m_hat / (np.sqrt(v_hat) + o.epsilon)
    return step


def rmsprop(o: unidl.RMSprop) -> Update:
    def step(p: np.ndarray, g: np.ndarray, s: dict[str, np.ndarray], t: int) -> np.ndarray:
        v = s["v"] = o.rho * s.get("v", 0) + (1 - o.rho) * g * g
        if o.centered:
            mg = s["mg"] = o.rho * s.get("mg", 0) + (1 - o.rho) * g
            v = v - mg * mg
        if o.momentum:
            b = s["b"] = o.momentum * s.get("b", 0) + g / (np.sqrt(v) + o.epsilon)
            return p - o.lr * b
        return p - o.lr * g / (np.sqrt(v) + o.epsilon)
    return step


def adagrad(o: unidl.Adagrad) -> Update:
    def step(p: np.ndarray, g: np.ndarray, s: dict[str, np.ndarray], t: int) -> np.ndarray:
        acc = s["s"] = s.get("s", o.initial_accumulator_value) + g * g
        return p - o.lr * g / (np.sqrt(acc) + o.epsilon)
    return step


def adadelta(o: unidl.Adadelta) -> Update:
    def step(p: np.ndarray, g: np.ndarray, s: dict[str, np.ndarray], t: int) -> np.ndarray:
        v = s["v"] = o.rho * s.get("v", 0) + (1 - o.rho) * g * g
        d = np.sqrt(s.get("u", 0) + o.epsilon) / np.sqrt(v + o.epsilon) * g
        s["u"] = o.rho * s.get("u", 0) + (1 - o.rho) * d * d
        return p - o.lr * d
    return step


CASES: list[tuple[unidl.spec.Optimizer, Callable[..., Update]]] = [
    (unidl.SGD(lr=0.1), sgd),
    (unidl.SGD(lr=0.1, momentum=0.9), sgd),
    (unidl.SGD(lr=0.1, momentum=0.8, nesterov=True), sgd),
    (unidl.Adam(lr=0.05), adam),
    (unidl.Adam(lr=0.05, beta_1=0.8, beta_2=0.9, epsilon=1e-3, amsgrad=True), adam),
    (unidl.AdamW(lr=0.05, weight_decay=0.1), adam),
    (unidl.AdamW(lr=0.05, weight_decay=0.1, amsgrad=True), adam),
    (unidl.RMSprop(lr=0.01), rmsprop),
    (unidl.RMSprop(lr=0.01, rho=0.8, momentum=0.9, centered=True, epsilon=1e-4), rmsprop),
    (unidl.RMSprop(lr=0.01, momentum=0.5), rmsprop),
    (unidl.Adagrad(lr=0.1), adagrad),
    (unidl.Adagrad(lr=0.1, initial_accumulator_value=0.0, epsilon=1e-3), adagrad),
    (unidl.Adadelta(lr=1.0), adadelta),
    (unidl.Adadelta(lr=0.5, rho=0.9, epsilon=1e-4), adadelta),
]


@pytest.mark.parametrize(("opt", "ref"), CASES, ids=[repr(c[0]) for c in CASES])
def test_optimizer_steps_match_numpy(opt: unidl.spec.Optimizer, ref: Callable[..., Update],
                                     rng: np.random.Generator) -> None:
    spec = unidl.Sequential([unidl.Input((3,)), unidl.Dense(2)])
    x = rng.standard_normal((8, 3)).astype(np.float32)
    y = rng.standard_normal((8, 2)).astype(np.float32)
    model = build(spec)
    weights = {k: v.astype(np.float64) for k, v in model.get_weights().items()}
    configure(model, "mse", opt)
    update, states = ref(opt), {k: {} for k in weights}
    data = ArrayData(x, y)
    for t in range(1, 4):  # three full-batch steps: exercises every state buffer
        kernel, bias = weights["dense/kernel"], weights["dense/bias"]
        dout = 2 * (x @ kernel + bias - y) / y.size  # d mean((xK + b - y)^2)
        grads = {"dense/kernel": x.T @ dout, "dense/bias": dout.sum(0)}
        weights = {k: update(weights[k], grads[k], states[k], t) for k in weights}
        model.train_epoch(data, epoch_plan(8, 8, 0, t, shuffle=False), False)
        got = model.get_weights()
        for k in weights:
            np.testing.assert_allclose(got[k], weights[k], rtol=1e-5, atol=1e-6,
                                       err_msg=f"{opt!r} step {t} {k}")


def test_configure_resets_optimizer_state(rng: np.random.Generator) -> None:
    spec = unidl.Sequential([unidl.Input((3,)), unidl.Dense(2)])
    x = rng.standard_normal((8, 3)).astype(np.float32)
    y = rng.standard_normal((8, 2)).astype(np.float32)
    a, b = build(spec), build(spec)
    configure(a, "mse", unidl.Adam(lr=0.1))
    a.train_epoch(ArrayData(x, y), epoch_plan(8, 4, 0, 0), False)
    b.set_weights(a.get_weights())
    configure(a, "mse", unidl.Adam(lr=0.1))
    configure(b, "mse", unidl.Adam(lr=0.1))
    for m in (a, b):
        m.train_epoch(ArrayData(x, y), epoch_plan(8, 4, 0, 1), False)
    for k, v in a.get_weights().items():
        np.testing.assert_array_equal(v, b.get_weights()[k])
