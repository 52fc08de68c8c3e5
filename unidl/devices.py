"""Device strings: one syntax for every backend, resolved by the core.

Canonical forms are ``"cpu"``, ``"cuda:N"`` and ``"mps"``. Users may also write ``"auto"``
(first available of cuda, mps, cpu), ``"cuda"`` (``"cuda:0"``), and ``"gpu"``/``"gpu:N"``
(aliases of ``"cuda"``/``"cuda:N"``, as TensorFlow users say). Backends only report which
canonical devices exist; choosing among them is defined once, here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .errors import DeviceError

__all__ = ["canonical_device", "resolve_device"]

_PATTERN = re.compile(r"^(cpu|cuda|gpu|mps|auto)(?::(\d+))?$")
_AUTO_ORDER = ("cuda", "mps", "cpu")


def canonical_device(device: str) -> str:
    """Normalise the spelling of ``device`` without checking availability."""
    if not isinstance(device, str):
        raise DeviceError(f"device must be a string such as 'cpu', 'cuda' or 'auto', "
                          f"got {device!r}")
    m = _PATTERN.match(device.strip().lower())
    if m is None:
        raise DeviceError(f"malformed device {device!r}; use 'auto', 'cpu', 'cuda', "
                          "'cuda:N', 'gpu', 'gpu:N' or 'mps'")
    kind, index = m.group(1), m.group(2)
    if kind == "gpu":
        kind = "cuda"
    if kind in ("cpu", "mps", "auto"):
        if index not in (None, "0"):
            raise DeviceError(f"device {device!r} takes no index; use {kind!r}")
        return kind
    return f"cuda:{int(index or 0)}"


def resolve_device(device: str, available: Sequence[str], backend: str) -> str:
    """Pick the canonical device for ``device`` among a backend's ``available`` ones."""
    wanted = canonical_device(device)
    if wanted == "auto":
        for kind in _AUTO_ORDER:
            for d in available:
                if d == kind or d.startswith(kind + ":"):
                    return d
        if available:
            return available[0]
        raise DeviceError(f"backend {backend!r} reports no usable device")
    if wanted in available:
        return wanted
    listed = ", ".join(available) or "none"
    raise DeviceError(f"device {device!r} is not available on backend {backend!r}; "
                      f"available: {listed}. Use device='auto' to pick the best available.")
