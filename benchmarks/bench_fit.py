"""Training time: ``unidl.fit`` against hand-written native code and the libraries users
would pick instead, all in one benchmark run.

    python benchmarks/bench_fit.py [--backend torch,keras]
                                   [--workloads mlp,california,cnn,cnn-scenario]
                                   [--mode fresh|steady] [--epochs 2] [--repeats 3]
                                   [--device cpu] [--markdown FILE]

Workloads: (a) MLP 784-256-128-10 on 60,000 synthetic samples, batch 128, Adam, sparse
cross-entropy; (b) the TensorFlow/PyTorch scenarios' California-housing MLP 8-30-15-1 on
20,640 samples, batch 32, Adam, MSE; (c) the MNIST CNN of ``examples/mnist_cnn.py`` (2 conv layers,
28x28x1 inputs: Conv2D(16)/Conv2D(32), "same", Dense 64) and (d) the scenarios' MNIST CNN
(Conv2D(32)/Conv2D(64), "valid", Dense 10 on the flattened 5x5x64), each on 2,048 samples,
batch 128, Adam, sparse cross-entropy. All on synthetic data, the same arrays for every
contender.

``--mode fresh`` (default) builds a new model in every timed run, so construction and
weight initialisation count, as in a user's run; ``--mode steady`` builds once and times
further epochs of the same model. Runs are interleaved (every contender once per round)
and the best of ``--repeats`` rounds is kept, so background load hits all alike.

Contenders (see ``_contenders.py``):
- torch loop: the hand-written loop a careful torch user writes (default Adam), the same
  with torch's fused Adam kernel (what unidl-torch uses), and the PyTorch scenario's DataLoader
  loop; skorch's NeuralNet; Keras 3 on its torch backend (in a child process: Keras fixes
  its backend at import); ``unidl.fit`` on torch;
- ``keras.Model.fit`` on TensorFlow; ``unidl.fit`` on keras.
A contender whose package is missing is skipped with a message
(``pip install -r benchmarks/requirements.txt`` adds skorch).

Columns: samples/s; "unidl / native" = the contender's time / unidl's time on the same
framework (above 1.00x unidl is faster); "time / torch loop" = the contender's time / the
hand-written torch loop's time (below 1.00x it is faster than that loop).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from _contenders import (
    Runner,
    Skip,
    keras_fit_runner,
    keras_torch_runner,
    skorch_runner,
    torch_dataloader_runner,
    torch_loop_runner,
)
from _workloads import MSE, WORKLOADS, Workload

import unidl

__all__ = ["Runner", "best_time", "unidl_runner"]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up lines

#: The contender every "time / torch loop" figure divides by.
REFERENCE = "torch loop (hand-written)"


def unidl_runner(w: Workload, backend: str, device: str, epochs: int, fresh: bool) -> Runner:
    """``unidl.fit`` (fresh: spec, build and fit in each run) or ``Model.fit`` (steady)."""
    x, y = w.data()
    loss = unidl.Loss(w.loss, from_logits=w.loss != MSE)

    def fit(n: int) -> unidl.Model:
        return unidl.fit(w.spec(), (x[:n], y[:n]), backend=backend, loss=loss,
                         optimizer=unidl.Adam(lr=1e-3), epochs=epochs,
                         batch_size=w.batch_size, seed=0, device=device, verbose=0)

    model = fit(256)  # warm-up: the framework's import, kernels, compilation
    if fresh:
        return lambda: fit(w.n) and None
    return lambda: model.fit((x, y), epochs=epochs, batch_size=w.batch_size,
                             verbose=0) and None


@dataclass(frozen=True)
class Contender:
    name: str
    framework: str  # the unidl backend its "unidl / native" ratio compares with
    make: Callable[[Workload, int, bool], Runner]  # (workload, epochs, fresh)


def contenders(backends: list[str], device: str) -> list[Contender]:
    out: list[Contender] = []
    if "torch" in backends:
        out += [
            Contender(REFERENCE, "torch",
                      lambda w, e, f: torch_loop_runner(w, e, f, device)),
            Contender("torch loop, fused Adam", "torch",
                      lambda w, e, f: torch_loop_runner(w, e, f, device, fused=True)),
            Contender("torch DataLoader (PyTorch scenario)", "torch",
                      lambda w, e, f: torch_dataloader_runner(w, e, f, device)),
            Contender("skorch NeuralNet", "torch",
                      lambda w, e, f: skorch_runner(w, e, f, device)),
            Contender("Keras 3 on torch, Model.fit", "torch", keras_torch_runner),
            Contender("unidl.fit on torch", "torch",
                      lambda w, e, f: unidl_runner(w, "torch", device, e, f)),
        ]
    if "keras" in backends:
        out += [
            Contender("Keras 3 on tensorflow, Model.fit", "keras", keras_fit_runner),
            Contender("unidl.fit on keras", "keras",
                      lambda w, e, f: unidl_runner(w, "keras", device, e, f)),
        ]
    return out


def best_time(runners: dict[str, Runner], repeats: int) -> dict[str, float]:
    """The best of ``repeats`` interleaved rounds, in seconds per contender. A runner
    that returns its own measurement (a child process) is taken at its word."""
    best = {k: float("inf") for k in runners}
    for _ in range(repeats):  # interleaved, so background load hits every contender alike
        for name, run in runners.items():
            gc.collect()
            start = time.perf_counter()
            measured = run()
            took = time.perf_counter() - start if measured is None else measured
            best[name] = min(best[name], took)
    return best


def measure(w: Workload, entrants: list[Contender], epochs: int, repeats: int,
            fresh: bool) -> dict[str, float]:
    """Prepare every contender for ``w`` (skipping, with a message, those that cannot run
    here), then time them all together."""
    runners: dict[str, Runner] = {}
    for c in entrants:
        try:
            runners[c.name] = c.make(w, epochs, fresh)
        except Skip as e:
            print(f"skipped {c.name}: {e}", file=sys.stderr, flush=True)
    try:
        return best_time(runners, repeats)
    finally:
        for run in runners.values():
            close = getattr(run, "close", None)
            if close is not None:
                close()


def rows(w: Workload, times: dict[str, float], entrants: list[Contender], epochs: int
         ) -> list[str]:
    """Table rows: samples/s, time of unidl on the same framework / this time, this
    time / the hand-written torch loop's."""
    frameworks = {c.name: c.framework for c in entrants}
    ref = times.get(REFERENCE)
    out = []
    for name, t in times.items():
        ours = times.get(f"unidl.fit on {frameworks[name]}")
        vs_unidl = "" if name.startswith("unidl") or ours is None else f"{t / ours:.2f}x"
        vs_loop = "" if ref is None else f"{t / ref:.2f}x"
        out.append(f"| {w.name} | {name} | {w.n * epochs / t:,.0f} | {vs_unidl} | {vs_loop} |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=",".join(unidl.backend_names()))
    parser.add_argument("--workloads", default=",".join(w.key for w in WORKLOADS))
    parser.add_argument("--mode", choices=("fresh", "steady"), default="fresh",
                        help="fresh: a new model in every timed run (default); steady: one "
                             "model, trained further in each run")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--markdown", help="also write the table to this Markdown file")
    args = parser.parse_args()
    backends = [b for b in args.backend.split(",") if b]
    keys = [k for k in args.workloads.split(",") if k]
    entrants = contenders(backends, args.device)
    start_load = ", ".join(f"{v:.2f}" for v in os.getloadavg())  # others' work adds noise

    lines = ["| workload | contender | samples/s | unidl / native | time / torch loop |",
             "|---|---|---:|---:|---:|"]
    for w in (w for w in WORKLOADS if w.key in keys):
        times = measure(w, entrants, args.epochs, args.repeats, args.mode == "fresh")
        for line in rows(w, times, entrants, args.epochs):
            lines.append(line)
            print(line, flush=True)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    setting = (f"{platform.machine()}, {os.cpu_count()} CPUs, device {args.device}; "
               f"{args.epochs} epochs per run, mode {args.mode}, best of {args.repeats}; "
               f"load average at start {start_load}, at end {load}")
    table = "\n".join(lines)
    print(f"\n{setting}\n\n{table}")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(f"<!-- generated by benchmarks/bench_fit.py: {setting} -->\n{table}\n")


if __name__ == "__main__":
    main()
