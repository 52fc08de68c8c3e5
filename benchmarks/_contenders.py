"""The native contenders of ``bench_fit.py``: what a user would write or pick instead of unidl.

Each ``*_runner(w, epochs, fresh)`` prepares one contender for workload ``w`` and returns a
:data:`Runner`, a call that trains ``epochs`` epochs. With ``fresh`` every call builds a new
model (and optimizer) first, so construction and weight initialisation count, as they do
for a user's run; without it the model is built and warmed up once and each call trains it
further (steady state). A runner may return the seconds it measured itself (the Keras-on-
torch child does, so the pipe to it is not timed); otherwise the caller times the call.

Contenders whose package is missing raise :class:`Skip` with the reason to print.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _workloads import MSE, Workload

__all__ = ["Runner", "Skip", "keras_fit_runner", "keras_torch_runner", "require",
           "skorch_runner", "torch_dataloader_runner", "torch_loop_runner"]

#: One timed run; returns the seconds it measured itself, or None (the caller times it).
Runner = Callable[[], "float | None"]

REQUIREMENTS = "pip install -r benchmarks/requirements.txt"


class Skip(Exception):
    """This contender cannot run here (its package is missing); the message says why."""


def require(*modules: str) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise Skip(f"{', '.join(missing)} not installed ({REQUIREMENTS})")


def torch_loop_runner(w: Workload, epochs: int, fresh: bool, device: str = "cpu",
                      fused: bool = False) -> Runner:
    """The loop a careful torch user writes: tensors on the device, a permutation per
    epoch, slicing, zero_grad/backward/step, the loss accumulated on the device."""
    require("torch")
    import torch

    x, y = w.torch_data()
    dev = torch.device(device)
    loss_fn = torch.nn.MSELoss() if w.loss == MSE else torch.nn.CrossEntropyLoss()

    def setup() -> tuple[Any, Any]:
        torch.manual_seed(0)  # the same initial weights in every run, as unidl's seed=0 gives
        model = w.torch_module().to(dev)
        return model, torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7,
                                       fused=fused or None)

    def train(model: Any, opt: Any, n: int) -> None:
        xt, yt = torch.as_tensor(x[:n], device=dev), torch.as_tensor(y[:n], device=dev)
        for _ in range(epochs):
            perm = torch.randperm(n, device=dev)
            total = torch.zeros((), device=dev)
            for i in range(0, n, w.batch_size):
                idx = perm[i:i + w.batch_size]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(xt[idx]), yt[idx])
                loss.backward()
                opt.step()
                total += loss.detach() * len(idx)
            float(total)

    model, opt = setup()
    train(model, opt, 256)  # warm-up: kernels, allocator
    if fresh:
        return lambda: train(*setup(), w.n)
    return lambda: train(model, opt, w.n)


def torch_dataloader_runner(w: Workload, epochs: int, fresh: bool, device: str = "cpu"
                            ) -> Runner:
    """The PyTorch scenario's loop: a map-style Dataset, DataLoader(shuffle=True), loss.item()."""
    require("torch")
    import torch
    from torch.utils.data import DataLoader, Dataset

    x, y = w.torch_data()
    dev = torch.device(device)
    loss_fn = torch.nn.MSELoss() if w.loss == MSE else torch.nn.CrossEntropyLoss()

    class Pairs(Dataset[tuple[Any, Any]]):  # the PyTorch scenario's DatasetCalifornia
        def __init__(self, n: int) -> None:
            self.x = torch.tensor(x[:n], dtype=torch.float32)
            self.y = torch.tensor(y[:n])

        def __len__(self) -> int:
            return len(self.x)

        def __getitem__(self, i: int) -> tuple[Any, Any]:
            return self.x[i], self.y[i]

    def setup(n: int) -> tuple[Any, Any, Any]:
        torch.manual_seed(0)
        model = w.torch_module().to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
        return DataLoader(Pairs(n), batch_size=w.batch_size, shuffle=True), model, opt

    def train(loader: Any, model: Any, opt: Any) -> None:
        for _ in range(epochs):
            for xb, yb in loader:
                xb, yb = xb.to(dev), yb.to(dev)
                opt.zero_grad()
                loss = loss_fn(model(xb), yb)
                loss.backward()
                opt.step()
                loss.item()

    train(*setup(256))
    if fresh:
        return lambda: train(*setup(w.n))
    parts = setup(w.n)
    return lambda: train(*parts)


