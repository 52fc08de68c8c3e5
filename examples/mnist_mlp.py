"""MNIST with a multi-layer perceptron: Flatten, Dense 128 + Dropout 0.2, softmax over 10.

    python examples/mnist_mlp.py [--data DIR|mnist.npz] [--train-size N]
                                 [--backend torch|keras|all] [--epochs 10] [--seed 0]

The TensorFlow quickstart model (Keras Sequential with Flatten(input_shape=(28, 28)); in
PyTorch an nn.Module with a hand-written loop), trained like the Keras version: one-hot
labels, categorical cross-entropy, AdamW. --data reads MNIST or Fashion-MNIST IDX files (a
directory with train-images-idx3-ubyte[.gz] and friends) or a Keras-style mnist.npz;
without it the example runs on scikit-learn's shipped 8x8 digits and says so. Prints
accuracy and macro F1 per backend, then the first backend's classification report. Dropout
masks are drawn by each framework, so the rows differ slightly.
"""

from __future__ import annotations

import time

import numpy as np
from _common import (
    base_parser,
    load_data,
    numbers,
    print_table,
    select_backends,
    verbosity,
    warm_up,
)
from _datasets import add_image_options, load_images

import unidl


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = base_parser(__doc__, epochs=10)
    add_image_options(parser)
    args = parser.parse_args(argv)
    backends = select_backends(parser, args.backend)
    data = load_data(parser, lambda: load_images(args.data, seed=args.seed))
    x_train, y_train = data.x_train[:args.train_size], data.y_train[:args.train_size]
    k = data.classes
    one_hot = np.eye(k, dtype=np.float32)  # one-hot labels: y = np.eye(10)[y]
    height, width = x_train.shape[1:]

    spec = unidl.Sequential([
        unidl.Input((height, width)),
        unidl.Flatten(),
        unidl.Dense(128, activation="relu"),
        unidl.Dropout(0.2),
        unidl.Dense(k, activation="softmax"),
    ])
    print(f"\n{data.source}: {len(x_train)} training images (10% held out for validation), "
          f"{len(data.x_test)} test images of {height}x{width}\n")
    print(spec.summary())

    rows: dict[str, dict[str, float | str]] = {}
    first: unidl.Model | None = None
    for name in backends:
        warm_up(spec, name, args.device)  # time training, not the framework's import
        if args.verbose:
            print(f"\n{name}:")
        start = time.perf_counter()
        model = unidl.fit(spec, (x_train, one_hot[y_train]), backend=name,
                          loss="categorical_crossentropy", optimizer=unidl.AdamW(lr=1e-3),
                          metrics=["accuracy", "f1_macro"], epochs=args.epochs,
                          batch_size=args.batch_size, validation_split=0.1, seed=args.seed,
                          device=args.device, verbose=verbosity(args.verbose))
        took = time.perf_counter() - start
        test = model.evaluate((data.x_test, one_hot[data.y_test]))
        rows[name] = {
            "device": model.device,
            "train loss": model.history["loss"][-1],
            "val acc": model.history["val_accuracy"][-1],
            "test loss": test["loss"],
            "test acc": test["accuracy"],
            "test f1 (macro)": test["f1_macro"],
            "time s": took,
        }
        if first is None:
            first = model
    print_table(rows, {"time s": ".1f"})

    assert first is not None
    report = first.classification_report((data.x_test, one_hot[data.y_test]))
    print(f"\nclassification report, {first.backend_name}, test images:\n{report}")
    print(f"\nconfusion matrix (rows: true class, columns: predicted):\n"
          f"{report.confusion_matrix}")
    return numbers(rows)


if __name__ == "__main__":
    main()
