"""Contract rules of optimizers: every documented update rule (amsgrad, nesterov, weight
decay included), gradient clipping in both modes and together, ``configure`` giving a
fresh state, and the canonical optimizer state. Replayed step by step with
``unidl.testing.optimizers``, so a failure names the optimizer, the step and the parameter."""

from __future__ import annotations

import numpy as np
import pytest

import unidl
from unidl.optimizer_state import STEP, state_shapes
from unidl.testing.expect import expect, expect_close
from unidl.testing.optimizers import ReferenceOptimizer

from ._replay import linear_data, linear_spec, replay_epoch
from ._support import require

CASES: list[unidl.spec.Optimizer] = [
    unidl.SGD(lr=0.1),
    unidl.SGD(lr=0.1, momentum=0.9),
    unidl.SGD(lr=0.1, momentum=0.8, nesterov=True),
    unidl.Adam(lr=0.05),
    unidl.Adam(lr=0.01, epsilon=1e-3),  # a large epsilon: its placement shows
    unidl.Adam(lr=0.05, beta_1=0.8, beta_2=0.6, epsilon=1e-3, amsgrad=True),
    unidl.AdamW(lr=0.05, weight_decay=0.1),
    unidl.AdamW(lr=0.05, beta_2=0.6, weight_decay=0.1, amsgrad=True),
    unidl.RMSprop(lr=0.01),
    unidl.RMSprop(lr=0.01, epsilon=1e-2),
    unidl.RMSprop(lr=0.01, rho=0.8, momentum=0.9, centered=True, epsilon=1e-4),
    unidl.RMSprop(lr=0.01, momentum=0.5),
    unidl.Adagrad(lr=0.1),
    unidl.Adagrad(lr=0.1, initial_accumulator_value=0.0, epsilon=1e-3),
    unidl.Adadelta(lr=1.0),
    unidl.Adadelta(lr=0.5, rho=0.9, epsilon=1e-4),
]

CLIPPED: list[unidl.spec.Optimizer] = [
    unidl.SGD(lr=0.1, clipvalue=0.05),
    unidl.SGD(lr=0.1, clipnorm=0.2),
    unidl.SGD(lr=0.1, clipnorm=1e3),  # a bound never reached: no scaling at all
    # both: clipvalue bites some elements, then the global norm of the clamped gradients
    unidl.SGD(lr=0.1, momentum=0.5, clipvalue=0.3, clipnorm=0.4),
    unidl.Adam(lr=0.05, clipvalue=0.3, clipnorm=0.4),
]

STEPS_PER_EPOCH = 2


def _describe(o: unidl.spec.Optimizer) -> str:
    fields = {k: v for k, v in o.to_config().items() if k != "class"}
    defaults = type(o)().to_config()
    shown = ", ".join(f"{k}={v}" for k, v in fields.items() if defaults.get(k) != v)
    return f"{o.kind}({shown})"


def _check_trajectory(backend: str, opt: unidl.spec.Optimizer, rule: str,
                      epochs: int = 3) -> None:
    x, y = linear_data(n=24)
    model = unidl.build(linear_spec(), backend=backend, seed=3, device="cpu")
    w = {k: v.astype(np.float64) for k, v in model.get_weights().items()}
    ref = ReferenceOptimizer(opt, w)
    model.compile("mse", opt)
    for _ in range(epochs):  # one fit per epoch: optimizer state carries on
        model.fit((x, y), epochs=1, batch_size=len(x) // STEPS_PER_EPOCH, shuffle=False,
                  verbose=0)
        w, _ = replay_epoch(ref, w, x, y, len(x) // STEPS_PER_EPOCH)
        for k, v in model.get_weights().items():
            expect_close(v, w[k], rtol=1e-5, atol=1e-6,
                         rule=f"{_describe(opt)} step {ref.steps}, parameter {k}: {rule}")


@pytest.mark.parametrize("opt", CASES, ids=_describe)
def test_optimizer_follows_its_documented_update_rule(backend: str,
                                                      opt: unidl.spec.Optimizer) -> None:
    require(backend, optimizers=opt.kind, losses="mse")
    _check_trajectory(backend, opt, f"the update rule documented on unidl.{opt.kind} "
                                    "(unidl/spec/optimizers.py)")


@pytest.mark.parametrize("opt", CLIPPED, ids=_describe)
def test_gradient_clipping_clamps_values_then_scales_the_global_norm(
        backend: str, opt: unidl.spec.Optimizer) -> None:
    require(backend, features="gradient_clipping", optimizers=opt.kind, losses="mse")
    _check_trajectory(backend, opt, "gradient_clipping: clipvalue (element-wise clamp) "
                                    "then clipnorm (global L2 norm, min(1, clipnorm / "
                                    "(norm + 1e-6)))", epochs=2)


def test_configure_again_starts_a_fresh_optimizer_state(backend: str) -> None:
    """``configure()`` (here: compiling again) creates a fresh optimizer state: Adam's
    moments and step count start over from the current weights."""
    require(backend, optimizers="Adam", losses="mse")
    opt = unidl.Adam(lr=0.05, beta_1=0.5, beta_2=0.6)
    x, y = linear_data(n=24)
    model = unidl.build(linear_spec(), backend=backend, seed=3, device="cpu")
    model.compile("mse", opt)
    model.fit((x, y), epochs=2, batch_size=12, shuffle=False, verbose=0)
    w = {k: v.astype(np.float64) for k, v in model.get_weights().items()}
    model.compile("mse", opt)
    model.fit((x, y), epochs=1, batch_size=12, shuffle=False, verbose=0)
    w, _ = replay_epoch(ReferenceOptimizer(opt, w), w, x, y, 12)
    for k, v in model.get_weights().items():
        expect_close(v, w[k], rule="configure() creates a fresh optimizer state (a second "
                                   f"configure must not keep Adam's moments); parameter {k}")


def test_optimizer_state_is_canonical(backend: str) -> None:
    """``get_optimizer_state()``: the canonical names and shapes of
    ``unidl.optimizer_state``, slot values as the rule defines them, and ``"step"`` a
    float64 scalar counting steps since ``configure``."""
    opt = unidl.Adam(lr=0.05, beta_2=0.6, amsgrad=True)
    require(backend, features="optimizer_state", optimizers="Adam", losses="mse")
    x, y = linear_data(n=24)
    spec = linear_spec()
    model = unidl.build(spec, backend=backend, seed=3, device="cpu")
    w = {k: v.astype(np.float64) for k, v in model.get_weights().items()}
    ref = ReferenceOptimizer(opt, w)
    model.compile("mse", opt)
    model.fit((x, y), epochs=2, batch_size=8, shuffle=False, verbose=0)
    for _ in range(2):
        w, _ = replay_epoch(ref, w, x, y, 8)
    state = model.optimizer_state()
    shapes = state_shapes(spec, opt)
    expect(sorted(state) == sorted(shapes), "optimizer_state: canonical entry names "
           "<layer>/<param>/<slot> and 'step'", f"got {sorted(state)}, expected "
           f"{sorted(shapes)}")
    step = np.asarray(state[STEP])
    expect(step.dtype == np.float64 and step.shape == (), "optimizer_state: 'step' is a "
           "float64 scalar", f"got dtype {step.dtype}, shape {step.shape}")
    expect_close(step, 6.0, rule="optimizer_state: 'step' counts the steps since configure")
    for name, slots in ref.state.items():
        for slot, value in slots.items():
            expect_close(state[f"{name}/{slot}"], value, rtol=1e-5, atol=1e-7,
                         rule=f"optimizer_state: slot {name}/{slot} holds the rule's "
                              "(uncorrected) running value")
