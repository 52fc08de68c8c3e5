"""The measured figures of docs/parity.md, between two backends (default torch and keras).

    python benchmarks/parity.py [--backends torch,keras] [--epochs 3] [--only digits]

Part 1, the models of ``tests/test_cross_backend.py`` in its settings (which asserts the
bounds): forward passes of every ``FORWARD_SPECS`` / ``GRAPH_SPECS`` case both backends
declare, with identical weights (max abs difference between the backends and against the
float64 NumPy reference); 3 epochs of training of its MLP and CNN on standardised digits
(SGD momentum 0.9 and Adam, batch 32, seed 7) and of the tabular-embeddings graph (Adam,
seed 5); then the test CNN with a bias before BatchNorm (standardised digits), and with
ReLU -> BatchNorm -> MaxPool (1 epoch; standardised and raw digits), all with Adam.

Part 2 ("Where frameworks force a difference"). Setting: scikit-learn's 8x8 digits, the
first 1400 samples; the MLP of ``tests/test_cross_backend.py`` (64 -> Dense 32 relu ->
Dense 16 tanh -> Dense 10 softmax), sparse categorical cross-entropy, batch 32, seed 7,
CPU, ``--epochs`` epochs (3, as the parity tests). Inputs: raw pixels scaled to [0, 1]
(``x / 16``), standardised the way the parity tests do (``(x - mean) / (std + 1e-3)``:
near-constant pixel columns become values around +-37), and standardised with
scikit-learn's ``StandardScaler`` (constant columns stay 0). Printed: the largest absolute
difference of any final weight and the largest relative difference of the per-epoch losses
between the two backends.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

import unidl
from unidl.testing.cases import (
    FORWARD_SPECS,
    GRAPH_SPECS,
    random_input,
    random_weights,
    tabular_graph,
)
from unidl.testing.reference import forward

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.test_cross_backend import _cnn, _mlp, tabular_data


def _declares(backend: str, spec: Any, training: bool = False) -> bool:
    caps = unidl.registry.get_backend(backend).capabilities
    if isinstance(spec, unidl.Graph) and "graph" not in caps.features:
        return False
    if any(caps.missing_for_layer(layer) for layer in spec.layers):
        return False
    kinds = {layer.kind for layer in spec.layers}
    return not training or all(f in caps.features for k, f in (
        ("Dropout", "dropout"), ("BatchNorm", "batchnorm_training")) if k in kinds)


def _outputs(out: Any) -> list[np.ndarray]:
    return [np.asarray(o) for o in out] if isinstance(out, (list, tuple)) else [
        np.asarray(out)]


def forward_parity(backends: list[str]) -> None:
    for label, specs in (("Sequential", FORWARD_SPECS), ("Graph", GRAPH_SPECS)):
        between, reference, cases = 0.0, 0.0, 0
        for _, spec in sorted(specs.items()):
            if not all(_declares(b, spec) for b in backends):
                continue
            weights = random_weights(spec, seed=3)
            x = random_input(spec, n=9, seed=4)
            outs = []
            for b in backends:
                model = unidl.build(spec, backend=b, device="cpu")
                model.set_weights(weights)
                outs.append(_outputs(model.predict(list(x) if isinstance(x, tuple) else x)))
            want = _outputs(forward(spec, weights, x))
            for oa, ob, w in zip(outs[0], outs[1], want, strict=True):
                between = max(between, float(np.abs(oa - ob).max()))
                reference = max(reference, float(np.abs(oa - w).max()),
                                float(np.abs(ob - w).max()))
            cases += 1
        print(f"| forward, {cases} {label} cases | {between:.2e} | against the reference: "
              f"{reference:.2e} |", flush=True)


def _standardised_digits(cnn: bool) -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    x = (x[:1400] / 16.0).astype(np.float32)
    x = (x - x.mean(0)) / (x.std(0) + 1e-3)
    return (x.reshape(-1, 8, 8, 1) if cnn else x), y[:1400]


def _diff(runs: list[Any]) -> tuple[float, float]:
    wa, wb = runs[0].get_weights(), runs[1].get_weights()
    weights = max(float(np.abs(wa[k] - wb[k]).max()) for k in wa)
    la, lb = np.asarray(runs[0].history["loss"]), np.asarray(runs[1].history["loss"])
    return weights, float(np.max(np.abs(la - lb) / np.abs(lb)))


def training_parity(backends: list[str], epochs: int) -> None:
    for arch in ("mlp", "cnn"):
        spec = _cnn() if arch == "cnn" else _mlp()
        if not all(_declares(b, spec, training=True) for b in backends):
            continue
        data = _standardised_digits(arch == "cnn")
        for label, opt in (("SGD momentum 0.9", unidl.SGD(lr=0.05, momentum=0.9)),
                           ("Adam", unidl.Adam(lr=1e-3))):
            runs = [unidl.fit(spec, data, backend=b, loss="sparse_categorical_crossentropy",
                              optimizer=opt, epochs=epochs, batch_size=32, seed=7,
                              device="cpu", verbose=0) for b in backends]
            w, loss = _diff(runs)
            print(f"| training {arch}, {label}, {epochs} epochs | weights {w:.2e} | "
                  f"losses {loss:.2e} rel |", flush=True)
    spec = tabular_graph(n_categories=(10, 6, 4), n_numeric=5, hidden=(16, 8))
    if all(_declares(b, spec, training=True) for b in backends):
        x, y = tabular_data(256)
        runs = [unidl.fit(spec, (x, y), backend=b, loss="sparse_categorical_crossentropy",
                          optimizer=unidl.Adam(lr=1e-2), epochs=epochs, batch_size=32,
                          seed=5, device="cpu", verbose=0) for b in backends]
        w, loss = _diff(runs)
        print(f"| training the tabular-embeddings graph, Adam, {epochs} epochs | weights "
              f"{w:.2e} | losses {loss:.2e} rel |", flush=True)


def _cnn_variant(bias_before_batchnorm: bool, relu_before_batchnorm: bool
                 ) -> unidl.Sequential:
    """The test CNN, with one of the two changes docs/parity.md explains."""
    first: list[Any] = [unidl.Conv2D(6, 3, padding="same", use_bias=bias_before_batchnorm)]
    if relu_before_batchnorm:
        first = [unidl.Conv2D(6, 3, padding="same", activation="relu", use_bias=False),
                 unidl.BatchNorm()]
    else:
        first += [unidl.BatchNorm(), unidl.Activation("relu")]
    return unidl.Sequential([
        unidl.Input((8, 8, 1)), *first, unidl.MaxPool2D(),
        unidl.Conv2D(8, 3, strides=2, padding="same", activation="relu"),
        unidl.Flatten(), unidl.Dense(10, activation="softmax")])


def forced_differences(backends: list[str], epochs: int) -> None:
    x, y = load_digits(return_X_y=True)
    raw = ((x[:1400] / 16.0).astype(np.float32).reshape(-1, 8, 8, 1), y[:1400])
    standardised = _standardised_digits(cnn=True)
    for label, spec, n, data in (
            ("bias before BatchNorm, standardised", _cnn_variant(True, False), epochs,
             standardised),
            ("ReLU -> BatchNorm -> MaxPool (pool ties), standardised",
             _cnn_variant(False, True), 1, standardised),
            ("ReLU -> BatchNorm -> MaxPool (pool ties), raw x/16", _cnn_variant(False, True),
             1, raw)):
        if not all(_declares(b, spec, training=True) for b in backends):
            continue
        runs = [unidl.fit(spec, data, backend=b, loss="sparse_categorical_crossentropy",
                          optimizer=unidl.Adam(lr=1e-3), epochs=n, batch_size=32, seed=7,
                          device="cpu", verbose=0) for b in backends]
        w, _ = _diff(runs)
        first = [f"{r.history['loss'][0]:.4f}" for r in runs]
        print(f"| CNN, {label}, Adam, {n} epochs | weights {w:.2e} | first-epoch losses "
              f"{' vs '.join(first)} |", flush=True)


def mlp() -> unidl.Sequential:
    return unidl.Sequential([
        unidl.Input((64,)),
        unidl.Dense(32, activation="relu"),
        unidl.Dense(16, activation="tanh"),
        unidl.Dense(10, activation="softmax"),
    ])


def inputs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    x, y = load_digits(return_X_y=True)
    x, y = x[:1400], y[:1400]
    raw = (x / 16.0).astype(np.float32)
    tested = ((raw - raw.mean(0)) / (raw.std(0) + 1e-3)).astype(np.float32)
    scaler = StandardScaler().fit_transform(raw).astype(np.float32)
    return {"raw x/16": (raw, y), "standardised (x-mean)/(std+1e-3)": (tested, y),
            "StandardScaler": (scaler, y)}


def compare(backends: list[str], data: tuple[np.ndarray, np.ndarray],
            optimizer: unidl.spec.Optimizer, epochs: int) -> tuple[float, float]:
    runs = [unidl.fit(mlp(), data, backend=b, loss="sparse_categorical_crossentropy",
                      optimizer=optimizer, epochs=epochs, batch_size=32, seed=7,
                      device="cpu", verbose=0) for b in backends]
    wa, wb = runs[0].get_weights(), runs[1].get_weights()
    weights = max(float(np.abs(wa[k] - wb[k]).max()) for k in wa)
    la, lb = np.asarray(runs[0].history["loss"]), np.asarray(runs[1].history["loss"])
    return weights, float(np.max(np.abs(la - lb) / np.abs(lb)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="torch,keras")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--only", choices=["models", "digits"], default=None)
    args = parser.parse_args(argv)
    backends = args.backends.split(",")
    if args.only != "digits":
        print(f"{' vs '.join(backends)}, CPU: the models of tests/test_cross_backend.py")
        print("| what | max abs difference | |\n|---|---|---|")
        forward_parity(backends)
        training_parity(backends, args.epochs)
        forced_differences(backends, args.epochs)
        print()
    if args.only == "models":
        return
    optimizers: list[tuple[str, Any]] = [
        ("Adam(lr=1e-3)", unidl.Adam(lr=1e-3)),
        ("Adam(lr=1e-3, epsilon=1e-3)", unidl.Adam(lr=1e-3, epsilon=1e-3)),
        ("SGD(lr=0.05, momentum=0.9)", unidl.SGD(lr=0.05, momentum=0.9)),
    ]
    print(f"{' vs '.join(backends)}, digits MLP, 1400 samples, {args.epochs} epochs, "
          "batch 32, seed 7, CPU")
    print("| inputs | optimizer | max abs weight diff | max rel loss diff |")
    print("|---|---|---|---|")
    for name, data in inputs().items():
        for label, opt in optimizers:
            w, loss = compare(backends, data, opt, args.epochs)
            print(f"| {name} | {label} | {w:.2e} | {loss:.2e} |", flush=True)


if __name__ == "__main__":
    main()
