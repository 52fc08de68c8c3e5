"""MNIST with a small CNN: two Conv2D + MaxPool2D blocks, Flatten, Dense, softmax.

    python examples/mnist_cnn.py [--data DIR|mnist.npz] [--train-size N]
                                 [--backend torch|keras|all] [--epochs 8] [--seed 0]

Images are channels-last (N, H, W, C), as in Keras; the torch backend converts inside, and
Flatten after a convolution flattens in (H, W, C) order on every backend, so the weights
are the same on both (a hand-written nn.Conv2d / x.view(-1, ...) model would need
(N, C, H, W) input and flattens in its own order). Labels are class indices, with sparse
categorical cross-entropy. --data reads MNIST or Fashion-MNIST IDX files or a Keras-style
mnist.npz; without it the example runs on scikit-learn's shipped 8x8 digits and says so.
Prints accuracy and macro F1 per backend, then the first backend's classification report.
"""

from __future__ import annotations

import time

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
    parser = base_parser(__doc__, epochs=8)
    add_image_options(parser)
    args = parser.parse_args(argv)
    backends = select_backends(parser, args.backend)
    data = load_data(parser, lambda: load_images(args.data, seed=args.seed))
    # Add the channel axis: (N, H, W) -> (N, H, W, 1).
    x_train = data.x_train[:args.train_size, :, :, None]
    y_train = data.y_train[:args.train_size]
    x_test, y_test = data.x_test[..., None], data.y_test
    height, width = x_train.shape[1:3]

    spec = unidl.Sequential([
        unidl.Input((height, width, 1)),
        unidl.Conv2D(16, 3, padding="same", activation="relu"),
        unidl.MaxPool2D(2),
        unidl.Conv2D(32, 3, padding="same", activation="relu"),
        unidl.MaxPool2D(2),
        unidl.Flatten(),
        unidl.Dense(64, activation="relu"),
        unidl.Dense(data.classes, activation="softmax"),
    ])
    print(f"\n{data.source}: {len(x_train)} training images (10% held out for validation), "
          f"{len(x_test)} test images of {height}x{width}x1\n")
    print(spec.summary())

    rows: dict[str, dict[str, float | str]] = {}
    first: unidl.Model | None = None
    for name in backends:
        warm_up(spec, name, args.device)  # time training, not the framework's import
        if args.verbose:
            print(f"\n{name}:")
        start = time.perf_counter()
        model = unidl.fit(spec, (x_train, y_train), backend=name,
                          loss="sparse_categorical_crossentropy", optimizer=unidl.Adam(lr=1e-3),
                          metrics=["accuracy", "f1_macro"], epochs=args.epochs,
                          batch_size=args.batch_size, validation_split=0.1, seed=args.seed,
                          device=args.device, verbose=verbosity(args.verbose))
        took = time.perf_counter() - start
        test = model.evaluate((x_test, y_test))
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
    report = first.classification_report((x_test, y_test))
    print(f"\nclassification report, {first.backend_name}, test images:\n{report}")
    print(f"\nconfusion matrix (rows: true class, columns: predicted):\n"
          f"{report.confusion_matrix}")
    return numbers(rows)


if __name__ == "__main__":
    main()