def skorch_runner(w: Workload, epochs: int, fresh: bool, device: str = "cpu") -> Runner:
    """skorch's ``NeuralNetClassifier``/``NeuralNetRegressor`` on the torch module, with
    everything it does by default except the 20% validation split (``train_split=None``),
    so it trains on the same samples as the others."""
    require("torch", "skorch")
    import torch
    from skorch import NeuralNetClassifier, NeuralNetRegressor

    x, y = w.torch_data()
    cls, criterion = ((NeuralNetRegressor, torch.nn.MSELoss) if w.loss == MSE
                      else (NeuralNetClassifier, torch.nn.CrossEntropyLoss))

    def setup() -> Any:
        torch.manual_seed(0)
        return cls(w.torch_module(), criterion=criterion, optimizer=torch.optim.Adam,
                   lr=1e-3, optimizer__eps=1e-7, max_epochs=epochs, batch_size=w.batch_size,
                   iterator_train__shuffle=True, train_split=None, device=device, verbose=0)

    setup().fit(x[:256], y[:256])
    if fresh:  # fit() initialises the module, optimizer and callbacks afresh
        return lambda: setup().fit(x, y) and None
    net = setup().initialize()
    return lambda: net.partial_fit(x, y) and None


def keras_fit_runner(w: Workload, epochs: int, fresh: bool) -> Runner:
    """``keras.Model.fit`` on the same arrays, on the backend keras was (or will be)
    imported with: TensorFlow unless ``KERAS_BACKEND`` says otherwise."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    require("keras")
    import keras

    x, y = w.data()
    loss = MSE if w.loss == MSE else keras.losses.SparseCategoricalCrossentropy(
        from_logits=True)

    def setup() -> Any:
        keras.utils.set_random_seed(0)
        model = w.keras_model()
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
        return model

    def train(model: Any, n: int) -> None:
        model.fit(x[:n], y[:n], batch_size=w.batch_size, epochs=epochs, verbose=0,
                  shuffle=True)

    model = setup()
    train(model, 256)
    if fresh:
        return lambda: train(setup(), w.n)
    return lambda: train(model, w.n)


def keras_torch_runner(w: Workload, epochs: int, fresh: bool) -> Runner:
    """``keras.Model.fit`` with Keras 3 on its torch backend. Keras fixes its backend at
    import and this process runs it on TensorFlow, so the contender lives in a child
    process (``_keras_child.py``) that builds the same workload and, for every line it is
    sent, trains once and answers the seconds it took: the child's runs are interleaved
    with the other contenders' like any other runner."""
    require("keras", "torch")
    child = Path(__file__).with_name("_keras_child.py")
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    proc = subprocess.Popen([sys.executable, str(child), w.key, str(epochs),
                             "fresh" if fresh else "steady"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    stdout = proc.stdout

    def answer() -> dict[str, Any]:
        line = stdout.readline()
        if not line:
            raise Skip(f"the Keras-on-torch child exited with status {proc.wait()}")
        reply: dict[str, Any] = json.loads(line)
        if "skip" in reply:
            raise Skip(reply["skip"])
        return reply

    answer()  # {"ready": true} once it has built and warmed up
    return _Child(proc, answer)


class _Child:
    """The runner of a child process: each call is one run there; ``close`` ends it."""

    def __init__(self, proc: subprocess.Popen[str], answer: Callable[[], dict[str, Any]]
                 ) -> None:
        self._proc, self._answer = proc, answer

    def __call__(self) -> float:
        assert self._proc.stdin is not None
        self._proc.stdin.write("run\n")
        self._proc.stdin.flush()
        return float(self._answer()["seconds"])

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        self._proc.wait()
