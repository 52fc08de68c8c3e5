"""Fuzz the model-directory loader: N generated model directories, each a valid save with
one hostile or damaged edit (``tests/model_dirs.py``); every load must succeed or raise a
``UnidlError``. Prints the counts by outcome. Run from the repository root::

    python -m tests.fuzz.model_dirs 5000

(``TMPDIR=/dev/shm`` or another memory file system makes it faster.)
"""

from __future__ import annotations

import collections
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings

import unidl
from tests.helpers import mlp
from tests.model_dirs import mutate, mutations


def main(n: int) -> int:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 8)).astype("float32"), rng.integers(0, 3, size=32)
    model = unidl.fit(mlp(8, 3), (x, y), backend="torch", loss="sparse_categorical_crossentropy",
                      optimizer=unidl.Adam(lr=0.01), epochs=1, seed=0, verbose=0)
    pristine = Path(tempfile.mkdtemp()) / "m"
    model.save(pristine)
    outcomes: collections.Counter[str] = collections.Counter()
    bad: list[str] = []
    slowest = [0.0]

    @settings(max_examples=n, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(edits=mutations())
    def case(edits: tuple[str, Any]) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "m"
            shutil.copytree(pristine, path)  # a fresh save, without the cost of its fsyncs
            mutate(path, *edits)
            start = time.perf_counter()
            try:
                unidl.load(path, backend="torch")
                outcomes["loaded"] += 1
            except unidl.UnidlError as e:
                outcomes[f"UnidlError:{type(e).__name__}"] += 1
            except BaseException as e:  # what the fuzz is looking for
                outcomes[f"OTHER:{type(e).__name__}"] += 1
                bad.append(f"{edits[0]}: {traceback.format_exc(limit=3)}")
            slowest[0] = max(slowest[0], time.perf_counter() - start)
            done = sum(outcomes.values())
            if done % 500 == 0:
                print(f"... {done} cases", flush=True)

    case()
    shutil.rmtree(pristine.parent)
    total = sum(outcomes.values())
    print(f"cases: {total}")
    for k, v in sorted(outcomes.items()):
        print(f"  {k}: {v}")
    print(f"slowest load: {slowest[0]:.3f} s")
    for b in bad[:5]:
        print(b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000))
