"""Functional graphs: forward parity with the NumPy reference, Permute in a Sequential,
shared layers (one set of weights, gradients from every call), multi-output losses, integer
inputs, and the fast (device arrays) vs generic (``take``) training paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch_refs import DEVICE, build
from unidl_torch import GraphModel, TorchBackend, torch_module

import unidl
from unidl import DataError
from unidl.backend import OutputLoss, TrainingSetup
from unidl.data import ArrayData, EpochPlan, MappedData, epoch_plan
from unidl.losses import compute_loss
from unidl.spec import Loss, Optimizer
from unidl.testing.cases import GRAPH_SPECS, random_input, random_weights, tabular_graph
from unidl.testing.reference import forward

ATOL = 1e-5
Array = np.ndarray


def _build(spec: unidl.Graph, weights: dict[str, Array] | None = None) -> GraphModel:
    model = TorchBackend().build(spec, random_weights(spec) if weights is None else weights,
                                 DEVICE)
    assert isinstance(model, GraphModel)
    return model


def _configure(model: GraphModel, outputs: tuple[OutputLoss, ...],
               optimizer: Optimizer | None = None, seed: int = 0) -> None:
    first = outputs[0]
    model.configure(TrainingSetup(first.loss, optimizer or unidl.SGD(lr=0.1),
                                  first.logits_loss, seed, outputs))


def _one_batch(n: int) -> EpochPlan:
    return epoch_plan(n, n, 0, 0, shuffle=False)


def _assert_close(got: tuple[Array, ...], want: tuple[Array, ...], atol: float = ATOL) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == np.float32 and g.shape == w.shape
        np.testing.assert_allclose(g, w, atol=atol, rtol=1e-5)


# -- forward parity ------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(GRAPH_SPECS))
def test_graph_forward_matches_reference(name: str) -> None:
    spec = GRAPH_SPECS[name]
    w = random_weights(spec)
    x = random_input(spec, n=7)
    model = _build(spec, w)
    _assert_close(model.predict(x, 3), forward(spec, w, x))  # three batches, concatenated
    got = model.get_weights()
    assert list(got) == list(spec.params)  # canonical names, each layer once, spec order
    for k, v in w.items():
        np.testing.assert_array_equal(got[k], v)


def test_predict_empty_and_wrong_input_count() -> None:
    spec = GRAPH_SPECS["two_towers_shared"]
    model = _build(spec)
    empty = model.predict((np.zeros((0, 5), np.float32),) * 2, 4)
    assert [e.shape for e in empty] == [(0, 2), (0, 3)]
    with pytest.raises(DataError, match="2 inputs"):
        model.predict((np.zeros((3, 5), np.float32),), 4)


def test_training_mode_outputs_match_reference() -> None:
    """Collected training outputs are after each output's activation, also when the loss
    reads the logits (fused softmax)."""
    spec = GRAPH_SPECS["two_towers_shared"]  # no Dropout or BatchNorm: train == inference
    w = random_weights(spec)
    x = random_input(spec, n=6)
    want = forward(spec, w, x)
    y = (np.zeros((6, 2), np.float32), np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 2]])
    model = _build(spec, w)
    _configure(model, (OutputLoss(Loss("mse"), 1.0, False),
                       OutputLoss(Loss("categorical_crossentropy"), 1.0, True)))
    result = model.train_epoch(ArrayData(x, y), _one_batch(6), True)
    assert isinstance(result.outputs, tuple)
    _assert_close(result.outputs, want)


# -- Permute in a Sequential -----------------------------------------------------------------

PERMUTE_SPECS = {
    "sequence": unidl.Sequential([unidl.Input((6, 4)), unidl.Permute((2, 1)),
                                  unidl.Dense(3, activation="softmax")]),
    # a Permute right after a channels-first stretch sees the channels-last tensor
    "after_conv": unidl.Sequential([unidl.Input((5, 6, 3)),
                                    unidl.Conv2D(4, 3, padding="same", activation="relu"),
                                    unidl.Permute((3, 1, 2)), unidl.Flatten(), unidl.Dense(2)]),
    "before_conv": unidl.Sequential([unidl.Input((4, 5, 3)), unidl.Permute((2, 1, 3)),
                                     unidl.Conv2D(2, 2), unidl.MaxPool2D(), unidl.Flatten(),
                                     unidl.Dense(2)]),
    "between_convs": unidl.Sequential([unidl.Input((5, 6, 2)), unidl.Conv2D(3, 2),
                                       unidl.Permute((2, 1, 3)), unidl.Conv2D(2, 2),
                                       unidl.GlobalAvgPool2D()]),
}


@pytest.mark.parametrize("name", list(PERMUTE_SPECS))
def test_permute_in_sequential(name: str) -> None:
    spec = PERMUTE_SPECS[name]
    w = random_weights(spec)
    x = random_input(spec, n=5)
    np.testing.assert_allclose(build(spec, weights=w).predict(x, 2), forward(spec, w, x),
                               atol=ATOL, rtol=1e-5)


# -- shared layers ---------------------------------------------------------------------------

def _towers_torch(w: dict[str, torch.Tensor], a: torch.Tensor, b: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """two_towers_shared by hand: (regression output, class logits)."""
    def dense(name: str, x: torch.Tensor) -> torch.Tensor:
        return x @ w[f"{name}/kernel"] + w[f"{name}/bias"]
    ha, hb = torch.tanh(dense("shared", a)), torch.tanh(dense("shared", b))
    merged = torch.cat([ha + hb, ha - hb, ha * hb, (ha + hb) / 2], dim=1)
    return dense("reg", merged), dense("cls", torch.relu(dense("dense", merged)))


def _towers_data(n: int) -> tuple[tuple[Array, Array], tuple[Array, Array]]:
    rng = np.random.default_rng(5)
    x = random_input(GRAPH_SPECS["two_towers_shared"], n=n)
    y = (rng.normal(size=(n, 2)).astype(np.float32), rng.integers(0, 3, n).astype(np.int64))
    return x, y


def test_shared_layer_has_one_set_of_weights() -> None:
    spec = GRAPH_SPECS["two_towers_shared"]
    model = _build(spec)
    assert [k for k in model.get_weights() if k.startswith("shared")] == \
        ["shared/kernel", "shared/bias"]
    keys = list(model.net.state_dict())
    assert keys.count("shared.weight") == 1 and not any("@" in k for k in keys)
    assert sum(p.numel() for p in model.net.parameters()) == spec.count_params()


def test_shared_layer_gradients_accumulate_over_calls() -> None:
    """One SGD step equals the hand-written torch step: the shared kernel's gradient is the
    sum over both towers."""
    spec = GRAPH_SPECS["two_towers_shared"]
    w = random_weights(spec)
    x, y = _towers_data(8)
    model = _build(spec, w)
    _configure(model, (OutputLoss(Loss("mse"), 1.0, False),
                       OutputLoss(Loss("sparse_categorical_crossentropy"), 1.0, True)))
    result = model.train_epoch(ArrayData(x, y), _one_batch(8), False)

    ref = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in w.items()}
    reg, logits = _towers_torch(ref, *(torch.tensor(a, dtype=torch.float64) for a in x))
    loss = F.mse_loss(reg, torch.tensor(y[0], dtype=torch.float64)) \
        + F.cross_entropy(logits, torch.tensor(y[1]))
    loss.backward()
    assert result.loss == pytest.approx(loss.item(), rel=1e-5)
    got = model.get_weights()
    for k, t in ref.items():
        assert t.grad is not None
        np.testing.assert_allclose(got[k], (t - 0.1 * t.grad).detach().numpy(), atol=ATOL,
                                   err_msg=k)


def test_shared_layer_on_inputs_of_two_shapes() -> None:
    """A shared "same" convolution on two image sizes (each call pads for its own size) and
    a shared BatchNorm on a vector and on an image: one set of weights, and in training
    both calls update the one pair of moving statistics, in call order."""
    small, big = unidl.Input((5, 5, 2), name="small"), unidl.Input((6, 6, 2), name="big")
    conv = unidl.Conv2D(3, 3, strides=2, padding="same", name="conv")
    pooled = [unidl.GlobalAvgPool2D()(conv(small)), unidl.GlobalAvgPool2D()(conv(big))]
    out = unidl.Dense(2, name="out")(unidl.Add()(pooled))
    spec = unidl.Graph(inputs=[small, big], outputs=out)
    w = random_weights(spec)
    x = random_input(spec, n=4)
    model = _build(spec, w)
    _assert_close(model.predict(x, 3), forward(spec, w, x))
    assert sorted(model.net.state_dict()) == ["conv.bias", "conv.weight", "out.bias",
                                              "out.weight"]

    vec, img = unidl.Input((4,), name="vec"), unidl.Input((2, 2, 4), name="img")
    bn = unidl.BatchNorm(momentum=0.5, name="bn")
    joined = unidl.Concatenate()([bn(vec), unidl.Flatten()(bn(img))])
    spec = unidl.Graph(inputs=[vec, img], outputs=unidl.Dense(1, name="out")(joined))
    w = random_weights(spec)
    x = random_input(spec, n=5)
    model = _build(spec, w)
    _assert_close(model.predict(x, 5), forward(spec, w, x))
    _configure(model, (OutputLoss(Loss("mse"), 1.0, False),), unidl.SGD(lr=1e-9))
    model.train_epoch(ArrayData(x, (np.zeros((5, 1), np.float32),)), _one_batch(5), False)
    mean, var = w["bn/moving_mean"], w["bn/moving_variance"]
    for batch in (x[0], x[1].reshape(-1, 4)):
        mean, var = 0.5 * mean + 0.5 * batch.mean(0), 0.5 * var + 0.5 * batch.var(0)
    got = model.get_weights()
    np.testing.assert_allclose(got["bn/moving_mean"], mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["bn/moving_variance"], var, rtol=1e-5, atol=1e-6)


# -- several outputs -------------------------------------------------------------------------

def test_weighted_multi_output_loss_with_sample_weights() -> None:
    """batch loss = sum_k weight_k * loss_k, each with sample weights (sum(w_i l_ik) / n);
    the sparse output's fused logits loss equals cross-entropy on its softmax."""
    spec = GRAPH_SPECS["two_towers_shared"]
    w = random_weights(spec)
    x, y = _towers_data(6)
    sw = np.asarray([0.5, 2.0, 1.0, 0.0, 1.5, 1.0], np.float32)
    model = _build(spec, w)
    _configure(model, (OutputLoss(Loss("huber", delta=0.5), 0.25, False),
                       OutputLoss(Loss("sparse_categorical_crossentropy"), 2.0, True)),
               unidl.SGD(lr=1e-9))
    result = model.train_epoch(ArrayData(x, y, sw), _one_batch(6), False)

    ref = {k: torch.tensor(v, dtype=torch.float64) for k, v in w.items()}
    reg, logits = _towers_torch(ref, *(torch.tensor(a, dtype=torch.float64) for a in x))
    tw = torch.tensor(sw, dtype=torch.float64)
    huber = F.huber_loss(reg, torch.tensor(y[0], dtype=torch.float64), reduction="none",
                         delta=0.5).mean(1)
    ce = F.cross_entropy(logits, torch.tensor(y[1]), reduction="none")
    want = 0.25 * (huber * tw).mean() + 2.0 * (ce * tw).mean()
    assert result.loss == pytest.approx(want.item(), rel=1e-5)


