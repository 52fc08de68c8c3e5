"""Linear regression by gradient descent: recover known weights from generated data.

    python examples/linear_regression_gd.py [--samples 1000] [--lr 0.1] [--batch-size 0]
                                            [--backend torch|keras|all] [--epochs 100]

The classic side-by-side version writes this loop by hand twice: TensorFlow's ``with
tf.GradientTape()`` / ``W.assign_sub(lr * W_grad)`` and PyTorch's ``torch.autograd.grad`` /
``with torch.no_grad(): W -= lr * W_grad``, on ``cost = mean((W x + b - y)^2)``. Here the
model is one Dense(1) layer, the cost is the "mse" loss and the update is plain SGD. With
the default --batch-size 0 every step sees the whole data set (full-batch gradient descent,
as in that loop), so an epoch is one step. Prints the true and the learned weights and bias
per backend, and the closed-form least-squares fit they converge to.
"""

from __future__ import annotations

import time

import numpy as np
from _common import (
    base_parser,
    numbers,
    positive_int,
    print_table,
    select_backends,
    verbosity,
    warm_up,
)
from _datasets import linear_data

import unidl

TRUE_WEIGHTS = [2.0, -3.4]
TRUE_BIAS = 4.2


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = base_parser(__doc__, epochs=100)
    parser.add_argument("--samples", type=positive_int, default=1000,
                        help="generated samples (default 1000)")
    parser.add_argument("--noise", type=float, default=0.01,
                        help="standard deviation of the noise added to y (default 0.01)")
    parser.add_argument("--lr", type=float, default=0.1, help="SGD learning rate")
    parser.add_argument("--batch-size", type=int, default=0,
                        help="mini-batch size; 0 (default) = the whole data set per step")
    args = parser.parse_args(argv)
    backends = select_backends(parser, args.backend)
    if args.batch_size < 0:
        parser.error(f"--batch-size must be >= 0, got {args.batch_size}")

    x, y = linear_data(args.samples, TRUE_WEIGHTS, TRUE_BIAS, args.noise, seed=args.seed)
    batch = args.batch_size or args.samples
    spec = unidl.Sequential([unidl.Input((len(TRUE_WEIGHTS),)), unidl.Dense(1, name="linear")])
    steps = -(-args.samples // batch) * args.epochs
    print(f"y = x @ {TRUE_WEIGHTS} + {TRUE_BIAS} + {args.noise} * noise, {args.samples} "
          f"samples; SGD lr {args.lr}, batch {batch}, {args.epochs} epochs = {steps} steps")
    print(f"true: w = {TRUE_WEIGHTS}, b = {TRUE_BIAS}")

    rows: dict[str, dict[str, float | str]] = {}
    for name in backends:
        warm_up(spec, name, args.device)  # time training, not the framework's import
        if args.verbose:
            print(f"\n{name}:")
        start = time.perf_counter()
        model = unidl.fit(spec, (x, y), backend=name, loss="mse",
                          optimizer=unidl.SGD(lr=args.lr), epochs=args.epochs,
                          batch_size=batch, seed=args.seed, device=args.device,
                          verbose=verbosity(args.verbose))
        took = time.perf_counter() - start
        weights = model.get_weights()  # canonical names: "<layer>/<param>", Keras layout
        w = weights["linear/kernel"][:, 0]
        b = float(weights["linear/bias"][0])
        error = max(float(np.abs(w - TRUE_WEIGHTS).max()), abs(b - TRUE_BIAS))
        rows[name] = {"device": model.device,
                      **{f"w[{i}]": float(v) for i, v in enumerate(w)},
                      "b": b, "max |error|": error,
                      "final loss": model.history["loss"][-1], "time s": took}
    print_table(rows, {"max |error|": ".2e", "final loss": ".2e", "time s": ".1f"})

    # What gradient descent converges to: the least-squares fit of this (noisy) sample.
    solution, *_ = np.linalg.lstsq(np.c_[x, np.ones(len(x))].astype(np.float64), y,
                                   rcond=None)
    print(f"\nclosed-form least squares on the same data: w = "
          f"{[round(float(v), 4) for v in solution[:-1]]}, b = {solution[-1]:.4f}")
    return numbers(rows)


if __name__ == "__main__":
    main()
