"""Kinds of one's own on the torch backend (defined in ``torch_kinds``, registered the
way users do), checked against their NumPy references: forward passes in Sequential and
Graph models, inside channels-first stretches, one training step against a hand
computation and against finite differences, losses (weighted, class-index targets),
fit/save/load/export, and an optimizer of one's own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch_kinds
from torch_kinds import (
    CONTEXTS,
    LOSS_CALLS,
    TorchTestMax,
    TorchTestProject,
    TorchTestScale,
    TorchTestSignSGD,
    numeric_grads,
    one_batch,
    random_weights,
    scaled_mlp,
    setup,
)
from torch_refs import DEVICE, build
from unidl_torch import torch_module

import unidl
from unidl.data import ArrayData, EpochPlan
from unidl.losses import compute_loss
from unidl.testing import kinds
from unidl.testing.reference import forward

ATOL = 1e-5


@pytest.fixture(scope="module", autouse=True)
def _register_kinds() -> None:
    torch_kinds.register()  # when these tests run, not at import (see torch_kinds)


# -- forward ---------------------------------------------------------------------------
def test_custom_layer_and_activation_forward_match_the_reference(
        rng: np.random.Generator) -> None:
    spec = scaled_mlp()
    w = random_weights(spec, rng)
    model = build(spec, weights=w)
    x = (rng.standard_normal((9, 5)) * 3).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, 4), forward(spec, w, x), rtol=1e-5, atol=ATOL)
    assert list(model.get_weights()) == list(spec.params)
    for k, v in model.get_weights().items():
        np.testing.assert_array_equal(v, w[k], err_msg=k)
    ctx = CONTEXTS[-1]
    assert (ctx.input_shape, ctx.output_shape, ctx.input_shapes, ctx.name) == \
        ((4,), (4,), ((4,),), "scale")
    assert ctx.device == torch.device(DEVICE) and not ctx.channels_first
    module = model.net.layer_modules["scale"]
    assert module.scale.device == torch.device(DEVICE)  # moved there by the backend
    # the backend applies the layer's activation after the module: the module does not
    h = torch.from_numpy(x).to(DEVICE)
    with torch.no_grad():
        pre = model.net.layer_modules["pre"](h)
        assert torch.equal(module(pre), pre * module.scale + module.shift)


def test_custom_kinds_in_a_graph_with_a_shared_layer_and_a_merge(
        tmp_path: Path, rng: np.random.Generator) -> None:
    a, b = unidl.Input((4,), name="a"), unidl.Input((4,), name="b")
    shared = TorchTestScale(activation="torch_test_softsign", name="shared")
    merged = TorchTestMax(name="max")([shared(a), shared(b), unidl.Dense(4, name="d")(a)])
    out = unidl.Dense(2, activation="torch_test_softsign", name="out")(merged)
    spec = unidl.Graph(inputs=[a, b], outputs=out, name="torch_test_graph")
    w = random_weights(spec, rng)
    model = build(spec, weights=w)
    x = tuple(rng.standard_normal((6, 4)).astype(np.float32) for _ in range(2))
    (got,) = model.predict(x, 4)
    (want,) = forward(spec, w, x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=ATOL)
    assert list(model.get_weights()) == list(spec.params)  # one set: shared
    assert sum(p.numel() for p in model.net.parameters()) == 4 + 4 * 4 + 4 + 4 * 2 + 2
    # saved and loaded through the portable format, weights matched by canonical names
    saved = unidl.build(spec, backend="torch", seed=0, device="cpu")
    saved.set_weights(w)
    saved.save(tmp_path / "graph")
    back = unidl.load(tmp_path / "graph", backend="torch", device="cpu").predict(x)
    np.testing.assert_allclose(back, got, rtol=0, atol=1e-6)


def test_custom_layer_and_activation_inside_a_stretch_of_image_layers(
        rng: np.random.Generator) -> None:
    """Convolutions run channels-first; a custom (channels-last) layer between them gets
    channels-last tensors, and a custom activation that mixes the channels runs over them
    (dim 1 of the channels-first tensor) after a convolution that keeps the stretch going."""
    spec = unidl.Sequential([
        unidl.Input((6, 5, 3)),
        unidl.Conv2D(4, 3, padding="same", activation="torch_test_l1_normalise"),
        unidl.MaxPool2D(2, padding="same"),
        TorchTestScale(activation="torch_test_l1_normalise"),
        unidl.Conv2D(2, 2, activation="torch_test_softsign"), unidl.Flatten(),
        TorchTestProject(3)])
    w = random_weights(spec, rng)
    x = rng.standard_normal((3, 6, 5, 3)).astype(np.float32)
    model = build(spec, weights=w)
    np.testing.assert_allclose(model.predict(x, 2), forward(spec, w, x), rtol=1e-5, atol=ATOL)


def test_a_builder_may_register_a_torch_layer_with_its_own_layout(
        rng: np.random.Generator, tmp_path: Path) -> None:
    spec = unidl.Sequential([unidl.Input((2, 5)), TorchTestProject(3, name="proj")])
    w = random_weights(spec, rng)
    model = build(spec, weights=w)
    x = rng.standard_normal((4, 2, 5)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, 4), forward(spec, w, x), rtol=1e-5, atol=ATOL)
    np.testing.assert_array_equal(model.get_weights()["proj/kernel"], w["proj/kernel"])
    model.export(str(tmp_path / "m.pt"))
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    np.testing.assert_array_equal(state["proj.weight"].numpy(), w["proj/kernel"].T)


def test_the_core_checks_pass_on_torch() -> None:
    kinds.check_layer(TorchTestScale(), (5,), "torch")
    kinds.check_layer(TorchTestScale(activation="torch_test_softsign"), (3, 4), "torch")
    kinds.check_layer(TorchTestProject(2), (3, 4), "torch")
    kinds.check_activation("torch_test_softsign", "torch")
    kinds.check_activation("torch_test_l1_normalise", "torch")
    kinds.check_loss("torch_test_log_cosh", "torch")


# -- training --------------------------------------------------------------------------
def test_one_sgd_step_through_the_custom_layer(rng: np.random.Generator) -> None:
    """mse of ``x * scale + shift``: the step is the analytic gradient; shift stays."""
    spec = unidl.Sequential([unidl.Input((3,)), TorchTestScale(name="scale")])
    w = {"scale/scale": rng.uniform(0.5, 2, 3).astype(np.float32),
         "scale/shift": rng.standard_normal(3).astype(np.float32)}
    model = build(spec, weights=w)
    x = rng.standard_normal((8, 3)).astype(np.float32)
    y = rng.standard_normal((8, 3)).astype(np.float32)
    model.configure(setup("mse", unidl.SGD(lr=0.1)))
    loss = model.train_epoch(ArrayData(x, y), one_batch(8), False).loss
    s, b = w["scale/scale"].astype(np.float64), w["scale/shift"].astype(np.float64)
    e = x * s + b - y
    assert loss == pytest.approx(float((e ** 2).mean()), rel=1e-5)
    grad = 2 * (e * x).sum(0) / e.size
    after = model.get_weights()
    np.testing.assert_allclose(after["scale/scale"], s - 0.1 * grad, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(after["scale/shift"], w["scale/shift"])


def test_one_sgd_step_in_a_graph_equals_finite_differences(rng: np.random.Generator) -> None:
    """Custom layer (shared), merge, activation and loss together: one full-batch SGD
    step moves every weight by lr times the central-difference gradient of the NumPy
    reference loss."""
    a, b = unidl.Input((3,), name="a"), unidl.Input((3,), name="b")
    shared = TorchTestScale(activation="torch_test_softsign", name="shared")
    merged = TorchTestMax()([shared(a), unidl.Dense(3, name="d")(shared(b))])
    spec = unidl.Graph(inputs=[a, b], outputs=TorchTestProject(2, name="out")(merged))
    w = random_weights(spec, rng)
    x = tuple(rng.standard_normal((10, 3)).astype(np.float32) for _ in range(2))
    y = rng.standard_normal((10, 2)).astype(np.float32)
    model = build(spec, weights=w)
    model.configure(setup("torch_test_log_cosh", unidl.SGD(lr=0.1)))
    loss = model.train_epoch(ArrayData(x, (y,)), one_batch(10), False).loss
    spec_loss = unidl.Loss("torch_test_log_cosh")
    (pred,) = forward(spec, w, x)
    assert loss == pytest.approx(compute_loss(spec_loss, y, pred), rel=1e-5)
    grads = numeric_grads(spec, spec_loss, w, x, y)
    after = model.get_weights()
    for name, g in grads.items():
        np.testing.assert_allclose((w[name] - after[name]) / 0.1, g, rtol=1e-3, atol=1e-4,
                                   err_msg=name)
    np.testing.assert_array_equal(after["shared/shift"], w["shared/shift"])


@pytest.mark.parametrize("weighted", [False, True])
def test_custom_loss_equals_its_reference(weighted: bool, rng: np.random.Generator) -> None:
    spec = scaled_mlp()
    model = build(spec, weights=random_weights(spec, rng))
    x = rng.standard_normal((20, 5)).astype(np.float32)
    y = rng.standard_normal((20, 3)).astype(np.float32)
    sw = rng.uniform(0, 2, 20).astype(np.float32) if weighted else None
    pred = model.predict(x, 64)
    loss = unidl.Loss("torch_test_log_cosh")
    per = np.log(np.cosh(pred.astype(np.float64) - y)).mean(1)
    want = float((per * (1.0 if sw is None else sw)).mean())
    assert compute_loss(loss, y, pred) == pytest.approx(float(per.mean()), rel=1e-6)
    del LOSS_CALLS[:]
    model.configure(setup("torch_test_log_cosh"))
    assert LOSS_CALLS == [False]  # built once, at configure; no logits for this loss
    got = model.train_epoch(ArrayData(x, y, sw), EpochPlan(np.arange(20), 20), False).loss
    assert got == pytest.approx(want, rel=1e-5)


def test_a_class_index_custom_loss_gets_integer_targets(rng: np.random.Generator) -> None:
    spec = unidl.Sequential([unidl.Input((5,)), unidl.Dense(4, activation="softmax")])
    model = build(spec)
    x = rng.standard_normal((16, 5)).astype(np.float32)
    y = rng.integers(0, 4, 16)
    want = compute_loss(unidl.Loss("torch_test_nll"), y, model.predict(x, 64))
    model.configure(setup("torch_test_nll"))
    got = model.train_epoch(ArrayData(x, y), one_batch(16), False).loss
    assert got == pytest.approx(want, rel=1e-5)


def test_fit_save_load_export_with_custom_kinds(tmp_path: Path,
                                                rng: np.random.Generator) -> None:
    spec = scaled_mlp()
    x = rng.standard_normal((64, 5)).astype(np.float32)
    y = np.tanh(x[:, :3]).astype(np.float32)
    model = unidl.fit(spec, (x, y), backend="torch", loss="torch_test_log_cosh",
                      optimizer=unidl.Adam(lr=1e-2), epochs=4, batch_size=16, seed=0,
                      device="cpu", verbose=0)
    losses = model.history["loss"]
    assert losses[-1] < losses[0]
    model.save(tmp_path / "scaled")
    back = unidl.load(tmp_path / "scaled", backend="torch", device="cpu")
    np.testing.assert_allclose(back.predict(x), model.predict(x), rtol=0, atol=1e-6)
    assert back.evaluate((x, y))["loss"] == pytest.approx(model.evaluate((x, y))["loss"])

    model.export(str(tmp_path / "scaled.pt"), "torch")
    state = torch.load(tmp_path / "scaled.pt", weights_only=True)
    weights = model.get_weights()
    np.testing.assert_array_equal(state["scale.scale"].numpy(), weights["scale/scale"])
    np.testing.assert_array_equal(state["scale.shift"].numpy(), weights["scale/shift"])
    rebuilt = torch_module(spec)
    rebuilt.load_state_dict(state, strict=True)
    rebuilt.eval()
    with torch.no_grad():
        out = rebuilt(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out, model.predict(x), rtol=1e-6, atol=1e-6)


def test_a_custom_optimizer_builder(rng: np.random.Generator) -> None:
    spec = unidl.Sequential([unidl.Input((3,)), TorchTestScale(name="scale")])
    model = build(spec)
    before = model.get_weights()["scale/scale"]
    x = rng.standard_normal((8, 3)).astype(np.float32)
    y = rng.standard_normal((8, 3)).astype(np.float32) + 5  # every gradient is negative
    model.configure(setup("mse", TorchTestSignSGD(lr=0.25)))
    model.train_epoch(ArrayData(x, y), one_batch(8), False)
    step = before - model.get_weights()["scale/scale"]
    np.testing.assert_allclose(np.abs(step), 0.25, rtol=1e-6)


def test_optimizer_state_of_a_plain_optimizer_builder_is_not_supported() -> None:
    model = build(unidl.Sequential([unidl.Input((3,)), unidl.Dense(2)]))
    model.configure(setup("mse", TorchTestSignSGD()))
    with pytest.raises(unidl.NotSupportedError, match=r"TorchTestSignSGD.*state"):
        model.get_optimizer_state()
