"""Mutation testing of the conformance suite: each mutant is the worked example backend
(``examples/unidl-numpy``) with one plausible mistake, and the suite must fail on it with
the broken rule named in the message.

The checks are the conformance tests themselves, called in-process with the backend
object (no installation, no subprocess): per mutant only the tests of the rule it breaks.
``test_the_example_passes_every_check_used_here`` proves the unbroken example passes them,
so a mutant's failure is its mistake's doing.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

_EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "unidl-numpy"
try:
    import unidl_numpy
except ImportError:  # not installed: use the source tree
    sys.path.insert(0, str(_EXAMPLE))
    import unidl_numpy

from unidl_numpy import layers, losses, model, optimizers  # noqa: E402  (after the path)

from unidl.backend import EpochResult  # noqa: E402
from unidl.testing.conformance import (  # noqa: E402
    test_features,
    test_forward,
    test_rules_dropout,
    test_rules_optimizers,
    test_rules_training,
    test_rules_undefined,
)

Check = Callable[[Any], None]


def _opt(kind: str, **kw: Any) -> Any:
    for case in test_rules_optimizers.CASES + test_rules_optimizers.CLIPPED:
        if case.kind == kind and all(getattr(case, k) == v for k, v in kw.items()):
            return case
    raise LookupError(kind, kw)


def optimizer_rule(kind: str, **kw: Any) -> Check:
    return partial(test_rules_optimizers.test_optimizer_follows_its_documented_update_rule,
                   opt=_opt(kind, **kw))


def clipping(**kw: Any) -> Check:
    case = next(c for c in test_rules_optimizers.CLIPPED
                if all(getattr(c, k) == v for k, v in kw.items()))
    return partial(
        test_rules_optimizers.test_gradient_clipping_clamps_values_then_scales_the_global_norm,
        opt=case)


FUSED = [partial(test_rules_training.test_fused_head_loss_comes_from_the_pre_activation,
                 loss=loss) for loss in sorted(test_rules_training.FUSED)]
OUTPUTS = test_rules_training.test_epoch_outputs_are_after_the_final_activation_in_plan_order
EPOCH_LOSS = test_rules_training.test_epoch_loss_weights_each_batch_by_its_size
WEIGHTED = test_rules_training.test_sample_weighted_loss_is_normalised_by_the_batch_size
D = test_rules_dropout


@dataclass(frozen=True)
class Mutant:
    name: str
    apply: Callable[[pytest.MonkeyPatch], None]
    checks: tuple[Check, ...]
    rule: str  # a part of the failure message that names the broken rule


MUTANTS: list[Mutant] = []


def mutant(name: str, checks: Check | tuple[Check, ...] | list[Check], rule: str
           ) -> Callable[[Callable[[pytest.MonkeyPatch], None]],
                         Callable[[pytest.MonkeyPatch], None]]:
    def register(apply: Callable[[pytest.MonkeyPatch], None]
                 ) -> Callable[[pytest.MonkeyPatch], None]:
        cs = tuple(checks) if isinstance(checks, (tuple, list)) else (checks,)
        MUTANTS.append(Mutant(name, apply, cs, rule))
        return apply
    return register


# -- losses ------------------------------------------------------------------------------
@mutant("logits_loss ignored: cross-entropy from clipped probabilities", FUSED,
        "logits_loss")
def _(mp: pytest.MonkeyPatch) -> None:
    original = model.NumpyModel.loss_and_grads

    def loss_and_grads(self: Any, x: Any, y: Any, w: Any = None) -> Any:
        assert self.setup is not None
        setup, self.setup = self.setup, dataclasses.replace(self.setup, logits_loss=False)
        try:
            return original(self, x, y, w)
        finally:
            self.setup = setup
    mp.setattr(model.NumpyModel, "loss_and_grads", loss_and_grads)


@mutant("EpochResult.outputs are the pre-activation of a fused head", OUTPUTS,
        "after the final activation")
def _(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(layers.Act, "forward", _act_forward_when_not_head)


def _act_forward_when_not_head(self: Any, p: Any, x: Any) -> Any:
    # the fused head's Act runs only to produce the outputs: return its input unchanged
    import inspect
    caller = inspect.stack()[1].function
    if caller == "loss_and_grads":
        return x, (x, x)
    return _ORIGINAL_ACT(self, p, x)


_ORIGINAL_ACT = layers.Act.forward


@mutant("probabilities clipped in float32", test_rules_training.
        test_probability_clipping_is_done_in_float64, "float64")
def _(mp: pytest.MonkeyPatch) -> None:
    original = losses.loss_and_grad

    def loss_and_grad(loss: Any, y: Any, out: Any, logits: bool, weights: Any = None) -> Any:
        if not logits and loss.kind.fuses_with:
            eps = np.float32(1e-7)
            out = np.clip(out.astype(np.float32), eps, np.float32(1) - eps)
        return original(loss, y, out, logits, weights)
    mp.setattr(model, "loss_and_grad", loss_and_grad)


@mutant("sample-weighted loss normalised by sum(w)", WEIGHTED, "not by sum(w)")
def _(mp: pytest.MonkeyPatch) -> None:
    original = losses.loss_and_grad

    def loss_and_grad(loss: Any, y: Any, out: Any, logits: bool, weights: Any = None) -> Any:
        value, g = original(loss, y, out, logits, weights)
        if weights is None:
            return value, g
        factor = len(weights) / float(np.sum(weights))
        return value * factor, g * np.float32(factor)
    mp.setattr(model, "loss_and_grad", loss_and_grad)


@mutant("sample weights ignored", WEIGHTED, "sample-weighted")
def _(mp: pytest.MonkeyPatch) -> None:
    original = losses.loss_and_grad
    mp.setattr(model, "loss_and_grad",
               lambda loss, y, out, logits, weights=None: original(loss, y, out, logits))


@mutant("batch loss summed instead of averaged", EPOCH_LOSS, "EpochResult.loss")
def _(mp: pytest.MonkeyPatch) -> None:
    original = losses.loss_and_grad

    def loss_and_grad(loss: Any, y: Any, out: Any, logits: bool, weights: Any = None) -> Any:
        value, g = original(loss, y, out, logits, weights)
        return value * len(out), g * len(out)
    mp.setattr(model, "loss_and_grad", loss_and_grad)


# -- forward -----------------------------------------------------------------------------
def forward_case(case: str) -> Check:
    return partial(test_forward.test_forward_matches_numpy_reference, case=case)


def _patched_activation(mp: pytest.MonkeyPatch, name: str,
                        fn: Callable[[Any], Any]) -> None:
    original = layers.activation
    mp.setattr(layers, "activation",
               lambda n, x: np.asarray(fn(x)) if n == name else original(n, x))


@mutant("leaky_relu with torch's slope 0.01", forward_case("dense_leaky_relu"),
        "forward pass of 'dense_leaky_relu'")
def _(mp: pytest.MonkeyPatch) -> None:
    _patched_activation(mp, "leaky_relu", lambda x: np.where(x > 0, x, 0.01 * x))


@mutant("gelu as the tanh approximation", forward_case("activation_gelu"), "Activation(gelu)")
def _(mp: pytest.MonkeyPatch) -> None:
    _patched_activation(mp, "gelu", lambda x: 0.5 * x * (1 + np.tanh(
        np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))))


@mutant("softmax over the first axis", forward_case("dense_softmax"), "Dense(softmax)")
def _(mp: pytest.MonkeyPatch) -> None:
    _patched_activation(mp, "softmax", lambda x: np.exp(x) / np.exp(x).sum(0, keepdims=True))


# -- the epoch ---------------------------------------------------------------------------
def _epoch(self: Any, data: Any, plan: Any, collect: bool, *, weighted: bool = True,
           after_step: bool = False) -> EpochResult:
    """The example's train_epoch with the epoch loss computed wrongly on request."""
    opt = self._require_optimizer("training")
    if plan.first_batch == 0:
        self._seed_dropout(self.setup.seed, plan.epoch)
    rates = model._step_rates(plan, opt.spec.lr)
    losses_, sizes, outs = [], [], []
    for (xb, yb, wb), lr in zip(model._batches(data, plan, self.dtype), rates, strict=True):
        loss, grads, out = self.loss_and_grads(xb, yb, wb)
        opt.step(self.params, grads, lr)
        if after_step:
            loss = self.loss_and_grads(xb, yb, wb)[0]
        losses_.append(loss)
        sizes.append(len(xb))
        outs.append(out)
    total = (float(np.dot(losses_, sizes)) / sum(sizes)) if weighted else float(
        np.mean(losses_))
    return EpochResult(total, np.concatenate(outs) if collect else None)


