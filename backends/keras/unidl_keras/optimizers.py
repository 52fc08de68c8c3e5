"""unidl optimizer specs as TensorFlow update rules, exactly the documented formulas.

The formulas (unidl.spec.training) are torch.optim's. Keras' built-in optimizers differ in
places (Adam's epsilon on the uncorrected sqrt(v), RMSprop's epsilon inside the sqrt, SGD's
``v = m v - lr g``), so they are not used. Where one of TensorFlow's fused ``ResourceApply*``
kernels computes the documented formula it is used (one kernel per variable instead of a
dozen element-wise ops, which matters on small models); RMSprop is written out.

Adam: TF's kernel computes ``p -= lr sqrt(1-b2^t)/(1-b1^t) m / (sqrt(v) + eps')``. With
``eps' = eps sqrt(1-b2^t)`` that is algebraically ``p -= lr m^ / (sqrt(v^) + eps)``, the
documented (torch) placement of epsilon.
"""

from __future__ import annotations

from typing import Any

from unidl.errors import NotSupportedError
from unidl.spec.training import SGD, Adadelta, Adagrad, Adam, AdamW, Optimizer, RMSprop

from ._runtime import tf

__all__ = ["Updater", "make_updater"]


class Updater:
    """Optimizer state for a list of ``tf.Variable`` and a graph-friendly ``apply``."""

    def __init__(self, spec: Optimizer, variables: list[Any]) -> None:
        self.spec = spec
        self.variables = variables
        # Variables, not Python floats, so a schedule can change lr without retracing.
        self.lr = tf.Variable(spec.lr, dtype=tf.float32, trainable=False, name="lr")
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")

    def set_learning_rate(self, lr: float) -> None:
        self.lr.assign(lr)

    def _slots(self, init: float = 0.0) -> list[Any]:
        return [tf.Variable(tf.fill(tf.shape(v), tf.constant(init, v.dtype)), trainable=False)
                for v in self.variables]

    def apply(self, grads: list[Any]) -> None:
        t = self.step.assign_add(1)
        self._apply(grads, t)

    def _apply(self, grads: list[Any], t: Any) -> None:
        raise NotImplementedError


class _SGD(Updater):
    def __init__(self, spec: SGD, variables: list[Any]) -> None:
        super().__init__(spec, variables)
        self.momentum = float(spec.momentum)
        self.nesterov = bool(spec.nesterov)
        self.buf = self._slots() if self.momentum > 0 else []

    def _apply(self, grads: list[Any], t: Any) -> None:
        if not self.buf:
            for v, g in zip(self.variables, grads, strict=True):
                tf.raw_ops.ResourceApplyGradientDescent(var=v.handle, alpha=self.lr, delta=g)
            return
        # TF's kernel: accum = m accum + g; p -= lr accum (nesterov: p -= lr (g + m accum)).
        m = tf.constant(self.momentum, tf.float32)
        for v, b, g in zip(self.variables, self.buf, grads, strict=True):
            tf.raw_ops.ResourceApplyMomentum(var=v.handle, accum=b.handle, lr=self.lr, grad=g,
                                             momentum=m, use_nesterov=self.nesterov)


