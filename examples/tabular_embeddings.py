"""Categorical embeddings: one Embedding per categorical column, concatenated
with the numeric columns, then Dense -> ReLU -> BatchNorm -> Dropout blocks, softmax.

    python examples/tabular_embeddings.py [--csv car_evaluation.csv] [--target output]
                                          [--backend torch|keras|all] [--epochs 20]

The seed's PyTorch model (nn.Embedding per column, torch.cat, embedding dropout, then
Linear/ReLU/BatchNorm1d/Dropout blocks and CrossEntropyLoss) written once as a unidl.Graph.
--csv reads a table with a header row (e.g. the car-evaluation data: price, maint, doors,
persons, lug_capacity, safety, output); a column holding any non-number is categorical,
the others are standardised numeric features; the target is --target (default: the last
column). Without --csv the example generates a table with a learnable signal and says so.
Embedding sizes follow the seed: min(50, (categories + 1) // 2). Prints train/validation
accuracy per backend, then the first backend's classification report.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from _common import (
    base_parser,
    note,
    numbers,
    positive_int,
    print_table,
    select_backends,
    verbosity,
    warm_up,
)

import unidl

Array = npt.NDArray[Any]


@dataclass
class Table:
    """Categorical columns as integer codes, numeric columns, integer labels."""

    codes: list[Array]  # one (n, 1) int64 array per categorical column
    sizes: tuple[int, ...]  # categories per column
    numeric: Array  # (n, n_numeric) float32, standardised
    labels: Array  # (n,) int64
    classes: list[str]
    description: str


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_table(path: Path, target: str | None) -> Table:
    """A CSV with a header row; non-numeric columns become categories (codes 0..k-1)."""
    with path.open(newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    if len(rows) < 3:
        raise ValueError(f"{path}: needs a header row and at least two data rows")
    header, body = rows[0], rows[1:]
    bad = [i + 2 for i, r in enumerate(body) if len(r) != len(header)]
    if bad:
        raise ValueError(f"{path}: line {bad[0]} has a different number of fields than the "
                         f"header ({len(header)})")
    target = target or header[-1]
    if target not in header:
        raise ValueError(f"{path}: no column {target!r}; columns: {', '.join(header)}")
    columns = {name: [r[i].strip() for r in body] for i, name in enumerate(header)}
    classes, labels = np.unique(columns.pop(target), return_inverse=True)
    codes, sizes, numeric = [], [], []
    for values in columns.values():
        if all(_is_number(v) for v in values):
            numeric.append(np.asarray(values, dtype=np.float64))
        else:
            cats, inverse = np.unique(values, return_inverse=True)
            codes.append(inverse.reshape(-1, 1).astype(np.int64))
            sizes.append(len(cats))
    num = np.stack(numeric, axis=1) if numeric else np.zeros((len(body), 0))
    num = (num - num.mean(0)) / (num.std(0) + 1e-9)
    return Table(codes, tuple(sizes), num.astype(np.float32), labels.astype(np.int64),
                 [str(c) for c in classes],
                 f"{path.name}: {len(body)} rows, {len(codes)} categorical and "
                 f"{len(numeric)} numeric columns, {len(classes)} classes")


def generated_table(n: int = 2500, seed: int = 0) -> Table:
    """Four categorical columns and two numeric ones; the class (of 4) comes from a
    per-category effect plus a linear score of the numbers."""
    rng = np.random.default_rng(seed)
    sizes = (4, 4, 3, 6)
    codes = [rng.integers(0, k, size=(n, 1)) for k in sizes]
    numeric = rng.normal(size=(n, 2)).astype(np.float32)
    score = numeric @ rng.normal(size=(2, 4))
    for k, c in zip(sizes, codes, strict=True):
        score += 1.5 * rng.normal(size=(k, 4))[c[:, 0]]
    return Table(codes, sizes, numeric, score.argmax(1).astype(np.int64),
                 ["unacc", "acc", "good", "vgood"],
                 f"generated: {n} rows, 4 categorical and 2 numeric columns, 4 classes")


def build_spec(sizes: tuple[int, ...], n_numeric: int, n_classes: int,
               layers: tuple[int, ...] = (200, 100, 50), p: float = 0.4) -> unidl.Graph:
    """The seed's nn.Module, as data: one int64 Input and Embedding per categorical column
    (min(50, (k + 1) // 2) dimensions), dropout on the joined embeddings, the numeric
    columns appended, then Linear -> ReLU -> BatchNorm -> Dropout per hidden size."""
    columns = [unidl.Input((1,), dtype="int64", name=f"cat{i}") for i in range(len(sizes))]
    embedded = [unidl.Flatten()(unidl.Embedding(k, min(50, (k + 1) // 2))(c))
                for k, c in zip(sizes, columns, strict=True)]
    joined = embedded[0] if len(embedded) == 1 else unidl.Concatenate()(embedded)
    x = unidl.Dropout(p)(joined)
    inputs = list(columns)
    if n_numeric:
        numeric = unidl.Input((n_numeric,), name="numeric")
        inputs.append(numeric)
        x = unidl.Concatenate()([x, numeric])
    for units in layers:
        x = unidl.Dense(units, activation="relu")(x)
        x = unidl.BatchNorm()(x)
        x = unidl.Dropout(p)(x)
    # softmax + sparse cross-entropy: computed fused from the logits, as CrossEntropyLoss
    out = unidl.Dense(n_classes, activation="softmax", name="label")(x)
    return unidl.Graph(inputs=inputs, outputs=out, name="tabular")


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = base_parser(__doc__, epochs=20)
    parser.add_argument("--csv", type=Path, default=None,
                        help="a CSV with a header row (default: a generated table)")
    parser.add_argument("--target", default=None, help="the label column (default: last)")
    parser.add_argument("--rows", type=positive_int, default=2500,
                        help="rows of the generated table (default 2500)")
    parser.add_argument("--batch-size", type=positive_int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate")
    args = parser.parse_args(argv)
    backends = select_backends(parser, args.backend)
    if args.csv is not None:
        try:
            table = read_table(args.csv, args.target)
        except (OSError, ValueError) as e:
            parser.error(str(e))
    else:
        table = generated_table(args.rows, args.seed)
        note("no --csv given: using a generated table with a learnable signal")
    note(table.description)

    spec = build_spec(table.sizes, table.numeric.shape[1], len(table.classes))
    print(spec.summary())

    order = np.random.default_rng(args.seed).permutation(len(table.labels))
    cut = int(0.8 * len(order))
    inputs = [*table.codes, table.numeric] if table.numeric.shape[1] else table.codes

    def part(idx: Array) -> tuple[dict[str, Array], Array]:
        return ({n: a[idx] for n, a in zip(spec.input_names, inputs, strict=True)},
                table.labels[idx])

    train, val = part(order[:cut]), part(order[cut:])
    rows, report = {}, None
    for name in backends:
        warm_up(spec, name, args.device)  # time training, not the framework's import
        start = time.perf_counter()
        model = unidl.fit(spec, train, backend=name, loss="sparse_categorical_crossentropy",
                          optimizer=unidl.Adam(lr=args.lr), metrics=["accuracy"],
                          epochs=args.epochs, batch_size=args.batch_size, validation_data=val,
                          seed=args.seed, device=args.device, verbose=verbosity(args.verbose))
        rows[name] = {"train_accuracy": model.history["accuracy"][-1],
                      "val_accuracy": model.history["val_accuracy"][-1],
                      "val_loss": model.history["val_loss"][-1],
                      "time s": time.perf_counter() - start}
        if report is None:
            report = model.classification_report(val)
    print_table(rows, {"time s": ".1f"})
    legend = ", ".join(f"{i} = {c}" for i, c in enumerate(table.classes))
    print(f"\nclassification report ({backends[0]}, validation set; {legend}):\n{report}")
    return numbers(rows)


if __name__ == "__main__":
    main()
