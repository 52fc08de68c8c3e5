"""Canonical unidl device strings <-> torch devices."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["available_devices", "full_precision", "torch_device"]


def available_devices() -> list[str]:
    """Usable devices, best first: every CUDA device, then MPS, then the CPU."""
    found = [f"cuda:{i}" for i in range(torch.cuda.device_count())] \
        if torch.cuda.is_available() else []
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    found.append("cpu")
    return found


def torch_device(device: str) -> torch.device:
    return torch.device(device)


@contextlib.contextmanager
def full_precision(device: torch.device) -> Iterator[None]:
    """Run CUDA matmuls and convolutions in true float32 (no TF32) within the block.

    torch lets cuDNN convolutions use TF32 by default, whose 10-bit mantissa breaks unidl's
    float32 parity contract (rtol 1e-5 against other backends). The flags are process-wide,
    so they are set for the duration of an epoch or a predict call and restored afterwards.
    """
    if device.type != "cuda":
        yield
        return
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = (matmul.allow_tf32, cudnn.allow_tf32)
    matmul.allow_tf32 = cudnn.allow_tf32 = False
    try:
        yield
    finally:
        matmul.allow_tf32, cudnn.allow_tf32 = saved