@mutant("epoch loss as the unweighted mean of batch losses", EPOCH_LOSS,
        "sum(batch_loss * batch_size) / n")
def _(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(model.NumpyModel, "train_epoch", partial_method(_epoch, weighted=False))


@mutant("epoch loss measured after each step", EPOCH_LOSS, "measured before its step")
def _(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(model.NumpyModel, "train_epoch", partial_method(_epoch, after_step=True))


@mutant("epoch outputs sorted by sample index, not in plan order", OUTPUTS, "in plan order")
def _(mp: pytest.MonkeyPatch) -> None:
    original = model.NumpyModel.train_epoch

    def train_epoch(self: Any, data: Any, plan: Any, collect: bool) -> EpochResult:
        result = original(self, data, plan, collect)
        if result.outputs is None:
            return result
        back = np.empty_like(result.outputs)
        back[plan.order - plan.order.min()] = result.outputs
        return EpochResult(result.loss, back)
    mp.setattr(model.NumpyModel, "train_epoch", train_epoch)


@mutant("device copies cached by shape, so a new data object is not trained on",
        test_rules_training.test_a_new_data_object_is_trained_on_not_a_cached_copy,
        "a new data object")
def _(mp: pytest.MonkeyPatch) -> None:
    original, cache = model._batches, {}

    def batches(data: Any, plan: Any, dtype: Any) -> Any:
        return original(cache.setdefault(len(data), data), plan, dtype)
    mp.setattr(model, "_batches", batches)


@mutant("per-step learning rates ignored", test_features.
        test_per_step_schedule_applies_exactly_the_documented_rates, "lr_schedule")
def _(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(model, "_step_rates", lambda plan, lr: [lr] * len(plan))


@mutant("a plan with the wrong number of learning rates truncated silently",
        test_rules_undefined.test_learning_rates_must_match_the_plan, "one rate per batch")
def _(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(model, "_step_rates", lambda plan, lr: [lr] * len(plan))


@mutant("training before configure fails with whatever breaks first (AttributeError)",
        test_rules_undefined.test_training_before_configure_raises_backend_error,
        "raises unidl.BackendError")
def _(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(model.NumpyModel, "_require_optimizer", lambda self, what: self.optimizer)


@mutant("set_optimizer_state before configure raises RuntimeError",
        test_rules_undefined.test_optimizer_state_before_configure,
        "set_optimizer_state before configure() raises unidl.BackendError")
def _(mp: pytest.MonkeyPatch) -> None:
    def require(self: Any, what: str) -> Any:
        if self.optimizer is None:
            raise RuntimeError("configure first")
        return self.optimizer
    mp.setattr(model.NumpyModel, "_require_optimizer", require)


@mutant("an empty plan returns EpochResult(0.0)",
        test_rules_undefined.test_an_empty_plan_raises_data_error, "empty plan")
def _(mp: pytest.MonkeyPatch) -> None:
    original = model.NumpyModel.train_epoch

    def train_epoch(self: Any, data: Any, plan: Any, collect: bool) -> EpochResult:
        if len(plan.order) == 0:
            return EpochResult(0.0, None)
        return original(self, data, plan, collect)
    mp.setattr(model.NumpyModel, "train_epoch", train_epoch)


# -- dropout -----------------------------------------------------------------------------
def _drop_forward(self: Any, p: Any, x: Any, *, scale: bool = True, always: bool = False,
                  fixed: bool = False, keep_is_rate: bool = False) -> Any:
    if not (self.training or always) or self.rate == 0:
        return x, None
    rng = np.random.default_rng(0) if fixed else self.rng
    keep = rng.random(x.shape) >= ((1 - self.rate) if keep_is_rate else self.rate)
    factor = 1 / (1 - self.rate) if scale else 1.0
    mask = keep.astype(x.dtype) * np.asarray(factor, x.dtype)
    return x * mask, mask


@mutant("dropout without the 1/(1-rate) scaling",
        D.test_dropout_scales_kept_units_by_one_over_keep_probability, "1/(1-rate)")
def _(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(layers.Drop, "forward", partial_method(_drop_forward, scale=False))


@mutant("dropout rate taken as the keep probability",
        D.test_dropout_scales_kept_units_by_one_over_keep_probability,
        "dropped with probability rate")
def _(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(layers.Drop, "forward", partial_method(_drop_forward, keep_is_rate=True))


@mutant("dropout with the same mask for every batch",
        D.test_dropout_draws_a_fresh_mask_for_every_batch_and_epoch, "every batch")
def _(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(layers.Drop, "forward", partial_method(_drop_forward, fixed=True))


@mutant("dropout with the same masks in every epoch",
        D.test_dropout_draws_a_fresh_mask_for_every_batch_and_epoch, "every epoch")
def _(mp: pytest.MonkeyPatch) -> None:
    original = model.NumpyModel._seed_dropout
    mp.setattr(model.NumpyModel, "_seed_dropout",
               lambda self, seed, epoch: original(self, seed, 0))


@mutant("dropout reseeded on every call, ignoring first_batch",
        D.test_dropout_stream_continues_across_an_epochs_chunks, "first_batch > 0")
def _(mp: pytest.MonkeyPatch) -> None:
    original = model.NumpyModel.train_epoch

    def train_epoch(self: Any, data: Any, plan: Any, collect: bool) -> EpochResult:
        self._seed_dropout(self.setup.seed if self.setup else 0, plan.epoch)
        return original(self, data, dataclasses.replace(plan, first_batch=1), collect)
    mp.setattr(model.NumpyModel, "train_epoch", train_epoch)


@mutant("dropout masks drawn from one stream for the whole fit, not from (seed, epoch)",
        D.test_dropout_masks_are_seeded_from_seed_and_epoch, "SeedSequence([seed, epoch])")
def _(mp: pytest.MonkeyPatch) -> None:
    original = model.NumpyModel._seed_dropout

    def seed_once(self: Any, seed: int, epoch: int) -> None:
        if not getattr(self, "_seeded", False):
            original(self, seed, epoch)
            self._seeded = True
    mp.setattr(model.NumpyModel, "_seed_dropout", seed_once)


@mutant("dropout also at inference", D.test_dropout_is_off_at_inference, "only in training")
def _(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(layers.Drop, "forward", partial_method(_drop_forward, always=True))


# -- optimizers and clipping -------------------------------------------------------------
def _adam_update(self: Any, k: str, p: Any, g: Any, lr: float, *, keras_eps: bool = False,
                 no_correction: bool = False, coupled_decay: bool = False,
                 decay_without_lr: bool = False, amsgrad_corrected: bool = False) -> None:
    s = self.spec
    if isinstance(s, optimizers.AdamW):
        if coupled_decay:
            g = g + s.weight_decay * p
        else:
            p -= (1 if decay_without_lr else lr) * s.weight_decay * p
    t = self.t
    c1, c2 = (1.0, 1.0) if no_correction else (1 - s.beta_1**t, 1 - s.beta_2**t)
    m, v = self.slots["m"][k], self.slots["v"][k]
    m[...] = s.beta_1 * m + (1 - s.beta_1) * g
    v[...] = s.beta_2 * v + (1 - s.beta_2) * g * g
    v_hat = v / c2
    if s.amsgrad:
        vm = self.slots["v_max"][k]
        if amsgrad_corrected:  # the maximum of the corrected v, as some papers write it
            vm[...] = np.maximum(vm, v_hat)
            v_hat = vm
        else:
            vm[...] = np.maximum(vm, v)
            v_hat = vm / c2
    if keras_eps:
        p -= lr * np.sqrt(c2) / c1 * m / (np.sqrt(v) + s.epsilon)
    else:
        p -= lr * (m / c1) / (np.sqrt(v_hat) + s.epsilon)


@mutant("Adam epsilon added to the uncorrected sqrt(v) (Keras' placement)",
        optimizer_rule("Adam", epsilon=1e-3, amsgrad=False), "Adam(")
def _(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(optimizers.AdamStep, "update", partial_method(_adam_update, keras_eps=True))


@mutant("Adam without bias correction", optimizer_rule("Adam", lr=0.05, amsgrad=False),
        "Adam(")
def _(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(optimizers.AdamStep, "update", partial_method(_adam_update,
                                                             no_correction=True))


@mutant("amsgrad keeps the maximum of the bias-corrected v",
        optimizer_rule("Adam", amsgrad=True), "amsgrad=True")
def _(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(optimizers.AdamStep, "update", partial_method(_adam_update,
                                                             amsgrad_corrected=True))


@mutant("AdamW weight decay added to the gradient (coupled, L2)",
        optimizer_rule("AdamW", amsgrad=False), "AdamW(")
def _(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(optimizers.AdamStep, "update", partial_method(_adam_update,
                                                             coupled_decay=True))


@mutant("AdamW weight decay not scaled by lr", optimizer_rule("AdamW", amsgrad=False),
        "AdamW(")
def _(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(optimizers.AdamStep, "update", partial_method(_adam_update,
                                                             decay_without_lr=True))


@mutant("SGD nesterov ignored", optimizer_rule("SGD", nesterov=True), "nesterov=True")
def _(mp: pytest.MonkeyPatch) -> None:
    def update(self: Any, k: str, p: Any, g: Any, lr: float) -> None:
        v = self.slots["momentum"][k]
        v[...] = self.spec.momentum * v + g
        p -= lr * v
    mp.setattr(optimizers.SGDStep, "update", update)


@mutant("RMSprop epsilon inside the square root", optimizer_rule("RMSprop", epsilon=1e-2),
        "RMSprop(")
def _(mp: pytest.MonkeyPatch) -> None:
    def update(self: Any, k: str, p: Any, g: Any, lr: float) -> None:
        s, v = self.spec, self.slots["v"][k]
        v[...] = s.rho * v + (1 - s.rho) * g * g
        p -= lr * g / np.sqrt(v + s.epsilon)
    mp.setattr(optimizers.RMSpropStep, "update", update)


@mutant("RMSprop centered ignored", optimizer_rule("RMSprop", centered=True), "centered=True")
def _(mp: pytest.MonkeyPatch) -> None:
    original = optimizers.RMSpropStep.update

    def update(self: Any, k: str, p: Any, g: Any, lr: float) -> None:
        spec = self.spec
        self.spec = dataclasses.replace(spec, centered=False)
        try:
            original(self, k, p, g, lr)
        finally:
            self.spec = spec
    mp.setattr(optimizers.RMSpropStep, "update", update)


@mutant("Adagrad accumulator starts at 0, not initial_accumulator_value",
        optimizer_rule("Adagrad", initial_accumulator_value=0.1), "Adagrad(")
def _(mp: pytest.MonkeyPatch) -> None:
    original = optimizers.OptimizerStep.__init__

    def init(self: Any, spec: Any, params: Any) -> None:
        original(self, spec, params)
        for per in self.slots.values():
            for v in per.values():
                v[...] = 0
    mp.setattr(optimizers.OptimizerStep, "__init__", init)


@mutant("Adadelta updates u before computing the step",
        optimizer_rule("Adadelta", lr=1.0), "Adadelta(")
def _(mp: pytest.MonkeyPatch) -> None:
    def update(self: Any, k: str, p: Any, g: Any, lr: float) -> None:
        s, v, u = self.spec, self.slots["v"][k], self.slots["u"][k]
        v[...] = s.rho * v + (1 - s.rho) * g * g
        u[...] = s.rho * u + (1 - s.rho) * g * g
        p -= lr * np.sqrt(u + s.epsilon) / np.sqrt(v + s.epsilon) * g
    mp.setattr(optimizers.AdadeltaStep, "update", update)


def _clip(spec: Any, grads: Any, *, skip_value_with_norm: bool = False,
          norm_first: bool = False, per_tensor: bool = False) -> Any:
    def by_value(gs: Any) -> Any:
        return {k: np.clip(g, -spec.clipvalue, spec.clipvalue) for k, g in gs.items()}

    def by_norm(gs: Any) -> Any:
        if per_tensor:
            return {k: g * min(1.0, spec.clipnorm / (float(np.linalg.norm(g)) + 1e-6))
                    for k, g in gs.items()}
        norm = float(np.sqrt(sum(float((g.astype(np.float64) ** 2).sum())
                                 for g in gs.values())))
        return {k: g * min(1.0, spec.clipnorm / (norm + 1e-6)) for k, g in gs.items()}

    value = spec.clipvalue is not None and not (skip_value_with_norm and spec.clipnorm)
    if norm_first and spec.clipnorm is not None:
        grads = by_norm(grads)
    if value:
        grads = by_value(grads)
    if not norm_first and spec.clipnorm is not None:
        grads = by_norm(grads)
    return {k: np.asarray(g, dtype=np.float32) for k, g in grads.items()}


@mutant("clipvalue skipped when clipnorm is also given",
        clipping(clipvalue=0.3, momentum=0.5), "gradient_clipping")
def _(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(optimizers, "clip_gradients", partial(_clip, skip_value_with_norm=True))


@mutant("clipnorm applied before clipvalue", clipping(clipvalue=0.3, momentum=0.5),
        "clipvalue (element-wise clamp) then clipnorm")
def _(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(optimizers, "clip_gradients", partial(_clip, norm_first=True))


@mutant("clipnorm per tensor instead of one global norm", clipping(clipnorm=0.2),
        "global L2 norm")
def _(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(optimizers, "clip_gradients", partial(_clip, per_tensor=True))


@mutant("configure() called twice keeps the old optimizer state",
        test_rules_optimizers.test_configure_again_starts_a_fresh_optimizer_state,
        "fresh optimizer state")
def _(mp: pytest.MonkeyPatch) -> None:
    original = model.NumpyModel.configure

    def configure(self: Any, setup: Any) -> None:
        kept = self.optimizer
        original(self, setup)
        if kept is not None:
            self.optimizer = kept
    mp.setattr(model.NumpyModel, "configure", configure)


@mutant("optimizer state 'step' saved as float32",
        test_rules_optimizers.test_optimizer_state_is_canonical, "float64 scalar")
def _(mp: pytest.MonkeyPatch) -> None:
    original = optimizers.OptimizerStep.get_state

    def get_state(self: Any) -> Any:
        state = original(self)
        state["step"] = np.asarray(state["step"], np.float32)
        return state
    mp.setattr(optimizers.OptimizerStep, "get_state", get_state)


@mutant("optimizer state restored without its step count (bias correction restarts)",
        partial(test_features.test_resuming_a_saved_model_continues_the_same_trajectory,
                optimizer=test_features.RESUME_CASES[1], tmp_path=None), "resuming Adam")
def _(mp: pytest.MonkeyPatch) -> None:
    original = optimizers.OptimizerStep.set_state

    def set_state(self: Any, state: Any) -> None:
        original(self, state)
        self.t = 0
    mp.setattr(optimizers.OptimizerStep, "set_state", set_state)


def partial_method(fn: Callable[..., Any], **kw: Any) -> Callable[..., Any]:
    def method(self: Any, *args: Any) -> Any:
        return fn(self, *args, **kw)
    return method


def _run(check: Check, tmp_path: Path) -> None:
    backend = unidl_numpy.NumpyBackend()
    if isinstance(check, partial) and "tmp_path" in check.keywords:
        check = partial(check, tmp_path=tmp_path)
    check(backend)


@pytest.mark.parametrize("m", MUTANTS, ids=[m.name for m in MUTANTS])
def test_the_conformance_suite_catches_the_mutant(m: Mutant, monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    m.apply(monkeypatch)
    messages = []
    for check in m.checks:
        try:
            _run(check, tmp_path)
        except AssertionError as e:
            messages.append(str(e))
    assert messages, f"no conformance check failed on the mutant {m.name!r}"
    assert any(m.rule in msg for msg in messages), (
        f"the failure does not name the rule ({m.rule!r}):\n" + "\n---\n".join(messages))


def _all_checks() -> list[Check]:
    seen: dict[str, Check] = {}
    for m in MUTANTS:
        for c in m.checks:
            seen.setdefault(repr(c), c)
    return list(seen.values())


def test_there_are_more_than_forty_mutants() -> None:
    """docs/backend-contract.md and docs/backend-authors.md say so."""
    assert len(MUTANTS) > 40


@pytest.mark.parametrize("check", _all_checks(), ids=repr)
def test_the_example_passes_every_check_used_here(check: Check, tmp_path: Path) -> None:
    _run(check, tmp_path)
