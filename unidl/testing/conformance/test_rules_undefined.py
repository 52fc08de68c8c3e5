"""What the contract fixes where frameworks differ: misuse of the Protocol gets the same
error on every backend (see docs/backend-contract.md, "Misuse and edge cases")."""

from __future__ import annotations

import numpy as np
import pytest

import unidl
from unidl.errors import BackendError, DataError

from ._replay import linear_data, linear_spec
from ._support import arrays, caps, native_model, plan, require, training_setup


def _expect_raises(error: type[Exception], rule: str, call: object) -> None:
    try:
        call()  # type: ignore[operator]
    except error:
        return
    except Exception as e:  # the wrong kind of error
        raise AssertionError(f"contract rule broken: {rule} (see docs/backend-contract.md)"
                             f"\nraised {type(e).__name__}: {e}") from e
    raise AssertionError(f"contract rule broken: {rule} (see docs/backend-contract.md)"
                         "\nnothing was raised")


def test_training_before_configure_raises_backend_error(backend: str) -> None:
    x, y = linear_data(n=8)
    model = native_model(backend, linear_spec())
    _expect_raises(BackendError, "train_epoch before configure() raises "
                   "unidl.BackendError", lambda: model.train_epoch(
                       arrays(x, y), plan(np.arange(8), 4), False))


def test_an_empty_plan_raises_data_error(backend: str) -> None:
    require(backend, optimizers="SGD", losses="mse")
    x, y = linear_data(n=8)
    model = native_model(backend, linear_spec())
    model.configure(training_setup("mse", unidl.SGD()))
    before = model.get_weights()
    _expect_raises(DataError, "train_epoch with an empty plan raises unidl.DataError",
                   lambda: model.train_epoch(arrays(x, y), plan(np.arange(0), 4), False))
    for k, v in model.get_weights().items():
        np.testing.assert_array_equal(v, before[k], err_msg="contract rule broken: an "
                                      f"empty plan changes no weight ({k})")


def test_optimizer_state_before_configure(backend: str) -> None:
    if "optimizer_state" not in caps(backend).features:
        pytest.skip(f"backend {backend!r} does not declare feature 'optimizer_state'")
    model = native_model(backend, linear_spec())
    state = model.get_optimizer_state()
    assert state == {}, ("contract rule broken: get_optimizer_state() is {} before "
                         f"configure(), got {sorted(state)[:5]}")
    _expect_raises(BackendError, "set_optimizer_state before configure() raises "
                   "unidl.BackendError", lambda: model.set_optimizer_state({}))


def test_learning_rates_must_match_the_plan(backend: str) -> None:
    require(backend, features="lr_schedule", optimizers="SGD", losses="mse")
    x, y = linear_data(n=8)
    model = native_model(backend, linear_spec())
    model.configure(training_setup("mse", unidl.SGD()))
    _expect_raises(DataError, "EpochPlan.learning_rates holds one rate per batch; another "
                   "count raises unidl.DataError", lambda: model.train_epoch(
                       arrays(x, y), plan(np.arange(8), 4, learning_rates=np.ones(3)), False))


def test_predict_of_no_samples_is_an_empty_float32_array(backend: str) -> None:
    model = native_model(backend, linear_spec())
    out = np.asarray(model.predict(np.zeros((0, 3), np.float32), 4))
    assert out.shape == (0, 2) and out.dtype == np.float32, (
        "contract rule broken: predict of 0 samples returns float32 (0, *output_shape), "
        f"got {out.dtype} {out.shape}")