def test_output_read_by_another_node_gets_the_activation() -> None:
    """``probs`` is an output (its loss fused with its softmax) and also feeds ``score``:
    ``score`` must see probabilities, the loss the logits."""
    x_in = unidl.Input((4,), name="x")
    probs = unidl.Dense(3, activation="softmax", name="probs")(x_in)
    score = unidl.Dense(1, activation="sigmoid", name="score")(probs)
    spec = unidl.Graph(inputs=x_in, outputs=[probs, score])
    w = random_weights(spec)
    x = random_input(spec, n=6)
    want = forward(spec, w, x)
    model = _build(spec, w)
    _assert_close(model.predict(x, 4), want)
    y = (np.eye(3, dtype=np.float32)[[0, 1, 2, 2, 1, 0]],
         np.asarray([[0], [1], [1], [0], [1], [0]], np.float32))
    _configure(model, (OutputLoss(Loss("categorical_crossentropy"), 1.0, True),
                       OutputLoss(Loss("binary_crossentropy"), 0.5, True)), unidl.SGD(lr=1e-9))
    result = model.train_epoch(ArrayData(x, y), _one_batch(6), True)
    assert isinstance(result.outputs, tuple)
    _assert_close(result.outputs, want)
    expected = compute_loss(Loss("categorical_crossentropy"), y[0], want[0]) \
        + 0.5 * compute_loss(Loss("binary_crossentropy"), y[1], want[1])
    assert result.loss == pytest.approx(expected, rel=1e-5)


