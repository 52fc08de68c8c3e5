"""Dataset readers of the examples. Nothing here downloads anything.

- :func:`load_regression`: a CSV table such as the California housing ``housing.csv``, or
  scikit-learn's shipped diabetes data when no file is given.
- :func:`load_images`: MNIST / Fashion-MNIST as IDX files or a Keras-style ``.npz``, or
  scikit-learn's shipped 8x8 digits when no path is given.
- :func:`linear_data`: generated data with known linear weights.

Each loader returns the arrays and the notes the example should print (which data it used,
what it dropped), so a fallback is never silent.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from _common import positive_int

__all__ = [
    "IDX_DTYPES",
    "ImageData",
    "RegressionData",
    "add_image_options",
    "find_idx_files",
    "linear_data",
    "load_images",
    "load_regression",
    "read_csv_table",
    "read_idx",
    "read_mnist_dir",
    "read_mnist_npz",
]

Array = npt.NDArray[Any]

#: Target column of the California housing CSV (Aurélien Géron's ``housing.csv`` layout).
CALIFORNIA_TARGET = "median_house_value"
_MISSING = {"", "na", "nan", "null", "none", "?"}


# -- regression tables ---------------------------------------------------------------------
@dataclass
class RegressionData:
    x: npt.NDArray[np.float32]
    y: npt.NDArray[np.float32]
    features: list[str]
    target: str
    source: str
    notes: list[str] = field(default_factory=list)


def _number(text: str) -> float | None:
    """The cell as a float, NaN when missing, None when it is not a number."""
    s = text.strip()
    if s.lower() in _MISSING:
        return math.nan
    try:
        return float(s)
    except ValueError:
        return None


def read_csv_table(path: Path, target: str | None = None) -> RegressionData:
    """A numeric regression table from a CSV file with a header row.

    The target is ``target``, else ``median_house_value`` when present. Columns holding
    any non-numeric value (e.g. ``ocean_proximity``) are dropped, and so are rows with a
    missing value; both are reported in ``notes``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--csv {path}: no such file")
    with path.open(newline="", encoding="utf-8-sig") as f:
        rows = [r for r in csv.reader(f) if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise ValueError(f"{path}: needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    body = rows[1:]
    for i, r in enumerate(body, start=2):
        if len(r) != len(header):
            raise ValueError(f"{path}, line {i}: {len(r)} cells but the header has "
                             f"{len(header)} columns")
    name = target or (CALIFORNIA_TARGET if CALIFORNIA_TARGET in header else None)
    if name is None:
        raise ValueError(f"{path}: no {CALIFORNIA_TARGET!r} column; name the target with "
                         f"--target (columns: {', '.join(header)})")
    if name not in header:
        raise ValueError(f"{path}: no column {name!r} (columns: {', '.join(header)})")
    values: dict[str, list[float]] = {}
    dropped: list[str] = []
    for j, column in enumerate(header):
        parsed = [_number(r[j]) for r in body]
        if any(v is None for v in parsed):
            dropped.append(column)
        else:
            values[column] = [float(v) for v in parsed if v is not None]
    if name in dropped:
        raise ValueError(f"{path}: the target column {name!r} is not numeric")
    features = [c for c in header if c in values and c != name]
    if not features:
        raise ValueError(f"{path}: no numeric feature columns besides the target {name!r}")
    table = np.array([values[c] for c in [*features, name]], dtype=np.float64).T
    notes = [f"read {path}: {len(body)} rows, target {name!r}, {len(features)} numeric "
             f"features"]
    if dropped:
        notes.append(f"dropped non-numeric column(s): {', '.join(dropped)}")
    complete = ~np.isnan(table).any(axis=1)
    if not complete.all():
        columns = [*features, name]
        missing = [columns[j] for j in np.flatnonzero(np.isnan(table).any(axis=0))]
        notes.append(f"dropped {int((~complete).sum())} row(s) with missing values "
                     f"(in {', '.join(missing)})")
        table = table[complete]
    if len(table) < 10:
        raise ValueError(f"{path}: only {len(table)} complete rows; need at least 10")
    return RegressionData(table[:, :-1].astype(np.float32), table[:, -1].astype(np.float32),
                          features, name, str(path), notes)


def load_regression(csv_path: Path | None, target: str | None = None) -> RegressionData:
    """The CSV at ``csv_path``, or scikit-learn's diabetes data (shipped, no download)."""
    if csv_path is not None:
        return read_csv_table(csv_path, target)
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes()
    x = np.asarray(bunch.data, dtype=np.float32)
    y = np.asarray(bunch.target, dtype=np.float32)
    note = ("no --csv given, so this runs on scikit-learn's diabetes data (442 patients, "
            "10 features, shipped with scikit-learn) instead of California housing; pass "
            "--csv housing.csv (the California housing CSV) for the real data")
    return RegressionData(x, y, list(bunch.feature_names), "disease progression",
                          "scikit-learn load_diabetes", [note])


# -- image classification ------------------------------------------------------------------
@dataclass
class ImageData:
    """Images (N, H, W) scaled to [0, 1], integer labels, and what was used."""

    x_train: npt.NDArray[np.float32]
    y_train: npt.NDArray[np.int64]
    x_test: npt.NDArray[np.float32]
    y_test: npt.NDArray[np.int64]
    source: str
    notes: list[str] = field(default_factory=list)

    @property
    def classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1


#: IDX type codes (the third magic byte) -> big-endian NumPy dtypes.
IDX_DTYPES: dict[int, str] = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4",
                              0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> Array:
    """One IDX file (the MNIST format), gzipped or not, as a NumPy array."""
    path = Path(path)
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    dtype, ndim = np.dtype(IDX_DTYPES[data[2]]), data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expected = math.prod(shape) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(f"{path}: IDX header says shape {shape} ({expected} bytes) but the "
                         f"file holds {len(data) - header} bytes of data")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(
        dtype.newbyteorder("="))


def find_idx_files(directory: Path) -> dict[str, Path]:
    """The four MNIST IDX files of ``directory`` by role (train/test images/labels).

    Accepts the original names (``train-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``),
    the dotted variant (``train-images.idx3-ubyte``), each optionally ``.gz``.
    """
    found: dict[str, Path] = {}
    pattern = re.compile(r"^(train|t10k|test)-(images|labels)[-.]idx[13]-ubyte(\.gz)?$")
    for p in sorted(Path(directory).iterdir()):
        m = pattern.match(p.name)
        if m and p.is_file():
            role = f"{'train' if m.group(1) == 'train' else 'test'}_{m.group(2)}"
            found.setdefault(role, p)
    missing = [r for r in ("train_images", "train_labels", "test_images", "test_labels")
               if r not in found]
    if missing:
        raise FileNotFoundError(
            f"{directory}: no IDX file for {', '.join(missing)}; expected "
            "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
            "t10k-labels-idx1-ubyte (optionally .gz)")
    return found


def _checked(x_train: Array, y_train: Array, x_test: Array, y_test: Array,
             source: str) -> ImageData:
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim != 3:
            raise ValueError(f"{source}: {name} images must be (N, height, width), got "
                             f"shape {x.shape}")
        if y.ndim != 1 or len(y) != len(x):
            raise ValueError(f"{source}: {len(x)} {name} images but labels of shape {y.shape}")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise ValueError(f"{source}: train images are {x_train.shape[1:]} but test images "
                         f"are {x_test.shape[1:]}")
    # Bytes (MNIST) are /255; anything else (e.g. the digits' 0..16) by its largest value.
    peak = 255.0 if x_train.dtype == np.uint8 else (
        max(float(np.abs(x_train).max()), float(np.abs(x_test).max())) or 1.0)
    xs = [(x / np.float32(peak)).astype(np.float32) for x in (x_train, x_test)]
    return ImageData(xs[0], y_train.astype(np.int64), xs[1], y_test.astype(np.int64), source)


def read_mnist_dir(directory: Path) -> ImageData:
    files = find_idx_files(directory)
    arrays = {role: read_idx(p) for role, p in files.items()}
    return _checked(arrays["train_images"], arrays["train_labels"], arrays["test_images"],
                    arrays["test_labels"], str(directory))


def read_mnist_npz(path: Path) -> ImageData:
    """A Keras-style ``mnist.npz`` with ``x_train``, ``y_train``, ``x_test``, ``y_test``."""
    with np.load(path, allow_pickle=False) as f:
        missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in f.files]
        if missing:
            raise ValueError(f"{path}: missing array(s) {', '.join(missing)} (has "
                             f"{', '.join(f.files)})")
        return _checked(f["x_train"], f["y_train"], f["x_test"], f["y_test"], str(path))


def add_image_options(parser: argparse.ArgumentParser) -> None:
    """``--data``, ``--train-size`` and ``--batch-size``, shared by the MNIST examples."""
    parser.add_argument("--data", type=Path, default=None,
                        help="directory of MNIST IDX files, or an .npz (default: "
                             "scikit-learn's 8x8 digits)")
    parser.add_argument("--train-size", type=positive_int, default=None,
                        help="train on the first N training images only (default: all)")
    parser.add_argument("--batch-size", type=positive_int, default=32)


def load_images(path: Path | None, seed: int = 0) -> ImageData:
    """MNIST-style data from ``path`` (an IDX directory or ``.npz``), or scikit-learn's
    8x8 digits (shipped, no download) split 75/25 when ``path`` is None."""
    if path is not None:
        path = Path(path)
        if path.is_dir():
            data = read_mnist_dir(path)
        elif path.is_file() and path.suffix == ".npz":
            data = read_mnist_npz(path)
        else:
            raise FileNotFoundError(f"--data {path}: expected a directory of MNIST IDX files "
                                    "or an .npz file with x_train, y_train, x_test, y_test")
        h, w = data.x_train.shape[1:]
        data.notes.append(f"read {path}: {len(data.x_train)} training and {len(data.x_test)} "
                          f"test images of {h}x{w}, {data.classes} classes")
        return data
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = np.asarray(digits.images)
    y = np.asarray(digits.target)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25,
                                                        random_state=seed, stratify=y)
    data = _checked(x_train, y_train, x_test, y_test, "scikit-learn load_digits")
    data.notes.append(
        "no --data given, so this runs on scikit-learn's 8x8 handwritten digits (1797 "
        "images, shipped with scikit-learn) instead of MNIST; pass --data DIR (MNIST or "
        "Fashion-MNIST IDX files) or --data mnist.npz for the real data")
    return data


# -- generated data ------------------------------------------------------------------------
def linear_data(n: int, weights: list[float], bias: float, noise: float,
                seed: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """``y = x @ weights + bias + noise * N(0, 1)`` with ``x ~ N(0, 1)``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(weights)))
    y = x @ np.asarray(weights) + bias + noise * rng.normal(size=n)
    return x.astype(np.float32), y.astype(np.float32)
