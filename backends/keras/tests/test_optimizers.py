"""White-box: the updater's learning rate can change without touching its state.

(Every optimizer's update rule is a contract rule, checked for every backend by
``unidl/testing/conformance/test_rules_optimizers.py``.)"""

from __future__ import annotations

import numpy as np
from keras_helpers import build, one_batch_epoch, setup

import unidl


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