# -- integer inputs --------------------------------------------------------------------------

def test_int_input_feeds_embedding() -> None:
    ids = unidl.Input((3,), dtype="int64", name="ids")
    e = unidl.Flatten()(unidl.Embedding(10, 2, name="emb")(ids))
    spec = unidl.Graph(inputs=ids, outputs=unidl.Dense(2, name="out")(e))
    w = random_weights(spec)
    x = random_input(spec, n=6)
    assert x[0].dtype == np.int64
    _assert_close(_build(spec, w).predict(x, 4), forward(spec, w, x))


def test_inference_frees_each_intermediate_after_its_last_use() -> None:
    """A chain of 6 layers with a skip from the first to the last: while step k runs, only
    the tensors later steps read are alive (the skip's source and the previous result)."""
    import weakref

    x = unidl.Input((4,), name="x")
    first = unidl.Dense(8, activation="relu", name="first")(x)
    h = first
    for i in range(5):
        h = unidl.Dense(8, name=f"d{i}")(h)
    spec = unidl.Graph(x, unidl.Dense(2, name="out")(unidl.Add()([first, h])))
    net = torch_module(spec)
    results: list[weakref.ref[torch.Tensor]] = []
    alive_at_call: list[int] = []

    def recorded(call: Any) -> Any:
        def step(*xs: torch.Tensor) -> torch.Tensor:
            alive_at_call.append(sum(r() is not None for r in results))
            y = call(*xs)
            results.append(weakref.ref(y))
            return y
        return step

    net._steps = [(recorded(call), ins) for call, ins in net._steps]
    with torch.no_grad():
        (out,) = net.pre(torch.ones(3, 4))
    assert out.shape == (3, 2) and len(alive_at_call) == 8  # first, d0-d4, add, out
    assert max(alive_at_call) <= 2, alive_at_call  # without freeing: up to 7


