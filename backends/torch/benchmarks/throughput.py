"""unidl-torch training throughput vs a hand-written torch loop, same process, same work.

Both sides train the same architecture on device-resident data with the same batch order,
Adam, and an on-device loss sum synced once per epoch. Epochs alternate between the two
so drifts in machine load hit both equally; the best epoch of each is reported.

    python benchmarks/throughput.py [--device cpu|cuda:0] [--epochs 5]
"""

from __future__ import annotations

import argparse
import copy
import itertools
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from unidl_torch import TorchBackend

import unidl
from unidl.backend import TrainingSetup
from unidl.data import ArrayData, epoch_plan
from unidl.initializers import initial_weights


def _hand_epoch(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor,
                y: torch.Tensor, order: np.ndarray, bs: int, loss: str) -> float:
    index = torch.from_numpy(order).to(x.device)
    total = torch.zeros((), device=x.device)
    for idx in index.split(bs):
        xb, yb = x[idx], y[idx]
        opt.zero_grad(set_to_none=True)
        out = model(xb)
        value = F.cross_entropy(out, yb) if loss == "sparse" else F.mse_loss(out, yb)
        value.backward()
        opt.step()
        total += value.detach() * len(idx)
    return float(total) / len(order)


def bench(name: str, sizes: list[int], n: int, bs: int, loss: str, device: str,
          epochs: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, sizes[0])).astype(np.float32)
    if loss == "sparse":
        y = rng.integers(0, sizes[-1], n).astype(np.int64)
    else:
        y = rng.standard_normal((n, sizes[-1])).astype(np.float32)
    final = "softmax" if loss == "sparse" else None
    layers: list[unidl.spec.Layer] = [unidl.Input((sizes[0],))]
    layers += [unidl.Dense(s, activation="relu") for s in sizes[1:-1]]
    layers.append(unidl.Dense(sizes[-1], activation=final))
    spec = unidl.Sequential(layers)
    weights = initial_weights(spec, 0)
    model = TorchBackend().build(spec, weights, device)
    uloss = unidl.Loss("sparse_categorical_crossentropy" if loss == "sparse" else "mse")
    model.configure(TrainingSetup(uloss, unidl.Adam(lr=1e-3), loss == "sparse", 0))
    data = ArrayData(x, y)

    mods: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        mods += [nn.Linear(a, b), nn.ReLU()]
    hand = nn.Sequential(*mods[:-1]).to(device)
    hand_opt = torch.optim.Adam(hand.parameters(), lr=1e-3, eps=1e-7)
    # The same loop with torch's fused Adam kernel (what unidl-torch selects): isolates the
    # loop overhead from the optimizer-kernel choice.
    fused = copy.deepcopy(hand)
    fused_opt = torch.optim.Adam(fused.parameters(), lr=1e-3, eps=1e-7, fused=True)
    runs = {"hand": (hand, hand_opt), "hand_fused": (fused, fused_opt)}
    hx, hy = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    times: dict[str, list[float]] = {"unidl": [], "hand": [], "hand_fused": []}
    for epoch in range(epochs + 1):  # epoch 0 warms up all
        plan = epoch_plan(n, bs, 0, epoch)
        order = list(times) if epoch % 2 else list(reversed(times))
        for who in order:
            sync()
            t0 = time.perf_counter()
            if who == "unidl":
                model.train_epoch(data, plan, collect_outputs=False)
            else:
                _hand_epoch(*runs[who], hx, hy, plan.order, bs, loss)
            sync()
            if epoch:
                times[who].append(time.perf_counter() - t0)
    steps = -(-n // bs)
    u = min(times["unidl"])
    print(f"{name} on {device}: unidl {n / u:,.0f} samples/s ({u / steps * 1e6:.1f} us/step)")
    for who in ("hand", "hand_fused"):
        h = min(times[who])
        print(f"  {who:<10} {n / h:>12,.0f} samples/s ({h / steps * 1e6:7.1f} us/step)"
              f"  unidl/hand throughput ratio {h / u:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    bench("MLP 784-256-128-10 bs128", [784, 256, 128, 10], 60_000, 128, "sparse",
          args.device, args.epochs)
    bench("MLP 8-30-15-1 bs32", [8, 30, 15, 1], 16_512, 32, "mse", args.device, args.epochs)


if __name__ == "__main__":
    main()
