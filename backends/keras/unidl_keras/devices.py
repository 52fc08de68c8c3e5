"""Canonical unidl device strings <-> TensorFlow device names."""

from __future__ import annotations

from unidl.errors import DeviceError

from ._runtime import tf

__all__ = ["available_devices", "tf_device"]


def available_devices() -> list[str]:
    """TensorFlow's GPUs as ``cuda:N`` (best first), then ``cpu``."""
    gpus = tf.config.list_physical_devices("GPU")
    return [f"cuda:{i}" for i in range(len(gpus))] + ["cpu"]


def tf_device(device: str) -> str:
    """``"cpu"`` -> ``"/CPU:0"``, ``"cuda:N"`` -> ``"/GPU:N"``."""
    if device == "cpu":
        return "/CPU:0"
    if device.startswith("cuda:") and device[5:].isdigit():
        return f"/GPU:{int(device[5:])}"
    raise DeviceError(f"the keras backend cannot run on device {device!r}; "
                      f"available: {', '.join(available_devices())}")