@pytest.mark.parametrize("with_embedding", [False, True])
def test_int_input_feeds_dense_as_float(with_embedding: bool) -> None:
    """An int32 Input read by Dense directly arrives as float32 (and, when an Embedding
    reads it too, the Embedding still gets the indices)."""
    counts = unidl.Input((4,), dtype="int32", name="counts")
    h = unidl.Dense(3, name="dense_counts")(counts)
    if with_embedding:
        h = unidl.Concatenate()([h, unidl.Flatten()(unidl.Embedding(9, 2)(counts))])
    spec = unidl.Graph(inputs=counts, outputs=unidl.Dense(1, name="out")(h))
    w = random_weights(spec)
    x = (np.random.default_rng(3).integers(0, 9, (5, 4)).astype(np.int32),)
    want = forward(spec, w, x)
    model = _build(spec, w)
    _assert_close(model.predict(x, 5), want)
    _configure(model, (OutputLoss(Loss("mse"), 1.0, False),), unidl.SGD(lr=1e-9))
    result = model.train_epoch(ArrayData(x, (np.zeros((5, 1), np.float32),)), _one_batch(5),
                               True)
    assert result.outputs is not None
    _assert_close(result.outputs, want)


# -- training paths, export, state -----------------------------------------------------------

class _Pairs:
    """A map-style dataset whose samples are (inputs tuple, targets tuple)."""

    def __init__(self, x: tuple[Array, ...], y: tuple[Array, ...]) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x[0])

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        return tuple(a[i] for a in self.x), tuple(a[i] for a in self.y)


def _tabular_data(n: int) -> tuple[tuple[Array, ...], tuple[Array, ...]]:
    spec = GRAPH_SPECS["tabular_embeddings"]
    return random_input(spec, n=n), (np.random.default_rng(2).integers(0, 3, n),)


