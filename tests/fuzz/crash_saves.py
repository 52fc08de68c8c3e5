"""Crash and concurrency test of model-directory saves: random SIGKILLs over repeated saves.

Each trial runs two writer processes saving one directory over and over and one reader
loading it, and kills them at random: from outside (SIGKILL at a random moment) and from
inside (a writer SIGKILLs itself at a random file-system step of a save: a rename, an
unlink, an fsync, ...; the save after a kill first recovers, so these include kills during
the recovery of an earlier kill). Killed processes are restarted. After the last kill the
directory must load, as it is, and take one more save. Any failed load by the reader, any
save error other than a kill, or an unloadable end state is a failure. Run from the
repository root::

    python -m tests.fuzz.crash_saves 30
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from tests.helpers import mlp
from unidl.io import read_model_files, write_model_files
from unidl.spec.serialize import from_dict

SPEC = mlp(8, 3)
ROOT = Path(__file__).resolve().parents[2]  # where ``-m tests.fuzz.crash_saves`` resolves
STEPS = ("rename", "unlink", "rmdir", "mkdir", "fsync")


def _parse(doc: dict[str, Any]) -> tuple[object, dict[str, tuple[int, ...]]]:
    spec = from_dict(doc["model"])
    return spec, {k: p.shape for k, p in spec.params.items()}


def _save(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    weights = {k: rng.normal(size=p.shape).astype("float32") for k, p in SPEC.params.items()}
    write_model_files(path, {"model": SPEC.to_dict(), "training": None, "seed": seed}, weights,
                      None, {"backend": "torch", "backend_version": "0", "device": "cpu"},
                      {"loss": [float(seed)]})


def _self_killing(rng: random.Random) -> None:
    """Patch the file-system steps so that this process SIGKILLs itself at one of them."""
    at = [rng.randint(1, 40)]

    def wrap(name: str) -> None:
        real = getattr(os, name)

        def step(*a: Any, **k: Any) -> Any:
            at[0] -= 1
            if at[0] == 0:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*a, **k)
        setattr(os, name, step)
    for name in STEPS:
        wrap(name)


def child(role: str, path: Path, seed: int) -> None:
    rng = random.Random(seed)
    if role == "writer" and rng.random() < 0.5:
        _self_killing(rng)
    i = 0
    while True:
        i += 1
        try:
            if role == "writer":
                _save(path, seed * 1000 + i)
            else:
                read_model_files(path, _parse)
        except Exception as e:
            print(f"{role} error: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            os._exit(2)


def _start(role: str, path: Path, seed: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tests.fuzz.crash_saves", "--child", role,
                             str(path), str(seed)], stderr=subprocess.PIPE, cwd=ROOT)


def trial(root: Path, n: int, kills_per_trial: int, counts: dict[str, int]) -> None:
    import unidl

    path = root / f"t{n}" / "m"
    _save(path, 0)
    rng = random.Random(n)
    procs: dict[str, subprocess.Popen[bytes] | None] = {"w1": None, "w2": None, "r": None}
    seed = n * 100
    for _ in range(kills_per_trial):
        for name, p in procs.items():
            if p is None or p.poll() is not None:
                if p is not None:
                    _account(p, counts, killed_by_us=False)
                seed += 1
                procs[name] = _start("reader" if name == "r" else "writer", path, seed)
        time.sleep(rng.uniform(0.3, 2.0))
        for name in rng.sample(list(procs), rng.randint(1, 3)):
            p = procs[name]
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()
                _account(p, counts, killed_by_us=True)
                procs[name] = None
    for p in procs.values():
        if p is not None:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()
                _account(p, counts, killed_by_us=True)
            else:
                _account(p, counts, killed_by_us=False)
    counts["trials"] += 1
    try:
        unidl.load(path, backend="torch")  # as the kills left it
        _save(path, 1)
        unidl.load(path, backend="torch")
        left = sorted(q.name for q in path.parent.iterdir())
        if left != [".m.unidl-lock", "m"]:
            raise AssertionError(f"left behind: {left}")
    except Exception as e:
        counts["failures"] += 1
        print(f"trial {n}: FAILED: {type(e).__name__}: {e}", flush=True)


def _account(p: subprocess.Popen[bytes], counts: dict[str, int], killed_by_us: bool) -> None:
    err = p.stderr.read().decode() if p.stderr else ""
    if killed_by_us:
        counts["kills"] += 1
    elif p.returncode == -signal.SIGKILL:
        counts["kills"] += 1
        counts["self_kills"] += 1
    else:
        counts["failures"] += 1
        print(f"child exited {p.returncode}: {err.strip()[-500:]}", flush=True)


def main(trials: int, kills_per_trial: int = 10) -> int:
    counts = {"trials": 0, "kills": 0, "self_kills": 0, "failures": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(trials):
            trial(Path(tmp), n, kills_per_trial, counts)
    print(counts)
    return 1 if counts["failures"] else 0


if __name__ == "__main__":
    if sys.argv[1] == "--child":
        child(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(main(int(sys.argv[1])))
