"""California housing the scikit-learn way: one Pipeline, unidl on each backend, a forest.

    python examples/california_sklearn.py [--data housing.csv] [--target COLUMN] [--folds 5]
                                          [--backend torch|keras|all] [--epochs 50] [--seed 0]

The TensorFlow/PyTorch California-housing comparison (an 8-30-15-1 MLP, Adam, MSE, standardised
features and target) as scikit-learn users write it: every contender is the same pipeline,
StandardScaler then the regressor, with the target standardised too
(TransformedTargetRegressor), and cross_val_score scores each on the same KFold splits. The
regressors are unidl's UnidlRegressor with that MLP on every chosen backend, and scikit-learn's
RandomForestRegressor. Without --data (alias --csv) the example runs on scikit-learn's
shipped diabetes data and says so; scikit-learn's fetch_california_housing downloads, so it
is not used.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    base_parser,
    load_data,
    numbers,
    positive_int,
    print_table,
    select_backends,
    warm_up,
)
from _datasets import load_regression
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import RandomForestRegressor
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import unidl
from unidl.sklearn import UnidlRegressor, mlp

# Models this small train faster on one thread than on a team of OpenMP threads (torch's),
# and far more steadily on a busy machine: measured on two shared cores, 3 s instead of
# 10-80 s for the torch row. Read when the framework is first imported; a value you set wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")

HIDDEN = (30, 15)


def contender(regressor: Any) -> TransformedTargetRegressor:
    """The pipeline every row uses: scaled features and a standardised target."""
    return TransformedTargetRegressor(make_pipeline(StandardScaler(), regressor),
                                      transformer=StandardScaler())


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = base_parser(__doc__, epochs=50)
    parser.add_argument("--data", "--csv", dest="data", type=Path, default=None,
                        help="California housing CSV (housing.csv layout) or any numeric CSV "
                             "with --target; default: scikit-learn's diabetes data")
    parser.add_argument("--target", default=None,
                        help="target column of --data (default median_house_value)")
    parser.add_argument("--folds", type=positive_int, default=5,
                        help="cross-validation folds (default 5)")
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    parser.add_argument("--trees", type=positive_int, default=100,
                        help="RandomForestRegressor trees (default 100)")
    args = parser.parse_args(argv)
    backends = select_backends(parser, args.backend)
    if args.folds < 2:
        parser.error("--folds must be at least 2")

    data = load_data(parser, lambda: load_regression(args.data, args.target))
    n_samples, n_features = data.x.shape
    folds = KFold(args.folds, shuffle=True, random_state=args.seed)
    layout = "-".join(str(n) for n in (n_features, *HIDDEN, 1))
    print(f"\n{data.source}: {n_samples} samples, {n_features} features, target "
          f"{data.target!r}; {args.folds}-fold cross-validation (the same folds for every "
          f"row), R^2 on each held-out fold\n")

    regressors: dict[str, tuple[str, Any]] = {}
    for name in backends:
        regressors[name] = (f"UnidlRegressor {layout}", UnidlRegressor(
            hidden_layer_sizes=HIDDEN, optimizer=unidl.Adam(lr=args.lr), epochs=args.epochs,
            batch_size=args.batch_size, tol=None, backend=name, device=args.device,
            seed=args.seed, verbose=2 if args.verbose else 0))
    regressors["scikit-learn"] = (f"RandomForestRegressor({args.trees} trees)",
                                  RandomForestRegressor(n_estimators=args.trees,
                                                        random_state=args.seed))

    rows: dict[str, dict[str, float | str]] = {}
    for name, (model, regressor) in regressors.items():
        if name in backends:  # time training, not the framework's import
            warm_up(mlp(n_features, 1, HIDDEN), name, args.device)
        start = time.perf_counter()
        scores = cross_val_score(contender(regressor), data.x, data.y, cv=folds)
        took = time.perf_counter() - start
        rows[name] = {"model": model,
                      **{f"fold {i}": float(s) for i, s in enumerate(scores, start=1)},
                      "mean r2": float(np.mean(scores)), "std": float(np.std(scores)),
                      "time s": took}
    print_table(rows, {"time s": ".1f"})
    print(f"\nevery row: TransformedTargetRegressor(make_pipeline(StandardScaler(), "
          f"regressor), transformer=StandardScaler()), scored by cross_val_score on "
          f"KFold({args.folds}, shuffle=True, random_state={args.seed})")
    return numbers(rows)


if __name__ == "__main__":
    main()