@pytest.mark.parametrize("name", ["tabular_embeddings", "two_towers_shared"])
def test_fast_path_equals_generic_path(name: str) -> None:
    """Shuffled epochs on device-resident tuples == batches gathered through ``take``,
    with sample weights; and the loss goes down."""
    spec = GRAPH_SPECS[name]
    x, y = _tabular_data(40) if name == "tabular_embeddings" else _towers_data(40)
    sw = np.random.default_rng(4).uniform(0.5, 1.5, 40).astype(np.float32)
    sparse = OutputLoss(Loss("sparse_categorical_crossentropy"), 1.0, True)
    outputs = (sparse,) if len(y) == 1 else (OutputLoss(Loss("mse"), 0.5, False), sparse)
    runs = []
    for data in (ArrayData(x, y, sw), MappedData(_Pairs(x, y), lambda a, b: (a, b), sw)):
        model = _build(spec)
        _configure(model, outputs, unidl.Adam(lr=0.01), seed=3)
        runs.append([model.train_epoch(data, epoch_plan(40, 16, 0, e), True)
                     for e in range(6)])
    fast, generic = runs
    assert fast[-1].loss < 0.9 * fast[0].loss
    for a, b in zip(fast, generic, strict=True):
        assert a.loss == pytest.approx(b.loss, rel=1e-5)
        assert isinstance(a.outputs, tuple) and isinstance(b.outputs, tuple)
        _assert_close(a.outputs, b.outputs)


def test_dropout_masks_come_from_the_seed() -> None:
    spec = tabular_graph(dropout=0.5, batchnorm=False)
    x, y = _tabular_data(12)
    results = []
    for _ in range(2):
        model = _build(spec)
        _configure(model, (OutputLoss(Loss("sparse_categorical_crossentropy"), 1.0, True),),
                   seed=7)
        results.append(model.train_epoch(ArrayData(x, y), epoch_plan(12, 4, 0, 0), True))
    assert results[0].loss == results[1].loss
    assert isinstance(results[0].outputs, tuple) and isinstance(results[1].outputs, tuple)
    np.testing.assert_array_equal(results[0].outputs[0], results[1].outputs[0])


def test_export_rebuilds_the_graph_module(tmp_path: Path) -> None:
    spec = GRAPH_SPECS["residual_image"]
    w = random_weights(spec)
    x = random_input(spec, n=3)
    model = _build(spec, w)
    model.export(str(tmp_path / "graph.pt"), "torch")
    state = torch.load(tmp_path / "graph.pt", weights_only=True)
    rebuilt = torch_module(spec)
    rebuilt.load_state_dict(state)
    rebuilt.eval()
    with torch.no_grad():
        out = rebuilt(*(torch.from_numpy(a) for a in x))
    _assert_close(tuple(o.numpy() for o in out), model.predict(x, 3))


def test_optimizer_state_round_trip() -> None:
    spec = GRAPH_SPECS["two_towers_shared"]
    x, y = _towers_data(10)
    outputs = (OutputLoss(Loss("mse"), 1.0, False),
               OutputLoss(Loss("sparse_categorical_crossentropy"), 1.0, True))
    model = _build(spec)
    _configure(model, outputs, unidl.Adam(lr=0.01))
    model.train_epoch(ArrayData(x, y), epoch_plan(10, 4, 0, 0), False)
    state = model.get_optimizer_state()
    assert {k.rsplit("/", 1)[0] for k in state if k != "step"} == set(spec.params)
    resumed = _build(spec, model.get_weights())
    _configure(resumed, outputs, unidl.Adam(lr=0.01))
    resumed.set_optimizer_state(state)
    a = model.train_epoch(ArrayData(x, y), epoch_plan(10, 4, 0, 1), False)
    b = resumed.train_epoch(ArrayData(x, y), epoch_plan(10, 4, 0, 1), False)
    assert a.loss == pytest.approx(b.loss, rel=1e-6)
    for k, v in model.get_weights().items():
        np.testing.assert_allclose(resumed.get_weights()[k], v, atol=1e-6, err_msg=k)
