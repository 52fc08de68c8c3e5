"""Finite-difference check of the hand-written backward pass, in float64.

For each case, the analytic gradient of the training loss (``NumpyModel.loss_and_grads``)
must equal the central difference ``(L(w + h) - L(w - h)) / 2h`` of that same loss, for
every parameter entry. Together the cases cover every activation (inside the network and
as the output), every loss, ``from_logits``, the fused softmax/sigmoid head
(``logits_loss``), renormalised probabilities and clipped (saturated) probabilities.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from unidl_numpy import NumpyModel

import unidl
from unidl.backend import TrainingSetup
from unidl.spec import ACTIVATIONS

Array = npt.NDArray[Any]


def _mlp(hidden: str, out: int, final: str | None = None) -> unidl.Sequential:
    # A rank-3 input exercises Dense on the last axis and Flatten's backward.
    return unidl.Sequential([unidl.Input((2, 3)), unidl.Dense(4, activation=hidden),
                             unidl.Activation(hidden), unidl.Flatten(),
                             unidl.Dense(out, activation=final)])


def _targets(loss: str, shape: tuple[int, ...], rng: np.random.Generator) -> Array:
    n, k = shape
    if loss == "sparse_categorical_crossentropy":
        return rng.integers(0, k, n)
    if loss == "categorical_crossentropy":
        return np.eye(k)[rng.integers(0, k, n)]
    if loss == "binary_crossentropy":
        return rng.integers(0, 2, shape).astype(np.float64)
    return rng.normal(size=shape)


# id -> (spec, loss, logits_loss, output layer bias or None for random)
CASES: dict[str, tuple[unidl.Sequential, unidl.Loss, bool, tuple[float, ...] | None]] = {
    **{f"activation_{a}": (_mlp(a, 3), unidl.Loss("mse"), False, None) for a in ACTIVATIONS},
    "mae": (_mlp("tanh", 3), unidl.Loss("mae"), False, None),
    "huber": (_mlp("tanh", 3), unidl.Loss("huber", delta=0.3), False, None),
    **{f"{short}_{how}": (_mlp("tanh", 3, final), unidl.Loss(name), fused, None)
       for short, name, final in [("bce", "binary_crossentropy", "sigmoid"),
                                  ("cce", "categorical_crossentropy", "softmax"),
                                  ("sparse", "sparse_categorical_crossentropy", "softmax")]
       for how, fused in [("probabilities", False), ("fused_head", True)]},
    **{f"{short}_from_logits": (_mlp("tanh", 3), unidl.Loss(name, from_logits=True), False, None)
       for short, name in [("bce", "binary_crossentropy"), ("cce", "categorical_crossentropy"),
                           ("sparse", "sparse_categorical_crossentropy")]},
    # probabilities that do not sum to 1: categorical cross-entropy renormalises them
    "cce_renormalised": (_mlp("tanh", 3, "sigmoid"), unidl.Loss("categorical_crossentropy"),
                         False, None),
    # logits near +-25: p is clipped (sigmoid's own slope, ~1e-11, is still nonzero there),
    # so the loss is flat and the clipped probabilities must pass back no gradient
    "bce_clipped": (unidl.Sequential([unidl.Input((2, 3)), unidl.Flatten(),
                                      unidl.Dense(3, activation="sigmoid")]),
                    unidl.Loss("binary_crossentropy"), False, (25.0, -25.0, 0.0)),
}


@pytest.mark.parametrize("case", CASES)
def test_backward_matches_finite_differences(case: str) -> None:
    spec, loss, fused, output_bias = CASES[case]
    rng = np.random.default_rng(0)
    weights = {k: 0.5 * rng.normal(size=p.shape) for k, p in spec.params.items()}
    if output_bias is not None:
        weights[f"{spec.layers[-1].layer_name}/bias"] = np.array(output_bias)
    x = rng.normal(size=(5, 2, 3))
    y = _targets(loss.name, (5, 3), rng)
    model = NumpyModel(spec, weights, dtype=np.float64)
    model.configure(TrainingSetup(loss, unidl.SGD(), logits_loss=fused, seed=0))

    _, grads, _ = model.loss_and_grads(x, y)
    h = 1e-6
    for name, param in model.params.items():
        numeric = np.zeros_like(param)
        for i in np.ndindex(param.shape):
            saved = param[i]
            param[i] = saved + h
            up = model.loss_and_grads(x, y)[0]
            param[i] = saved - h
            down = model.loss_and_grads(x, y)[0]
            param[i] = saved
            numeric[i] = (up - down) / (2 * h)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-5, atol=1e-8,
                                   err_msg=f"{case}: gradient of {name}")
    if case == "bce_clipped":  # the case must really reach the clipped region
        out = model.forward(x, model.steps)[0]
        assert (out > 1 - 1e-7).any() or (out < 1e-7).any()
