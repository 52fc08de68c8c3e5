"""Kinds of one's own for the torch backend tests, registered the way users do (by
:func:`register`, when the tests that use them run): a layer with weights, an activation
that is elementwise and one that is not, two losses, a merge, a layer registered as a
``TorchLayer``, an optimizer, and kinds without (or with broken) torch builders.

Kind names start with ``Torch``/``torch_``: both backends' tests may run in one process,
and a name belongs to the module that registered it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from unidl_torch import BuildContext, TorchLayer, Weight

import unidl
from unidl.backend import TrainingSetup
from unidl.data import EpochPlan, epoch_plan
from unidl.losses import per_sample_loss
from unidl.spec import Merge, ParamInfo, Shape
from unidl.spec.activations import check_activation, reference_activation
from unidl.testing.reference import forward

Array = Any


# -- the kinds -------------------------------------------------------------------------
@dataclass(frozen=True)
class TorchTestScale(unidl.Layer):
    """``activation(x * scale + shift)`` per feature: ``scale`` trained, ``shift`` state."""

    activation: str | None = None
    name: str | None = None
    kind: ClassVar[str] = "TorchTestScale"
    name_prefix: ClassVar[str] = "torch_test_scale"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "activation",
                           check_activation(self.activation, "TorchTestScale.activation"))

    def params(self, input_shape: Shape) -> dict[str, ParamInfo]:
        c = (input_shape[-1],)
        return {"scale": ParamInfo(c, "ones"), "shift": ParamInfo(c, "zeros", trainable=False)}

    def reference(self, x: Array, weights: Mapping[str, Array]) -> Array:
        return reference_activation(self.final_activation,
                                    x * weights["scale"] + weights["shift"])


class _ScaleModule(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(channels))
        self.register_buffer("shift", torch.zeros(channels))
        self.shift: torch.Tensor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift


CONTEXTS: list[BuildContext] = []


def _build_scale(layer: TorchTestScale, ctx: BuildContext) -> nn.Module:
    CONTEXTS.append(ctx)
    return _ScaleModule(ctx.input_shape[-1])  # on the CPU: the backend moves it to ctx.device


def _l1_normalise(x: Array) -> Array:
    return np.asarray(x / (1 + np.abs(x).sum(axis=-1, keepdims=True)))



LOSS_CALLS: list[bool] = []


def _log_cosh(spec: unidl.Loss, logits: bool) -> Callable[[torch.Tensor, torch.Tensor],
                                                           torch.Tensor]:
    LOSS_CALLS.append(logits)
    return lambda y_true, y_pred: torch.log(torch.cosh(y_pred - y_true))  # per element


def _nll(t: Array, p: Array, spec: Any) -> Array:
    return -np.log(np.take_along_axis(p, t[:, None], 1)[:, 0])


@dataclass(frozen=True)
class TorchTestMax(Merge):
    """The elementwise maximum of its inputs (a merge of one's own)."""

    name: str | None = None
    kind: ClassVar[str] = "TorchTestMax"
    name_prefix: ClassVar[str] = "torch_test_max"

    def reference(self, x: Any, weights: Mapping[str, Array]) -> Array:
        return np.asarray(np.maximum.reduce(list(x)))


class _MaxModule(nn.Module):
    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = torch.maximum(out, x)
        return out


@dataclass(frozen=True)
class TorchTestProject(unidl.Layer):
    """``x @ kernel`` on the last axis; its torch builder keeps torch's (out, in) layout."""

    units: int = 3
    name: str | None = None
    kind: ClassVar[str] = "TorchTestProject"
    name_prefix: ClassVar[str] = "torch_test_project"

    def output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape[:-1], self.units)

    def params(self, input_shape: Shape) -> dict[str, ParamInfo]:
        return {"kernel": ParamInfo((input_shape[-1], self.units), "glorot_uniform")}

    def reference(self, x: Array, weights: Mapping[str, Array]) -> Array:
        return np.asarray(x @ weights["kernel"])


def _transpose(a: Array) -> Array:
    return a.T


@dataclass(frozen=True)
class TorchTestUnbuilt(unidl.Layer):
    """A kind no backend has a builder for."""

    name: str | None = None
    kind: ClassVar[str] = "TorchTestUnbuilt"

    def reference(self, x: Array, weights: Mapping[str, Array]) -> Array:
        return x


@dataclass(frozen=True)
class TorchTestMisbuilt(unidl.Layer):
    """A kind whose torch builder gets its canonical parameter wrong in one of three ways."""

    mistake: str = "name"
    name: str | None = None
    kind: ClassVar[str] = "TorchTestMisbuilt"

    def params(self, input_shape: Shape) -> dict[str, ParamInfo]:
        return {"scale": ParamInfo((input_shape[-1],), "ones")}

    def reference(self, x: Array, weights: Mapping[str, Array]) -> Array:
        return np.asarray(x * weights["scale"])


