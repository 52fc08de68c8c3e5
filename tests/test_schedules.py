"""Learning-rate schedules: exact values, serialisation, and ReduceLROnPlateau's rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

import unidl
from unidl.training.schedules import PlateauState, Schedule, schedule_from, step_rates


@pytest.mark.parametrize(("schedule", "expected"), [
    (unidl.StepLR(step_size=2, gamma=0.5), [1, 1, 0.5, 0.5, 0.25, 0.25]),
    (unidl.MultiStepLR(milestones=(1, 4), gamma=0.1), [1, 0.1, 0.1, 0.1, 0.01, 0.01]),
    (unidl.ExponentialLR(gamma=0.9), [0.9**t for t in range(6)]),
    (unidl.CosineAnnealingLR(T_max=4, eta_min=0.2),
     [0.2 + 0.8 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(6)]),
    (unidl.LinearWarmup(warmup=3, start_factor=0.25, after=unidl.ExponentialLR(gamma=0.5)),
     [0.25, 0.5, 0.75, 1.0, 0.5, 0.25]),
])
def test_schedule_values(schedule: Schedule, expected: list[float]) -> None:
    got = [schedule.rate(1.0, t) for t in range(6)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert schedule_from(schedule.to_config()) == schedule


def test_per_step_rates_count_optimizer_steps_across_epochs() -> None:
    s = unidl.StepLR(step_size=3, gamma=0.1, per="step")
    np.testing.assert_allclose(step_rates(s, 1.0, epoch=1, steps=4),
                               [0.1, 0.1, 0.01, 0.01])  # global steps 4..7
    assert step_rates(None, 1.0, 0, 4) is None
    np.testing.assert_allclose(step_rates(unidl.StepLR(1, 0.5), 2.0, 2, 3), [0.5] * 3)


def test_reduce_on_plateau_follows_keras_rules() -> None:
    spec = unidl.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, cooldown=1,
                                   min_delta=0.0, min_lr=0.1)
    state = PlateauState(lr=1.0)
    lrs = []
    for v in [1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]:
        state.update(spec, {"val_loss": v})
        lrs.append(state.lr)
    # Keras' rule: the 2nd epoch without improvement halves the rate; a cooldown epoch
    # resets the count and is itself counted when it does not improve; min_lr floors it.
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125, 0.1, 0.1]
    with pytest.raises(unidl.SpecError, match="not in the epoch logs"):
        PlateauState(1.0).update(unidl.ReduceLROnPlateau(), {"loss": 1.0})


@pytest.mark.parametrize(("make", "path"), [
    (lambda: unidl.StepLR(step_size=0), "StepLR.step_size"),
    (lambda: unidl.MultiStepLR(milestones=(3, 2)), "MultiStepLR.milestones"),
    (lambda: unidl.StepLR(2, per="batch"), "StepLR.per"),
    (lambda: unidl.ReduceLROnPlateau(factor=1.5), "ReduceLROnPlateau.factor"),
    (lambda: unidl.LinearWarmup(warmup=2, after=unidl.ReduceLROnPlateau()),
     "LinearWarmup.after"),
    (lambda: schedule_from({"class": "StepRL"}), "lr_schedule.class"),
    (lambda: unidl.ExponentialLR(gamma="0.9"), "ExponentialLR.gamma"),
    (lambda: unidl.ReduceLROnPlateau(cooldown=-1), "ReduceLROnPlateau.cooldown"),
    (lambda: unidl.ReduceLROnPlateau(monitor=""), "ReduceLROnPlateau.monitor"),
    (lambda: unidl.EarlyStopping(min_delta="0.1"), "EarlyStopping.min_delta"),
    (lambda: unidl.EarlyStopping(monitor=None), "EarlyStopping.monitor"),
    (lambda: unidl.ModelCheckpoint(""), "ModelCheckpoint.path"),
    (lambda: unidl.CSVLogger("log.csv", separator=";;"), "CSVLogger.separator"),
])
def test_invalid_schedules_name_the_field(make, path: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(unidl.SpecError) as info:
        make()
    assert info.value.path == path