class _Adam(Updater):
    def __init__(self, spec: Adam, variables: list[Any]) -> None:
        super().__init__(spec, variables)
        self.b1, self.b2, self.eps = float(spec.beta_1), float(spec.beta_2), float(spec.epsilon)
        self.amsgrad = bool(spec.amsgrad)
        self.decay = float(spec.weight_decay) if isinstance(spec, AdamW) else 0.0
        self.m, self.v = self._slots(), self._slots()
        self.vmax = self._slots() if self.amsgrad else []

    def _apply(self, grads: list[Any], t: Any) -> None:
        tf64 = tf.cast(t, tf.float64)  # bias corrections in float64, like torch's Python floats
        b1p = tf.pow(tf.constant(self.b1, tf.float64), tf64)
        b2p = tf.pow(tf.constant(self.b2, tf.float64), tf64)
        eps_hat = tf.cast(self.eps * tf.sqrt(1.0 - b2p), tf.float32)
        b1p, b2p = tf.cast(b1p, tf.float32), tf.cast(b2p, tf.float32)
        b1, b2 = tf.constant(self.b1, tf.float32), tf.constant(self.b2, tf.float32)
        if self.decay:  # decoupled decay first, as torch.optim.AdamW
            keep = 1.0 - self.lr * self.decay
            for v in self.variables:
                v.assign(v * keep)
        for i, (v, g) in enumerate(zip(self.variables, grads, strict=True)):
            if self.amsgrad:  # no XLA kernel for ResourceApplyAdamWithAmsgrad: torch's ops
                m = self.m[i].assign(b1 * self.m[i] + (1.0 - b1) * g)
                sq = self.v[i].assign(b2 * self.v[i] + (1.0 - b2) * tf.square(g))
                vmax = self.vmax[i].assign(tf.maximum(self.vmax[i], sq))
                denom = tf.sqrt(vmax) / tf.sqrt(1.0 - b2p) + self.eps
                v.assign_sub(self.lr / (1.0 - b1p) * m / denom)
            else:
                tf.raw_ops.ResourceApplyAdam(
                    var=v.handle, m=self.m[i].handle, v=self.v[i].handle, beta1_power=b1p,
                    beta2_power=b2p, lr=self.lr, beta1=b1, beta2=b2, epsilon=eps_hat, grad=g)


class _RMSprop(Updater):
    def __init__(self, spec: RMSprop, variables: list[Any]) -> None:
        super().__init__(spec, variables)
        self.rho, self.eps = float(spec.rho), float(spec.epsilon)
        self.momentum, self.centered = float(spec.momentum), bool(spec.centered)
        self.sq = self._slots()
        self.mean = self._slots() if self.centered else []
        self.buf = self._slots() if self.momentum > 0 else []

    def _apply(self, grads: list[Any], t: Any) -> None:
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
                v.assign_sub(self.lr * b)
            else:
                v.assign_sub(self.lr * g / avg)


class _Adagrad(Updater):
    def __init__(self, spec: Adagrad, variables: list[Any]) -> None:
        super().__init__(spec, variables)
        self.eps = tf.constant(float(spec.epsilon), tf.float32)
        self.acc = self._slots(float(spec.initial_accumulator_value))

    def _apply(self, grads: list[Any], t: Any) -> None:
        # TF's kernel: s += g^2; p -= lr g / (sqrt(s) + eps).
        for v, s, g in zip(self.variables, self.acc, grads, strict=True):
            tf.raw_ops.ResourceApplyAdagradV2(var=v.handle, accum=s.handle, lr=self.lr,
                                              epsilon=self.eps, grad=g)


class _Adadelta(Updater):
    def __init__(self, spec: Adadelta, variables: list[Any]) -> None:
        super().__init__(spec, variables)
        self.rho = tf.constant(float(spec.rho), tf.float32)
        self.eps = tf.constant(float(spec.epsilon), tf.float32)
        self.acc, self.acc_delta = self._slots(), self._slots()

    def _apply(self, grads: list[Any], t: Any) -> None:
        # TF's kernel is Zeiler's rule with lr, exactly the documented one.
        for v, a, d, g in zip(self.variables, self.acc, self.acc_delta, grads, strict=True):
            tf.raw_ops.ResourceApplyAdadelta(var=v.handle, accum=a.handle,
                                             accum_update=d.handle, lr=self.lr, rho=self.rho,
                                             epsilon=self.eps, grad=g)


def make_updater(spec: Optimizer, variables: list[Any]) -> Updater:
    """A fresh optimizer state for ``variables`` (call inside the model's device scope)."""
    if isinstance(spec, SGD):
        return _SGD(spec, variables)
    if isinstance(spec, Adam):  # AdamW included
        return _Adam(spec, variables)
    if isinstance(spec, RMSprop):
        return _RMSprop(spec, variables)
    if isinstance(spec, Adagrad):
        return _Adagrad(spec, variables)
    if isinstance(spec, Adadelta):
        return _Adadelta(spec, variables)
    raise NotSupportedError(f"the keras backend has no optimizer {type(spec).__name__!r}")