class _Misbuilt(nn.Module):
    def __init__(self, mistake: str, channels: int) -> None:
        super().__init__()
        if mistake == "name":
            self.gain = nn.Parameter(torch.ones(channels))
        elif mistake == "shape":
            self.scale = nn.Parameter(torch.ones(channels + 1))
        else:  # a trainable parameter held as a buffer: it would never train
            self.register_buffer("scale", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


@dataclass(frozen=True)
class TorchTestSignSGD(unidl.Optimizer):
    """``p -= lr * sign(g)``."""

    lr: float = 0.01
    kind: ClassVar[str] = "TorchTestSignSGD"


class _SignSGD(torch.optim.Optimizer):
    def __init__(self, params: list[nn.Parameter], lr: float) -> None:
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.sub_(group["lr"] * torch.sign(p.grad))


@dataclass(frozen=True)
class TorchTestUnbuiltOpt(unidl.Optimizer):
    kind: ClassVar[str] = "TorchTestUnbuiltOpt"


def _softsign(x: Array) -> Array:
    return np.asarray(x / (1 + np.abs(x)))


def _project(layer: TorchTestProject, ctx: BuildContext) -> nn.Module:
    return nn.Linear(ctx.input_shape[-1], layer.units, bias=False, device=ctx.device)


def _misbuilt(layer: TorchTestMisbuilt, ctx: BuildContext) -> nn.Module:
    return _Misbuilt(layer.mistake, ctx.input_shape[-1])


def _sign_sgd(spec: TorchTestSignSGD, params: list[nn.Parameter],
              device: torch.device) -> torch.optim.Optimizer:
    return _SignSGD(params, spec.lr)


def register() -> None:
    """Register every kind here, and the torch builders of those that have one.

    Called by a module-scoped fixture when the tests that use them run, not at import:
    other test modules parametrize over the registries when collected and must not meet
    these (one of them deliberately without a torch builder). Registering again from this
    module replaces its own entries."""
    for layer in (TorchTestScale, TorchTestMax, TorchTestProject, TorchTestUnbuilt,
                  TorchTestMisbuilt):
        unidl.register_layer(layer)
    for opt in (TorchTestSignSGD, TorchTestUnbuiltOpt):
        unidl.register_optimizer(opt)
    unidl.register_builder(TorchTestScale, "torch", _build_scale)
    unidl.register_builder(TorchTestMax, "torch", lambda layer, ctx: _MaxModule())
    # the richer form a builder may register directly: torch's name and layout for the kernel
    unidl.register_builder(TorchTestProject, "torch", TorchLayer(
        _project, weights={"kernel": Weight("weight", _transpose, _transpose)}))
    unidl.register_builder(TorchTestMisbuilt, "torch", _misbuilt)
    unidl.register_builder(TorchTestSignSGD, "torch", _sign_sgd)

    softsign = unidl.register_activation("torch_test_softsign", _softsign)
    unidl.register_builder(softsign, "torch", lambda x: x / (1 + x.abs()))
    # mixes the channels (like softmax): inside a channels-first stretch the backend moves
    # them last around the function
    l1_norm = unidl.register_activation("torch_test_l1_normalise", _l1_normalise,
                                        elementwise=False)
    unidl.register_builder(l1_norm, "torch",
                           lambda x: x / (1 + x.abs().sum(dim=-1, keepdim=True)))
    log_cosh = unidl.register_loss("torch_test_log_cosh",
                                   lambda t, p, spec: np.log(np.cosh(p - t)))
    unidl.register_builder(log_cosh, "torch", _log_cosh)
    # a class-index loss: y_true must arrive as int64 class indices of shape (n,)
    nll = unidl.register_loss("torch_test_nll", _nll, target="class_index")
    unidl.register_builder(nll, "torch", lambda spec, logits: lambda y, p: -torch.log(
        p.gather(1, y[:, None])[:, 0]))
    unidl.register_activation("torch_test_unbuilt_act", lambda x: x)
    unidl.register_loss("torch_test_unbuilt_loss", lambda t, p, spec: (t - p) ** 2)


# -- helpers ---------------------------------------------------------------------------
def scaled_mlp(act: str | None = "torch_test_softsign") -> unidl.Sequential:
    return unidl.Sequential([unidl.Input((5,)), unidl.Dense(4, name="pre"),
                             TorchTestScale(activation=act, name="scale"),
                             unidl.Dense(3, name="post")])


def random_weights(spec: unidl.Sequential | unidl.Graph, rng: np.random.Generator
                    ) -> dict[str, Array]:
    return {k: rng.standard_normal(info.shape).astype(np.float32)
            for k, info in spec.params.items()}


def setup(loss: str, opt: Any = None) -> TrainingSetup:
    return TrainingSetup(unidl.Loss(loss), opt or unidl.SGD(lr=0.05), False, 0)


def one_batch(n: int) -> EpochPlan:
    return epoch_plan(n, n, 0, 0, shuffle=False)


def numeric_grads(spec: unidl.Sequential | unidl.Graph, loss: unidl.Loss,
                   w: Mapping[str, Array], x: Any, y: Any) -> dict[str, Array]:
    """Central differences of the NumPy reference loss (float64) for every trainable
    parameter."""
    w64 = {k: np.array(v, np.float64) for k, v in w.items()}
    graph = isinstance(spec, unidl.Graph)

    def value() -> float:
        out = forward(spec, w64, x)
        return float(per_sample_loss(loss, y, out[0] if graph else out).mean())

    grads: dict[str, Array] = {}
    eps = 1e-6
    for name, info in spec.params.items():
        if not info.trainable:
            continue
        flat, g = w64[name].reshape(-1), np.zeros(w64[name].size)
        for i in range(flat.size):
            saved = flat[i]
            flat[i] = saved + eps
            up = value()
            flat[i] = saved - eps
            down = value()
            flat[i] = saved
            g[i] = (up - down) / (2 * eps)
        grads[name] = g.reshape(info.shape)
    return grads
