"""Functional graphs: forward parity, shared layers, multi-output training, export."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from keras_helpers import build
from unidl_keras import KerasModel
from unidl_keras._runtime import keras, tf

import unidl
from unidl.backend import OutputLoss, TrainingSetup
from unidl.data import ArrayData, EpochPlan, epoch_plan
from unidl.testing.cases import GRAPH_SPECS, random_input, random_weights, tabular_graph
from unidl.testing.reference import forward

Array = Any


class Batches:
    """A SampleSource that is not ArrayData: forces the per-batch ``take`` path."""

    def __init__(self, data: ArrayData) -> None:
        self._inner = data
        self.sample_weight = data.sample_weight

    def __len__(self) -> int:
        return len(self._inner)

    def take(self, indices: Array) -> tuple[Any, Any]:
        return self._inner.take(indices)


def _setup(outputs: list[tuple[str, float, bool]], opt: Any, seed: int = 0) -> TrainingSetup:
    heads = tuple(OutputLoss(unidl.Loss(name), weight, fused) for name, weight, fused in outputs)
    return TrainingSetup(heads[0].loss, opt, heads[0].logits_loss, seed, heads)


# -- forward ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(GRAPH_SPECS))
def test_forward_matches_the_reference(name: str) -> None:
    spec = GRAPH_SPECS[name]
    weights = random_weights(spec)
    model = build(spec, weights=weights)
    x = random_input(spec, n=11)
    got = model.predict(x, 4)
    want = forward(spec, weights, x)
    assert isinstance(got, tuple) and len(got) == len(spec.output_names)
    for g, w, shape in zip(got, want, spec.output_shapes, strict=True):
        assert g.dtype == np.float32 and g.shape == (11, *shape)
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-5)
    # the native functional model computes the same
    native = model.keras_model.predict(list(x) if len(x) > 1 else x[0], verbose=0)
    native = native if isinstance(native, list) else [native]
    for n, g in zip(native, got, strict=True):
        np.testing.assert_allclose(n, g, rtol=0, atol=1e-6)


def test_permute_in_a_sequential(rng: np.random.Generator) -> None:
    spec = unidl.Sequential([unidl.Input((3, 4, 5)), unidl.Permute((3, 1, 2)),
                             unidl.Conv2D(2, 2), unidl.Flatten(), unidl.Dense(3)])
    weights = random_weights(spec)
    model = build(spec, weights=weights)
    x = rng.standard_normal((7, 3, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, 4), forward(spec, weights, x),
                               rtol=0, atol=1e-5)


def test_shared_reshape_called_on_two_shapes(rng: np.random.Generator) -> None:
    a, b = unidl.Input((12,), name="a"), unidl.Input((6,), name="b")
    split = unidl.Reshape((3, -1))
    joined = unidl.Concatenate()([split(a), split(b)])  # (3, 4) and (3, 2) -> (3, 6)
    spec = unidl.Graph(inputs=[a, b], outputs=unidl.Dense(2)(unidl.Flatten()(joined)))
    weights = random_weights(spec)
    x = (rng.standard_normal((5, 12)).astype(np.float32),
         rng.standard_normal((5, 6)).astype(np.float32))
    got = build(spec, weights=weights).predict(x, 8)
    np.testing.assert_allclose(got[0], forward(spec, weights, x)[0], rtol=0, atol=1e-5)


def _int_graph(dtype: str) -> unidl.Graph:
    """One integer Input read by an Embedding and, as float32, by a Dense."""
    idx = unidl.Input((3,), dtype=dtype, name="idx")
    emb = unidl.Flatten()(unidl.Embedding(10, 2)(idx))
    direct = unidl.Dense(2, activation="relu")(idx)
    out = unidl.Dense(1)(unidl.Concatenate()([emb, direct]))
    return unidl.Graph(inputs=idx, outputs=out)


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_integer_input_feeds_embedding_and_dense(dtype: str, rng: np.random.Generator) -> None:
    spec = _int_graph(dtype)
    weights = random_weights(spec)
    model = build(spec, weights=weights)
    assert model.keras_model.inputs[0].dtype == dtype
    x = (rng.integers(0, 10, (9, 3)).astype(dtype),)
    np.testing.assert_allclose(model.predict(x, 4)[0], forward(spec, weights, x)[0],
                               rtol=0, atol=1e-5)
    y = (x[0].sum(1, keepdims=True) / 10).astype(np.float32)
    model.configure(_setup([("mse", 1.0, False)], unidl.SGD(lr=0.01)))
    before = model.get_weights()
    for source in (ArrayData(x, (y,)), Batches(ArrayData(x, (y,)))):
        result = model.train_epoch(source, epoch_plan(9, 4, 0, 0), False)
        assert np.isfinite(result.loss)
    assert not np.allclose(model.get_weights()["embedding/embeddings"],
                           before["embedding/embeddings"])


def test_spec_names_never_collide_with_helper_layers(rng: np.random.Generator) -> None:
    """The backend's own layers (integer casts, separate activations) take free names."""
    idx = unidl.Input((3,), dtype="int64", name="idx")
    h = unidl.Dense(4, activation="relu", name="idx_float32")(idx)
    out = unidl.Dense(2, activation="tanh", name="idx_float32_relu")(h)
    spec = unidl.Graph(inputs=idx, outputs=out)
    weights = random_weights(spec)
    model = build(spec, weights=weights)
    x = (rng.integers(0, 5, (4, 3)),)
    np.testing.assert_allclose(model.predict(x, 4)[0], forward(spec, weights, x)[0],
                               rtol=0, atol=1e-5)


