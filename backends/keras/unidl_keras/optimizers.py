"""The keras builders of the optimizers: TensorFlow update rules, exactly the documented
formulas.

Each optimizer kind's builder, registered with ``unidl.register_builder(kind, "keras",
factory)``, is a factory ``(spec, variables, names) -> Updater``; the built-in ones are
the :class:`Updater` subclasses below. The formulas (``unidl.spec.optimizers``) are
torch.optim's. Keras' built-in optimizers differ in places (Adam's epsilon on the
uncorrected sqrt(v), RMSprop's epsilon inside the sqrt, SGD's ``v = m v - lr g``), so
they are not used. Where one of TensorFlow's fused ``ResourceApply*``
kernels computes the documented formula it is used (one kernel per variable instead of a
dozen element-wise ops, which matters on small models); RMSprop is written out.

Adam: TF's kernel computes ``p -= lr sqrt(1-b2^t)/(1-b1^t) m / (sqrt(v) + eps')``. With
``eps' = eps sqrt(1-b2^t)`` that is algebraically ``p -= lr m^ / (sqrt(v^) + eps)``, the
documented (torch) placement of epsilon.

The learning rate is an argument of :meth:`Updater.apply` (a float32 scalar tensor), so a
compiled epoch can apply a different rate at every step without retracing. Gradients are
clipped (``clipvalue``, then ``clipnorm`` with torch's ``clip_grad_norm_`` formula) before
the update.

Every slot is kept in its canonical form (``unidl.optimizer_state``: torch.optim's state
semantics), including TF's own kernels' accumulators, which hold exactly torch's buffers:
``get_state`` / ``set_state`` copy them without conversion.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from unidl.errors import NotSupportedError
from unidl.optimizer_state import STEP, optimizer_slots
from unidl.spec import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    AdamW,
    Optimizer,
    RMSprop,
    builder_for,
    register_builder,
)

from ._runtime import BACKEND, tf

__all__ = ["CLIPNORM_EPS", "Updater", "clip_gradients", "make_updater"]

#: torch.nn.utils.clip_grad_norm_'s guard: scale = min(1, clipnorm / (norm + 1e-6)).
CLIPNORM_EPS = 1e-6


def clip_gradients(grads: list[Any], clipnorm: float | None,
                   clipvalue: float | None) -> list[Any]:
    """``clipvalue`` (element-wise clamp), then ``clipnorm`` over all gradients together.

    The norm scale is torch's ``min(1, clipnorm / (norm + 1e-6))``, not TF's
    ``clip_by_global_norm`` (``clipnorm / max(norm, clipnorm)``); the global norm is the
    norm of the per-tensor norms, as torch computes it.
    """
    if clipvalue is not None:
        grads = [tf.clip_by_value(g, -clipvalue, clipvalue) for g in grads]
    if clipnorm is not None and grads:
        norm = tf.norm(tf.stack([tf.norm(tf.reshape(g, [-1])) for g in grads]))
        scale = tf.minimum(tf.constant(1.0, tf.float32), clipnorm / (norm + CLIPNORM_EPS))
        grads = [g * scale for g in grads]
    return grads


class Updater:
    """Optimizer state for a list of ``tf.Variable`` and a graph-friendly ``apply``.

    ``names`` are the canonical parameter names of ``variables``; subclasses register
    their per-parameter slots (one variable per parameter) in ``self.slots`` under the
    canonical slot names of ``unidl.optimizer_state``.
    """

    def __init__(self, spec: Optimizer, variables: list[Any], names: list[str]) -> None:
        self.spec = spec
        self.variables = variables
        self.names = names
        #: The learning rate applied when a plan has no per-step rates (a Python float:
        #: the compiled epoch receives rates as a tensor argument, so changing it never
        #: retraces).
        self.lr = float(spec.lr)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.slots: dict[str, list[Any]] = {}

    def set_learning_rate(self, lr: float) -> None:
        self.lr = float(lr)

    def _slots(self, name: str, init: float = 0.0) -> list[Any]:
        slot = [tf.Variable(tf.fill(tf.shape(v), tf.constant(init, v.dtype)), trainable=False)
                for v in self.variables]
        self.slots[name] = slot
        return slot

    def apply(self, grads: list[Any], lr: Any) -> None:
        """One update with learning rate ``lr`` (float32 scalar tensor)."""
        grads = clip_gradients(list(grads), self.spec.clipnorm, self.spec.clipvalue)
        t = self.step.assign_add(1)
        self._apply(grads, t, lr)

    def _apply(self, grads: list[Any], t: Any, lr: Any) -> None:
        raise NotImplementedError

    # -- canonical state ---------------------------------------------------------------
    def get_state(self) -> dict[str, npt.NDArray[Any]]:
        """``"<layer>/<param>/<slot>"`` (float32) in canonical order, then ``"step"``."""
        out: dict[str, npt.NDArray[Any]] = {}
        for i, name in enumerate(self.names):
            for slot in optimizer_slots(self.spec):
                out[f"{name}/{slot}"] = np.array(self.slots[slot][i].numpy(), np.float32)
        out[STEP] = np.array(float(self.step.numpy()), dtype=np.float64)
        return out

    def set_state(self, state: Mapping[str, npt.NDArray[Any]]) -> None:
        for i, name in enumerate(self.names):
            for slot in optimizer_slots(self.spec):
                var = self.slots[slot][i]
                var.assign(np.asarray(state[f"{name}/{slot}"], np.float32).reshape(var.shape))
        self.step.assign(round(float(np.asarray(state[STEP], np.float64).reshape(-1)[0])))


class _SGD(Updater):
    def __init__(self, spec: SGD, variables: list[Any], names: list[str]) -> None:
        super().__init__(spec, variables, names)
        self.momentum = float(spec.momentum)
        self.nesterov = bool(spec.nesterov)
        self.buf = self._slots("momentum") if self.momentum > 0 else []

    def _apply(self, grads: list[Any], t: Any, lr: Any) -> None:
        if not self.buf:
            for v, g in zip(self.variables, grads, strict=True):
                tf.raw_ops.ResourceApplyGradientDescent(var=v.handle, alpha=lr, delta=g)
            return
        # TF's kernel: accum = m accum + g; p -= lr accum (nesterov: p -= lr (g + m accum)).
        # accum is torch's momentum_buffer (torch starts it at g, i.e. m * 0 + g).
        m = tf.constant(self.momentum, tf.float32)
        for v, b, g in zip(self.variables, self.buf, grads, strict=True):
            tf.raw_ops.ResourceApplyMomentum(var=v.handle, accum=b.handle, lr=lr, grad=g,
                                             momentum=m, use_nesterov=self.nesterov)


class _Adam(Updater):
    def __init__(self, spec: Adam, variables: list[Any], names: list[str]) -> None:
        super().__init__(spec, variables, names)
        self.b1, self.b2, self.eps = float(spec.beta_1), float(spec.beta_2), float(spec.epsilon)
        self.amsgrad = bool(spec.amsgrad)
        self.decay = float(spec.weight_decay) if isinstance(spec, AdamW) else 0.0
        # TF's kernel keeps the raw (uncorrected) moments, as torch does: no conversion.
        self.m, self.v = self._slots("m"), self._slots("v")
        self.vmax = self._slots("v_max") if self.amsgrad else []

    def _apply(self, grads: list[Any], t: Any, lr: Any) -> None:
        tf64 = tf.cast(t, tf.float64)  # bias corrections in float64, like torch's Python floats
        b1p = tf.pow(tf.constant(self.b1, tf.float64), tf64)
        b2p = tf.pow(tf.constant(self.b2, tf.float64), tf64)
        eps_hat = tf.cast(self.eps * tf.sqrt(1.0 - b2p), tf.float32)
        b1p, b2p = tf.cast(b1p, tf.float32), tf.cast(b2p, tf.float32)
        b1, b2 = tf.constant(self.b1, tf.float32), tf.constant(self.b2, tf.float32)
        if self.decay:  # decoupled decay first, with this step's lr, as torch.optim.AdamW
            keep = 1.0 - lr * self.decay
            for v in self.variables:
                v.assign(v * keep)
        for i, (v, g) in enumerate(zip(self.variables, grads, strict=True)):
            if self.amsgrad:  # no XLA kernel for ResourceApplyAdamWithAmsgrad: torch's ops
                m = self.m[i].assign(b1 * self.m[i] + (1.0 - b1) * g)
                sq = self.v[i].assign(b2 * self.v[i] + (1.0 - b2) * tf.square(g))
                vmax = self.vmax[i].assign(tf.maximum(self.vmax[i], sq))
                denom = tf.sqrt(vmax) / tf.sqrt(1.0 - b2p) + self.eps
                v.assign_sub(lr / (1.0 - b1p) * m / denom)
            else:
                tf.raw_ops.ResourceApplyAdam(
                    var=v.handle, m=self.m[i].handle, v=self.v[i].handle, beta1_power=b1p,
                    beta2_power=b2p, lr=lr, beta1=b1, beta2=b2, epsilon=eps_hat, grad=g)


class _RMSprop(Updater):
    def __init__(self, spec: RMSprop, variables: list[Any], names: list[str]) -> None:
        super().__init__(spec, variables, names)
        self.rho, self.eps = float(spec.rho), float(spec.epsilon)
        self.momentum, self.centered = float(spec.momentum), bool(spec.centered)
        self.sq = self._slots("v")
        self.mean = self._slots("mean_grad") if self.centered else []
        self.buf = self._slots("momentum") if self.momentum > 0 else []

    def _apply(self, grads: list[Any], t: Any, lr: Any) -> None:
        rho = self.rho
        for i, (v, g) in enumerate(zip(self.variables, grads, strict=True)):
            sq = self.sq[i].assign(rho * self.sq[i] + (1.0 - rho) * tf.square(g))
            if self.centered:
                mean = self.mean[i].assign(rho * self.mean[i] + (1.0 - rho) * g)
                avg = tf.sqrt(sq - tf.square(mean)) + self.eps
            else:
                avg = tf.sqrt(sq) + self.eps
            if self.buf:
                b = self.buf[i].assign(self.momentum * self.buf[i] + g / avg)
                v.assign_sub(lr * b)
            else:
                v.assign_sub(lr * g / avg)


class _Adagrad(Updater):
    def __init__(self, spec: Adagrad, variables: list[Any], names: list[str]) -> None:
        super().__init__(spec, variables, names)
        self.eps = tf.constant(float(spec.epsilon), tf.float32)
        self.acc = self._slots("accumulator", float(spec.initial_accumulator_value))

    def _apply(self, grads: list[Any], t: Any, lr: Any) -> None:
        # TF's kernel: s += g^2; p -= lr g / (sqrt(s) + eps).
        for v, s, g in zip(self.variables, self.acc, grads, strict=True):
            tf.raw_ops.ResourceApplyAdagradV2(var=v.handle, accum=s.handle, lr=lr,
                                              epsilon=self.eps, grad=g)


class _Adadelta(Updater):
    def __init__(self, spec: Adadelta, variables: list[Any], names: list[str]) -> None:
        super().__init__(spec, variables, names)
        self.rho = tf.constant(float(spec.rho), tf.float32)
        self.eps = tf.constant(float(spec.epsilon), tf.float32)
        self.acc, self.acc_delta = self._slots("v"), self._slots("u")

    def _apply(self, grads: list[Any], t: Any, lr: Any) -> None:
        # TF's kernel is Zeiler's rule with lr, exactly the documented one; accum is the
        # mean square gradient v, accum_update the mean square update u.
        for v, a, d, g in zip(self.variables, self.acc, self.acc_delta, grads, strict=True):
            tf.raw_ops.ResourceApplyAdadelta(var=v.handle, accum=a.handle,
                                             accum_update=d.handle, lr=lr, rho=self.rho,
                                             epsilon=self.eps, grad=g)


register_builder(SGD, BACKEND, _SGD)
register_builder(Adam, BACKEND, _Adam)
register_builder(AdamW, BACKEND, _Adam)  # Adam with the decoupled decay of its spec
register_builder(RMSprop, BACKEND, _RMSprop)
register_builder(Adagrad, BACKEND, _Adagrad)
register_builder(Adadelta, BACKEND, _Adadelta)


def make_updater(spec: Optimizer, variables: list[Any], names: list[str]) -> Updater:
    """A fresh optimizer state for ``variables`` (canonical ``names``; call inside the
    model's device scope), from the keras builder registered for ``spec``'s kind."""
    factory = builder_for("optimizer", spec.kind, BACKEND)
    if factory is None:
        raise NotSupportedError(
            f"the {BACKEND!r} backend has no builder for optimizer {spec.kind!r}; register "
            f"one with unidl.register_builder({type(spec).__name__}, {BACKEND!r}, factory), "
            "factory(spec, variables, names) returning a unidl_keras.optimizers.Updater")
    updater = factory(spec, variables, names)  # type: ignore[operator]
    if not isinstance(updater, Updater):
        raise NotSupportedError(f"the {BACKEND!r} builder of optimizer {spec.kind!r} "
                                f"returned {type(updater).__name__}, not an Updater")
    return updater
