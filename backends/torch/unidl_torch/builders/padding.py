"""TensorFlow "same" padding for torch's window kernels (convolutions and pools).

torch kernels pad only symmetrically (pooling only up to half the window); TensorFlow's odd
total (the extra cell goes after: bottom/right) and larger pooling pads need an explicit
``F.pad`` first, the kernel then running unpadded.
"""

from __future__ import annotations

import math

__all__ = ["same_padding", "split_padding_1d", "split_padding_2d"]


def same_padding(size: int, window: int, stride: int) -> tuple[int, int]:
    """TensorFlow "same": output ceil(size/stride); the odd cell goes after."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def split_padding_2d(padding: str, hw: tuple[int, ...], window: tuple[int, int],
                     stride: tuple[int, int], at_most_half_window: bool
                     ) -> tuple[tuple[int, int], tuple[int, int, int, int] | None]:
    """``(native, pre_pad)`` of a 2-D window op: padding for the torch kernel itself, or
    ``F.pad``'s (left, right, top, bottom) to apply first."""
    top = bottom = left = right = 0
    if padding != "valid":
        top, bottom = same_padding(hw[0], window[0], stride[0])
        left, right = same_padding(hw[1], window[1], stride[1])
    native = top == bottom and left == right and not (
        at_most_half_window and (top > window[0] // 2 or left > window[1] // 2))
    if native:
        return (top, left), None
    return (0, 0), (left, right, top, bottom)


def split_padding_1d(padding: str, size: int, window: int, stride: int,
                     at_most_half_window: bool) -> tuple[int, tuple[int, int] | None]:
    """``(native, pre_pad)`` of a 1-D window op: symmetric padding the torch kernel applies
    itself, or the ``F.pad`` (left, right) to apply first."""
    left, right = same_padding(size, window, stride) if padding != "valid" else (0, 0)
    if left == right and not (at_most_half_window and left > window // 2):
        return left, None
    return 0, (left, right)