# -- shared layers ---------------------------------------------------------------------
def test_a_shared_layer_has_one_set_of_weights() -> None:
    spec = GRAPH_SPECS["two_towers_shared"]
    model = build(spec)
    assert list(model.get_weights()) == list(spec.params)
    assert [k for k in model.get_weights() if k.startswith("shared/")] == \
        ["shared/kernel", "shared/bias"]
    native = model.keras_model
    assert [layer.name for layer in native.layers].count("shared") == 1
    shared = native.get_layer("shared")
    assert len(shared._inbound_nodes) == 2  # called on both inputs
    assert len(native.weights) == len(spec.params)


# -- training --------------------------------------------------------------------------
_REG_WEIGHT, _CLS_WEIGHT, _LR = 0.3, 2.0, 0.1


def _two_tower_loss(w: dict[str, Any], a: Any, b: Any, y_reg: Any, y_cls: Any,
                    sample_weight: Any) -> Any:
    """The two-tower model's training loss written out in TensorFlow."""
    def dense(name: str, x: Any) -> Any:
        return x @ w[f"{name}/kernel"] + w[f"{name}/bias"]

    ha, hb = tf.tanh(dense("shared", a)), tf.tanh(dense("shared", b))
    merged = tf.concat([ha + hb, ha - hb, ha * hb, (ha + hb) / 2], axis=-1)
    reg = dense("reg", merged)
    logits = dense("cls", tf.nn.relu(dense("dense", merged)))
    mse = tf.reduce_mean(tf.square(y_reg - reg), axis=-1)
    ce = -tf.gather(tf.nn.log_softmax(logits), y_cls, batch_dims=1)
    return tf.reduce_mean(sample_weight * (_REG_WEIGHT * mse + _CLS_WEIGHT * ce))


