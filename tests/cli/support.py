"""What the CLI tests share: the spec files they write and the data files' layout."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Run = Callable[..., tuple[int, str, str]]

IRIS_SPEC = """\
model:
  layers:
  - class: Input
    shape: [4]
  - class: Dense
    units: 16
    activation: relu
  - class: Dense
    units: 3
    activation: softmax
training:
  loss: sparse_categorical_crossentropy
  optimizer: {class: Adam, lr: 1e-2}
  metrics: [accuracy]
  epochs: 2
  batch_size: 32
"""

DIABETES_SPEC = """\
layers:
- {class: Input, shape: [10]}
- {class: Dense, units: 8, activation: relu}
- {class: Dense, units: 1}
"""


@dataclass(frozen=True)
class Files:
    iris_spec: Path
    iris_npz: Path
    iris_csv: Path
    diabetes_spec: Path
    diabetes_csv: Path
    x: Any
    y: Any


def write_csv(path: Path, header: list[str], table: Any) -> Path:
    lines = [",".join(header)] + [",".join(f"{v:.6g}" for v in row) for row in table]
    path.write_text("\n".join(lines) + "\n")
    return path
