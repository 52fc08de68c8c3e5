"""Train one unidl spec on every installed backend and compare the results side by side.

    python examples/demo.py [--backend torch,keras] [--epochs 15] [--device auto]

Data: scikit-learn's handwritten digits (ships with scikit-learn, no download).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import unidl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=",".join(unidl.backend_names()),
                        help="comma-separated backends (default: every installed one)")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    backends = [b for b in args.backend.split(",") if b]

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0)

    spec = unidl.Sequential([
        unidl.Input((64,)),
        unidl.Dense(64, activation="relu"),
        unidl.Dense(32, activation="relu"),
        unidl.Dense(10, activation="softmax"),
    ])
    print(spec.summary(), "\n")

    rows, preds, saved = [], {}, {}
    tmp = Path(tempfile.mkdtemp(prefix="unidl-demo-"))
    for name in backends:
        start = time.perf_counter()
        model = unidl.fit(spec, (x_train, y_train), backend=name,
                          loss="sparse_categorical_crossentropy",
                          optimizer=unidl.Adam(lr=1e-3), metrics=["accuracy", "f1"],
                          epochs=args.epochs, batch_size=32, validation_split=0.2,
                          seed=args.seed, device=args.device, verbose=0)
        took = time.perf_counter() - start
        test = model.evaluate((x_test, y_test))
        preds[name] = model.predict(x_test)
        saved[name] = model.save(tmp / name)
        rows.append((name, model.device, f"{model.history['loss'][-1]:.4f}",
                     f"{model.history['val_accuracy'][-1]:.4f}", f"{test['loss']:.4f}",
                     f"{test['accuracy']:.4f}", f"{test['f1']:.4f}", f"{took:.1f}s"))

    header = ("backend", "device", "train loss", "val acc", "test loss", "test acc",
              "test f1", "time")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(f"{c:<{w}}" for c, w in zip(r, widths, strict=True)))

    if len(backends) > 1:
        a, b = backends[0], backends[1]
        print(f"\nsame spec, data and seed: max |prediction difference| {a} vs {b}: "
              f"{np.abs(preds[a] - preds[b]).max():.2e}")
        moved = unidl.load(saved[a], backend=b)
        diff = np.abs(moved.predict(x_test) - preds[a]).max()
        print(f"saved on {a}, loaded on {b}: max |prediction difference| {diff:.2e}")


if __name__ == "__main__":
    main()
