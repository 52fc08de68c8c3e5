"""Kinds of one's own on the keras backend: a layer with weights, an activation, a loss
(and an optimizer), each registered the way users do, checked against its NumPy reference;
and a kind without a keras builder is a clear error before training.

Kind names start with ``Keras``/``keras_``: both backends' tests may run in one process,
and a name belongs to the module that registered it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from keras_helpers import build, one_batch_epoch
from unidl_keras import BuildContext, KerasBackend
from unidl_keras._runtime import keras, tf
from unidl_keras.optimizers import Updater

import unidl
from unidl.backend import TrainingSetup
from unidl.data import ArrayData, EpochPlan
from unidl.losses import compute_loss
from unidl.spec import ParamInfo, Shape
from unidl.spec.activations import check_activation, reference_activation
from unidl.testing import kinds
from unidl.testing.reference import forward

Array = Any


# -- the kinds -------------------------------------------------------------------------
@dataclass(frozen=True)
class KerasTestScale(unidl.Layer):
    """``activation(x * scale + shift)`` per feature: ``scale`` trained, ``shift`` state."""

    activation: str | None = None
    name: str | None = None
    kind: ClassVar[str] = "KerasTestScale"
    name_prefix: ClassVar[str] = "keras_test_scale"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "activation",
                           check_activation(self.activation, "KerasTestScale.activation"))

    def params(self, input_shape: Shape) -> dict[str, ParamInfo]:
        c = (input_shape[-1],)
        return {"scale": ParamInfo(c, "ones"), "shift": ParamInfo(c, "zeros", trainable=False)}

    def reference(self, x: Array, weights: Mapping[str, Array]) -> Array:
        return reference_activation(self.final_activation,
                                    x * weights["scale"] + weights["shift"])


class _ScaleLayer(keras.layers.Layer):  # type: ignore[misc]
    def build(self, input_shape: Any) -> None:
        c = (input_shape[-1],)
        self.scale = self.add_weight(name="scale", shape=c, initializer="ones")
        self.shift = self.add_weight(name="shift", shape=c, initializer="zeros",
                                     trainable=False)

    def call(self, x: Any) -> Any:
        return x * self.scale + self.shift


CONTEXTS: list[BuildContext] = []


def _build_scale(layer: KerasTestScale, ctx: BuildContext) -> Any:
    CONTEXTS.append(ctx)
    return _ScaleLayer(name=ctx.name)




def _nll(t: Array, p: Array, spec: Any) -> Array:
    return -np.log(np.take_along_axis(p, t[:, None], 1)[:, 0])




@dataclass(frozen=True)
class KerasTestUnbuilt(unidl.Layer):
    """A kind no backend has a builder for."""

    name: str | None = None
    kind: ClassVar[str] = "KerasTestUnbuilt"

    def reference(self, x: Array, weights: Mapping[str, Array]) -> Array:
        return x


@dataclass(frozen=True)
class KerasTestMisnamed(unidl.Layer):
    """A kind whose keras builder forgets the canonical variable name."""

    name: str | None = None
    kind: ClassVar[str] = "KerasTestMisnamed"

    def params(self, input_shape: Shape) -> dict[str, ParamInfo]:
        return {"scale": ParamInfo((input_shape[-1],), "ones")}

    def reference(self, x: Array, weights: Mapping[str, Array]) -> Array:
        return x * weights["scale"]


class _Misnamed(keras.layers.Layer):  # type: ignore[misc]
    def build(self, input_shape: Any) -> None:
        self.w = self.add_weight(name="gain", shape=(input_shape[-1],), initializer="ones")

    def call(self, x: Any) -> Any:
        return x * self.w




@dataclass(frozen=True)
class KerasTestSignSGD(unidl.Optimizer):
    """``p -= lr * sign(g)``."""

    lr: float = 0.01
    kind: ClassVar[str] = "KerasTestSignSGD"


class _SignSGD(Updater):
    def _apply(self, grads: list[Any], t: Any, lr: Any) -> None:
        for v, g in zip(self.variables, grads, strict=True):
            v.assign_sub(lr * tf.sign(g))




@dataclass(frozen=True)
class KerasTestUnbuiltOpt(unidl.Optimizer):
    kind: ClassVar[str] = "KerasTestUnbuiltOpt"


@keras.saving.register_keras_serializable(package="unidl_keras_tests")
class _SerialisableScale(_ScaleLayer):
    pass


@dataclass(frozen=True)
class KerasTestSavedScale(KerasTestScale):
    kind: ClassVar[str] = "KerasTestSavedScale"


@pytest.fixture(scope="module", autouse=True)
def _register_kinds() -> None:
    """Register the kinds once this module's tests run, not when it is imported: tests
    elsewhere parametrize over the registries when collected, and must not meet these."""
    for layer in (KerasTestScale, KerasTestUnbuilt, KerasTestMisnamed, KerasTestSavedScale):
        unidl.register_layer(layer)
    for opt in (KerasTestSignSGD, KerasTestUnbuiltOpt):
        unidl.register_optimizer(opt)
    unidl.register_builder(KerasTestScale, "keras", _build_scale)
    unidl.register_builder(KerasTestMisnamed, "keras",
                           lambda layer, ctx: _Misnamed(name=ctx.name))
    unidl.register_builder(KerasTestSavedScale, "keras",
                           lambda layer, ctx: _SerialisableScale(name=ctx.name))
    unidl.register_builder(KerasTestSignSGD, "keras", _SignSGD)

    softsign = unidl.register_activation("keras_test_softsign",
                                         lambda x: x / (1 + np.abs(x)))
    unidl.register_builder(softsign, "keras", lambda x: x / (1 + keras.ops.abs(x)))
    log_cosh = unidl.register_loss("keras_test_log_cosh",
                                   lambda t, p, spec: np.log(np.cosh(p - t)))
    unidl.register_builder(log_cosh, "keras", lambda spec, logits: lambda y, p: keras.ops.log(
        keras.ops.cosh(p - y)))
    # a class-index loss: y_true must arrive as int class indices of shape (n,)
    nll = unidl.register_loss("keras_test_nll", _nll, target="class_index")
    unidl.register_builder(nll, "keras", lambda spec, logits: lambda y, p: -tf.math.log(
        tf.gather(p, y, axis=1, batch_dims=1)))
    unidl.register_activation("keras_test_unbuilt_act", lambda x: x)
    unidl.register_loss("keras_test_unbuilt_loss", lambda t, p, spec: (t - p) ** 2)


# -- helpers ---------------------------------------------------------------------------
def _scaled_mlp(act: str | None = "keras_test_softsign") -> unidl.Sequential:
    return unidl.Sequential([unidl.Input((5,)), unidl.Dense(4, name="pre"),
                             KerasTestScale(activation=act, name="scale"),
                             unidl.Dense(3, name="post")])


def _random_weights(spec: unidl.Sequential | unidl.Graph, rng: np.random.Generator
                    ) -> dict[str, Array]:
    return {k: rng.standard_normal(info.shape).astype(np.float32)
            for k, info in spec.params.items()}


def _setup(loss: str, opt: Any = None) -> TrainingSetup:
    return TrainingSetup(unidl.Loss(loss), opt or unidl.SGD(lr=0.05), False, 0)


# -- forward ---------------------------------------------------------------------------
def test_custom_layer_and_activation_forward_match_the_reference(
        rng: np.random.Generator) -> None:
    spec = _scaled_mlp()
    w = _random_weights(spec, rng)
    model = build(spec, weights=w)
    x = (rng.standard_normal((9, 5)) * 3).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, 4), forward(spec, w, x), rtol=1e-5,
                               atol=1e-5)
    assert list(model.get_weights()) == list(spec.params)
    ctx = CONTEXTS[-1]
    assert (ctx.name, ctx.input_shape, ctx.output_shape, ctx.input_shapes) == \
        ("scale", (4,), (4,), ((4,),))
    # the activation is a separate layer after the custom one, as for built-in kinds
    names = [layer.name for layer in model.keras_model.layers]
    assert names[names.index("scale") + 1] == "scale_keras_test_softsign"


def test_custom_kinds_in_a_graph_with_a_shared_layer(tmp_path: Path,
                                                     rng: np.random.Generator) -> None:
    a, b = unidl.Input((4,), name="a"), unidl.Input((4,), name="b")
    shared = KerasTestScale(activation="keras_test_softsign", name="shared")
    merged = unidl.Add()([shared(a), shared(b)])
    out = unidl.Dense(2, activation="keras_test_softsign", name="out")(merged)
    spec = unidl.Graph(inputs=[a, b], outputs=out, name="keras_test_graph")
    w = _random_weights(spec, rng)
    model = build(spec, weights=w)
    x = tuple(rng.standard_normal((6, 4)).astype(np.float32) for _ in range(2))
    (got,) = model.predict(x, 4)
    (want,) = forward(spec, w, x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert sorted(model.get_weights()) == sorted(spec.params)  # one set: shared
    # saved and loaded through the portable format, weights matched by canonical names
    saved = unidl.build(spec, backend="keras", seed=0)
    saved.set_weights(w)
    saved.save(tmp_path / "graph")
    back = unidl.load(tmp_path / "graph", backend="keras").predict(x)  # one output: an array
    np.testing.assert_allclose(back, got, rtol=0, atol=1e-6)


def test_the_core_checks_pass_on_keras() -> None:
    kinds.check_layer(KerasTestScale(), (5,), "keras")
    kinds.check_layer(KerasTestScale(activation="keras_test_softsign"), (3, 4), "keras")
    kinds.check_activation("keras_test_softsign", "keras")
    kinds.check_loss("keras_test_log_cosh", "keras")


# -- training --------------------------------------------------------------------------
def test_one_sgd_step_through_the_custom_layer(rng: np.random.Generator) -> None:
    """mse of ``x * scale + shift``: the step is the analytic gradient, shift stays."""
    spec = unidl.Sequential([unidl.Input((3,)), KerasTestScale(name="scale")])
    w = {"scale/scale": rng.uniform(0.5, 2, 3).astype(np.float32),
         "scale/shift": rng.standard_normal(3).astype(np.float32)}
    model = build(spec, weights=w)
    x = rng.standard_normal((8, 3)).astype(np.float32)
    y = rng.standard_normal((8, 3)).astype(np.float32)
    model.configure(_setup("mse", unidl.SGD(lr=0.1)))
    loss = one_batch_epoch(model, x, y).loss
    s, b = w["scale/scale"].astype(np.float64), w["scale/shift"].astype(np.float64)
    e = x * s + b - y
    assert loss == pytest.approx(float((e ** 2).mean()), rel=1e-5)
    grad = 2 * (e * x).sum(0) / e.size
    after = model.get_weights()
    np.testing.assert_allclose(after["scale/scale"], s - 0.1 * grad, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(after["scale/shift"], w["scale/shift"])


@pytest.mark.parametrize("weighted", [False, True])
def test_custom_loss_equals_its_reference(weighted: bool, rng: np.random.Generator) -> None:
    spec = _scaled_mlp()
    model = build(spec, weights=_random_weights(spec, rng))
    x = rng.standard_normal((20, 5)).astype(np.float32)
    y = rng.standard_normal((20, 3)).astype(np.float32)
    sw = rng.uniform(0, 2, 20).astype(np.float32) if weighted else None
    pred = model.predict(x, 64)
    loss = unidl.Loss("keras_test_log_cosh")
    per = np.log(np.cosh(pred.astype(np.float64) - y)).mean(1)
    want = float((per * (1.0 if sw is None else sw)).mean())
    assert compute_loss(loss, y, pred) == pytest.approx(float(per.mean()), rel=1e-6)
    model.configure(_setup("keras_test_log_cosh"))
    got = model.train_epoch(ArrayData(x, y, sw), EpochPlan(np.arange(20), 20), False).loss
    assert got == pytest.approx(want, rel=1e-5)


def test_a_class_index_custom_loss_gets_integer_targets(rng: np.random.Generator) -> None:
    spec = unidl.Sequential([unidl.Input((5,)), unidl.Dense(4, activation="softmax")])
    model = build(spec)
    x = rng.standard_normal((16, 5)).astype(np.float32)
    y = rng.integers(0, 4, 16)
    want = compute_loss(unidl.Loss("keras_test_nll"), y, model.predict(x, 64))
    model.configure(_setup("keras_test_nll"))
    assert one_batch_epoch(model, x, y).loss == pytest.approx(want, rel=1e-5)


def test_fit_save_load_with_custom_kinds(tmp_path: Path, rng: np.random.Generator) -> None:
    spec = _scaled_mlp()
    x = rng.standard_normal((64, 5)).astype(np.float32)
    y = np.tanh(x[:, :3]).astype(np.float32)
    model = unidl.fit(spec, (x, y), backend="keras", loss="keras_test_log_cosh",
                      optimizer=unidl.Adam(lr=1e-2), epochs=4, batch_size=16, seed=0,
                      verbose=0)
    losses = model.history["loss"]
    assert losses[-1] < losses[0]
    model.save(tmp_path / "scaled")
    back = unidl.load(tmp_path / "scaled", backend="keras")
    np.testing.assert_allclose(back.predict(x), model.predict(x), rtol=0, atol=1e-6)
    assert back.evaluate((x, y))["loss"] == pytest.approx(model.evaluate((x, y))["loss"])


def test_a_custom_optimizer_builder(rng: np.random.Generator) -> None:
    spec = unidl.Sequential([unidl.Input((3,)), KerasTestScale(name="scale")])
    model = build(spec)
    before = model.get_weights()["scale/scale"]
    x = rng.standard_normal((8, 3)).astype(np.float32)
    y = rng.standard_normal((8, 3)).astype(np.float32)
    model.configure(_setup("mse", KerasTestSignSGD(lr=0.25)))
    one_batch_epoch(model, x, y)
    step = before - model.get_weights()["scale/scale"]
    np.testing.assert_allclose(np.abs(step), 0.25, rtol=1e-6)


# -- capabilities and missing builders -------------------------------------------------
def test_capabilities_are_read_from_the_builders() -> None:
    caps = KerasBackend().capabilities
    assert "KerasTestScale" in caps.layers and "KerasTestUnbuilt" not in caps.layers
    assert "keras_test_softsign" in caps.activations
    assert "keras_test_unbuilt_act" not in caps.activations
    assert {"keras_test_log_cosh", "keras_test_nll"} <= caps.losses
    assert "keras_test_unbuilt_loss" not in caps.losses
    assert "KerasTestSignSGD" in caps.optimizers
    assert "KerasTestUnbuiltOpt" not in caps.optimizers
    for family, names in (("layer", unidl.spec.LAYER_KINDS.builtins()),
                          ("activation", unidl.spec.ACTIVATION_KINDS.builtins()),
                          ("loss", unidl.spec.LOSS_KINDS.builtins()),
                          ("optimizer", unidl.spec.OPTIMIZER_KINDS.builtins())):
        missing = [n for n in names if unidl.spec.builder_for(family, n, "keras") is None]
        assert not missing, (family, missing)


def test_a_layer_without_a_keras_builder_fails_at_build() -> None:
    spec = unidl.Sequential([unidl.Input((3,)), KerasTestUnbuilt(name="nope")])
    with pytest.raises(unidl.NotSupportedError, match=r"KerasTestUnbuilt.*'keras'|'keras'"
                       r".*KerasTestUnbuilt"):
        build(spec)
    with pytest.raises(unidl.NotSupportedError, match="KerasTestUnbuilt") as info:
        unidl.build(spec, backend="keras")
    assert "keras" in str(info.value)


def test_an_activation_without_a_keras_builder_fails_at_build() -> None:
    spec = unidl.Sequential([unidl.Input((3,)),
                             unidl.Dense(2, activation="keras_test_unbuilt_act")])
    with pytest.raises(unidl.NotSupportedError,
                       match=r"'keras'.*keras_test_unbuilt_act"):
        build(spec)
    a = unidl.Input((3,), name="a")
    graph = unidl.Graph(inputs=a, outputs=unidl.Activation("keras_test_unbuilt_act")(a))
    with pytest.raises(unidl.NotSupportedError, match="keras_test_unbuilt_act"):
        build(graph)


def test_a_loss_or_optimizer_without_a_keras_builder_fails_before_training() -> None:
    model = build(unidl.Sequential([unidl.Input((3,)), unidl.Dense(2)]))
    with pytest.raises(unidl.NotSupportedError, match=r"'keras'.*keras_test_unbuilt_loss"):
        model.configure(_setup("keras_test_unbuilt_loss"))
    with pytest.raises(unidl.NotSupportedError, match=r"'keras'.*KerasTestUnbuiltOpt"):
        model.configure(_setup("mse", KerasTestUnbuiltOpt()))
    spec = unidl.Sequential([unidl.Input((3,)), unidl.Dense(2)])
    data = (np.zeros((4, 3), np.float32), np.zeros((4, 2), np.float32))
    with pytest.raises(unidl.NotSupportedError, match="keras_test_unbuilt_loss"):
        unidl.fit(spec, data, backend="keras", loss="keras_test_unbuilt_loss", verbose=0)


def test_a_builder_must_name_variables_canonically() -> None:
    spec = unidl.Sequential([unidl.Input((3,)), KerasTestMisnamed(name="mis")])
    with pytest.raises(unidl.NotSupportedError, match=r"'mis'.*'scale'.*gain"):
        build(spec)


# -- export ----------------------------------------------------------------------------
def test_export_refuses_what_keras_cannot_reload(tmp_path: Path) -> None:
    model = build(_scaled_mlp())
    with pytest.raises(unidl.NotSupportedError, match=r"'scale'.*register_keras_serializable"):
        model.export(str(tmp_path / "m.keras"), "keras")
    model = build(_scaled_mlp(act=None))  # the custom layer alone is refused too
    with pytest.raises(unidl.NotSupportedError, match="_ScaleLayer"):
        model.export(str(tmp_path / "m.keras"), "keras")
    assert list(tmp_path.iterdir()) == []




def test_export_holds_a_layer_keras_can_reload(tmp_path: Path,
                                               rng: np.random.Generator) -> None:
    spec = unidl.Sequential([unidl.Input((5,)), KerasTestSavedScale(activation="tanh"),
                             unidl.Dense(2)])
    w = _random_weights(spec, rng)
    model = build(spec, weights=w)
    path = tmp_path / "m.keras"
    model.export(str(path), "keras")
    loaded = keras.saving.load_model(str(path))
    x = rng.standard_normal((4, 5)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, 4), atol=1e-6)