def _two_tower_data(rng: np.random.Generator, n: int) -> tuple[Any, Any]:
    x = random_input(GRAPH_SPECS["two_towers_shared"], n=n, seed=3)
    y = (rng.standard_normal((n, 2)).astype(np.float32), rng.integers(0, 3, n))
    return x, y


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weight"])
def test_multi_output_step_equals_the_loss_written_by_hand(
        weighted: bool, rng: np.random.Generator) -> None:
    spec = GRAPH_SPECS["two_towers_shared"]
    weights = random_weights(spec, seed=5)
    model = build(spec, weights=weights)
    model.configure(_setup([("mse", _REG_WEIGHT, False),
                            ("sparse_categorical_crossentropy", _CLS_WEIGHT, True)],
                           unidl.SGD(lr=_LR)))
    x, y = _two_tower_data(rng, 8)
    sw = rng.uniform(0.2, 2.0, 8).astype(np.float32) if weighted else None
    result = model.train_epoch(ArrayData(x, y, sw), EpochPlan(np.arange(8), 8), True)

    variables = {k: tf.Variable(v) for k, v in weights.items()}
    with tf.GradientTape() as tape:
        loss = _two_tower_loss(variables, x[0], x[1], y[0], y[1],
                               np.ones(8, np.float32) if sw is None else sw)
    grads = tape.gradient(loss, variables)
    assert result.loss == pytest.approx(float(loss), rel=1e-6)
    for k, v in model.get_weights().items():
        np.testing.assert_allclose(v, weights[k] - _LR * grads[k].numpy(), rtol=1e-5,
                                   atol=1e-6, err_msg=k)
    # outputs: after each output's activation, from the weights before the step
    assert isinstance(result.outputs, tuple)
    for got, want in zip(result.outputs, forward(spec, weights, x), strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def _read_output_graph() -> unidl.Graph:
    """Outputs ending in an Activation layer and in a Dense activation, one of them also
    read by another layer."""
    x = unidl.Input((4,), name="x")
    probs = unidl.Activation("softmax", name="probs")(unidl.Dense(3)(x))
    value = unidl.Dense(1, name="value")(probs)  # reads the probabilities
    flag = unidl.Dense(2, activation="sigmoid", name="flag")(x)
    return unidl.Graph(inputs=x, outputs=[probs, value, flag])


def test_fused_losses_read_pre_activations_and_consumers_the_outputs(
        rng: np.random.Generator) -> None:
    spec = _read_output_graph()
    weights = random_weights(spec)
    x = (rng.standard_normal((12, 4)).astype(np.float32),)
    y = (rng.integers(0, 3, 12), rng.standard_normal((12, 1)).astype(np.float32),
         (rng.uniform(size=(12, 2)) > 0.5).astype(np.float32))
    results = []
    for fused in (True, False):
        model = build(spec, weights=weights)
        model.configure(_setup([("sparse_categorical_crossentropy", 1.0, fused),
                                ("mse", 0.5, False), ("binary_crossentropy", 2.0, fused)],
                               unidl.SGD(lr=0.1)))
        r = model.train_epoch(ArrayData(x, y), EpochPlan(np.arange(12), 12), True)
        results.append((r, model.get_weights()))
    (fused_r, fused_w), (plain_r, plain_w) = results
    assert fused_r.loss == pytest.approx(plain_r.loss, rel=1e-5)
    for k, v in fused_w.items():
        np.testing.assert_allclose(v, plain_w[k], rtol=1e-4, atol=1e-6, err_msg=k)
    assert isinstance(fused_r.outputs, tuple)
    for got, want in zip(fused_r.outputs, forward(spec, weights, x), strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def _train(model: KerasModel, source: Any, epochs: int) -> list[tuple[float, Any]]:
    return [(r.loss, r.outputs) for r in (
        model.train_epoch(source, epoch_plan(len(source), 16, 0, e), True)
        for e in range(epochs))]


def test_fast_path_equals_generic_path(rng: np.random.Generator) -> None:
    """Embeddings, BatchNorm and Dropout in training mode, sample weights, a last batch of
    7, two outputs: the compiled epoch and the per-batch path agree."""
    cats = [unidl.Input((1,), dtype="int64", name=f"c{i}") for i in range(2)]
    num = unidl.Input((4,), name="num")
    h = unidl.Concatenate()([*(unidl.Flatten()(unidl.Embedding(6, 3)(c)) for c in cats), num])
    h = unidl.Dropout(0.3)(unidl.BatchNorm()(unidl.Dense(12, activation="relu")(h)))
    spec = unidl.Graph(inputs=[*cats, num], outputs=[
        unidl.Dense(3, activation="softmax", name="label")(h), unidl.Dense(1, name="value")(h)])
    n = 103
    x = (rng.integers(0, 6, (n, 1)), rng.integers(0, 6, (n, 1)),
         rng.standard_normal((n, 4)).astype(np.float32))
    y = (rng.integers(0, 3, n), rng.standard_normal((n, 1)).astype(np.float32))
    data = ArrayData(x, y, rng.uniform(0.5, 1.5, n).astype(np.float32))
    runs = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # an XLA fallback warns
        for source in (data, Batches(data)):
            model = build(spec, seed=1)
            assert model.jit_compile
            model.configure(_setup([("sparse_categorical_crossentropy", 1.0, True),
                                    ("huber", 0.5, False)], unidl.Adam(lr=0.01), seed=2))
            runs.append((model, _train(model, source, 3)))
    (fast, fast_res), (slow, slow_res) = runs
    for k, v in fast.get_weights().items():
        np.testing.assert_allclose(v, slow.get_weights()[k], rtol=1e-5, atol=1e-6, err_msg=k)
    for (la, oa), (lb, ob) in zip(fast_res, slow_res, strict=True):
        assert la == pytest.approx(lb, rel=1e-5)
        assert len(oa) == 2 and oa[0].shape == (n, 3) and oa[1].shape == (n, 1)
        for a, b in zip(oa, ob, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert fast_res[-1][0] < fast_res[0][0]


def test_recurrent_graph_trains_without_xla(rng: np.random.Generator) -> None:
    spec = GRAPH_SPECS["sequence_permute_concat"]
    model = build(spec)
    assert not model.jit_compile
    x = random_input(spec, n=20)
    y = (x[0][:, :2, 0] * 0.5,)
    model.configure(_setup([("mse", 1.0, False)], unidl.Adam(lr=0.01)))
    losses = [loss for loss, _ in _train(model, ArrayData(x, y), 4)]
    assert losses[-1] < losses[0]


def test_configure_checks_the_outputs() -> None:
    model = build(GRAPH_SPECS["two_towers_shared"])
    with pytest.raises(unidl.SpecError, match="1 output losses for a model with 2"):
        model.configure(_setup([("mse", 1.0, False)], unidl.SGD()))
    with pytest.raises(unidl.NotSupportedError, match="output 0"):
        model.configure(_setup([("binary_crossentropy", 1.0, True),
                                ("categorical_crossentropy", 1.0, True)], unidl.SGD()))
    with pytest.raises(unidl.DataError, match="2 inputs"):
        model.predict((np.zeros((2, 5), np.float32),), 2)


# -- export ----------------------------------------------------------------------------
@pytest.mark.parametrize("spec", [GRAPH_SPECS["two_towers_shared"], tabular_graph()],
                         ids=["two_outputs", "integer_inputs"])
def test_export_loads_back_and_predicts_the_same(spec: unidl.Graph, tmp_path: Path) -> None:
    model = build(spec, weights=random_weights(spec))
    path = tmp_path / "graph.keras"
    model.export(str(path), "keras")
    loaded = keras.saving.load_model(str(path))
    assert [t.name for t in loaded.inputs] == list(spec.input_names)
    x = random_input(spec, n=9)
    got = loaded.predict(list(x), verbose=0)
    got = got if isinstance(got, list) else [got]
    for g, w in zip(got, model.predict(x, 4), strict=True):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-6)
