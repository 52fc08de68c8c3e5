"""California housing: an 8-30-15-1 MLP regressor, trained on every backend.

    python examples/california_mlp.py [--csv housing.csv] [--target COLUMN]
                                      [--backend torch|keras|all] [--epochs 50] [--seed 0]

Side-by-side TensorFlow/PyTorch tutorials build this model twice (a Keras Sequential with
compile/fit, and an nn.Module with a hand-written loop); here it is one spec. Features are
standardised with scikit-learn's StandardScaler fitted on the training split, and so is the
target (house values are ~1e5, too large for Adam's default step); test MAE is reported
back in target units. Without --csv the example runs on scikit-learn's shipped diabetes data
and says so (scikit-learn's fetch_california_housing downloads, so it is not used).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from _common import (
    base_parser,
    load_data,
    numbers,
    positive_int,
    print_table,
    select_backends,
    verbosity,
    warm_up,
)
from _datasets import load_regression
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import unidl


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = base_parser(__doc__, epochs=50)
    parser.add_argument("--csv", type=Path, default=None,
                        help="California housing CSV (housing.csv layout); default: "
                             "scikit-learn's diabetes data")
    parser.add_argument("--target", default=None,
                        help="target column of --csv (default median_house_value)")
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    args = parser.parse_args(argv)
    backends = select_backends(parser, args.backend)

    data = load_data(parser, lambda: load_regression(args.csv, args.target))

    # 60/20/20 train/validation/test; scaler statistics from the training split only.
    x_rest, x_test, y_rest, y_test = train_test_split(data.x, data.y, test_size=0.2,
                                                      random_state=args.seed)
    x_train, x_val, y_train, y_val = train_test_split(x_rest, y_rest, test_size=0.25,
                                                      random_state=args.seed)
    scaler = StandardScaler().fit(x_train)
    x_train, x_val, x_test = (scaler.transform(a).astype(np.float32)
                              for a in (x_train, x_val, x_test))
    y_mean, y_std = float(y_train.mean()), float(y_train.std()) or 1.0

    def scaled(y: np.ndarray) -> np.ndarray:
        return ((y - y_mean) / y_std).astype(np.float32)

    n_features = x_train.shape[1]
    spec = unidl.Sequential([
        unidl.Input((n_features,)),
        unidl.Dense(30, activation="relu"),
        unidl.Dense(15, activation="relu"),
        unidl.Dense(1),
    ])
    print(f"\n{data.source}: {len(x_train)} train / {len(x_val)} validation / {len(x_test)} "
          f"test samples, model {n_features}-30-15-1\n")
    print(spec.summary())

    rows: dict[str, dict[str, float | str]] = {}
    for name in backends:
        warm_up(spec, name, args.device)  # time training, not the framework's import
        if args.verbose:
            print(f"\n{name}:")
        start = time.perf_counter()
        model = unidl.fit(spec, (x_train, scaled(y_train)), backend=name, loss="mse",
                          optimizer=unidl.Adam(lr=args.lr), metrics=["mae", "r2"],
                          epochs=args.epochs, batch_size=args.batch_size,
                          validation_data=(x_val, scaled(y_val)), seed=args.seed,
                          device=args.device, verbose=verbosity(args.verbose))
        took = time.perf_counter() - start
        test = model.evaluate((x_test, scaled(y_test)))
        rows[name] = {
            "device": model.device,
            "train loss": model.history["loss"][-1],
            "val loss": model.history["val_loss"][-1],
            "test mse": test["loss"],
            "test mae": test["mae"] * y_std,  # MAE scales with the target: back to its units
            "test r2": test["r2"],
            "time s": took,
        }
    print_table(rows, {"test mae": ".2f", "time s": ".1f"})
    print("\nlosses are the MSE of the standardised target; test mae is in target units")

    reference = LinearRegression().fit(x_train, y_train)
    print(f"reference: scikit-learn LinearRegression test r2 "
          f"{r2_score(y_test, reference.predict(x_test)):.4f}")
    return numbers(rows)


if __name__ == "__main__":
    main()
