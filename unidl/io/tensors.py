"""safetensors files read within bounds: the header is checked before any tensor is.

A safetensors file is an 8-byte little-endian header length, a JSON header mapping each
tensor name to its dtype, shape and byte offsets, then the tensor bytes. Before reading
any tensor this module checks the header length, the number of tensors, every name, dtype,
shape and offset against what the model's spec says the file must hold, and the declared
bytes against the file's real size. A file that declares an unknown or oversized tensor
(even one stored as a sparse hole that costs no disk) is refused at the cost of reading
its header; the tensors of a file that passes are read once, hashed as they are read and
checked for NaN/inf.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from ..errors import ModelFormatError, short
from .documents import parse_json

__all__ = ["MAX_HEADER_BYTES", "check_optimizer_values", "non_finite", "optimizer_shape",
           "read_tensors"]

#: The largest header any file may declare (the safetensors library's own limit).
MAX_HEADER_BYTES: Final = 100 * 2**20
_HEADER_BYTES_PER_TENSOR: Final = 1024  # a name, a dtype, a shape and two offsets, padded
_DTYPES: Final[dict[str, np.dtype[np.floating]]] = {"F32": np.dtype("<f4"),
                                                   "F64": np.dtype("<f8")}
_ENTRY_KEYS: Final = frozenset({"dtype", "shape", "data_offsets"})
#: Optimizer slots (``unidl.optimizer_state``) that hold sums or means of squares.
_SQUARES: Final = frozenset({"v", "v_max", "accumulator", "u"})
_SLOTS: Final = frozenset({"momentum", "m", "mean_grad"}) | _SQUARES
_STEP: Final = "step"

Shape = tuple[int, ...]
Array = npt.NDArray[np.floating]


def optimizer_shape(weights: Mapping[str, Shape]) -> Callable[[str], Shape | None]:
    """The shape an ``optimizer.safetensors`` entry must have, None for a name that cannot
    be one: ``step`` is a scalar, ``<layer>/<param>/<slot>`` has its parameter's shape."""
    def shape(name: str) -> Shape | None:
        if name == _STEP:
            return ()
        param, _, slot = name.rpartition("/")
        return weights.get(param) if slot in _SLOTS else None
    return shape


def _fail(path: Path, what: str) -> ModelFormatError:
    return ModelFormatError(f"{path} is corrupted or was not written by unidl: {what}")


def _header_length(path: Path, size: int, raw_len: bytes, max_tensors: int) -> int:
    if size < 8:
        raise _fail(path, f"it is {size} bytes, shorter than a safetensors header")
    n = int.from_bytes(raw_len, "little")
    cap = min(MAX_HEADER_BYTES, 4096 + _HEADER_BYTES_PER_TENSOR * max_tensors)
    if n > cap:
        raise _fail(path, f"its header declares {n:,} bytes, more than the {cap:,} its "
                          f"{max_tensors} tensor(s) need")
    if 8 + n > size:
        raise _fail(path, f"its header declares {n:,} bytes but the file holds {size:,}")
    return n


def _entries(path: Path, header: object, shape_of: Callable[[str], Shape | None],
             required: Mapping[str, Shape], max_tensors: int, dtypes: tuple[str, ...]
             ) -> dict[str, tuple[np.dtype[np.floating], Shape, int, int]]:
    if not isinstance(header, dict):
        raise _fail(path, "its header is not a JSON object")
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise _fail(path, "its header's __metadata__ is not an object of strings")
    unknown = [name for name in header if shape_of(name) is None]
    if unknown:
        raise _fail(path, f"it holds tensors the model does not have: "
                          f"{', '.join(short(u, 60) for u in unknown[:5])}"
                          f"{f' and {len(unknown) - 5} more' if len(unknown) > 5 else ''}")
    if len(header) > max_tensors:
        raise _fail(path, f"it declares {len(header):,} tensors; the model has at most "
                          f"{max_tensors}")
    missing = [name for name in required if name not in header]
    if missing:
        raise _fail(path, f"it lacks tensors the model needs: {', '.join(missing[:5])}"
                          f"{f' and {len(missing) - 5} more' if len(missing) > 5 else ''}")
    out: dict[str, tuple[np.dtype[np.floating], Shape, int, int]] = {}
    for name, entry in header.items():
        expected = shape_of(name)
        assert expected is not None
        if not isinstance(entry, dict) or set(entry) != _ENTRY_KEYS:
            raise _fail(path, f"tensor {name!r} is not described by dtype, shape and "
                              "data_offsets")
        dtype = _DTYPES.get(entry["dtype"]) if entry["dtype"] in dtypes else None
        if dtype is None:
            raise _fail(path, f"tensor {name!r} has dtype {short(entry['dtype'])}; unidl "
                              f"stores {' or '.join(dtypes)}")
        shape = entry["shape"]
        if (not isinstance(shape, list) or len(shape) != len(expected)
                or any(isinstance(d, bool) or d != e
                       for d, e in zip(shape, expected, strict=True))):
            raise _fail(path, f"tensor {name!r} has shape {short(shape)}; the model's is "
                              f"{list(expected)}")
        offsets = entry["data_offsets"]
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1]):
            raise _fail(path, f"tensor {name!r} has data_offsets {short(offsets)}")
        begin, end = offsets
        if end - begin != math.prod(expected) * dtype.itemsize:
            raise _fail(path, f"tensor {name!r} declares {end - begin:,} bytes; its shape "
                              f"{list(expected)} as {entry['dtype']} takes "
                              f"{math.prod(expected) * dtype.itemsize:,}")
        out[name] = (dtype, expected, begin, end)
    return out


def _check_layout(path: Path, entries: Mapping[str, tuple[object, Shape, int, int]],
                  data_bytes: int) -> None:
    """The tensors must tile the data region exactly, as the safetensors format requires."""
    at = 0
    for _, _, begin, end in sorted(entries.values(), key=lambda e: (e[2], e[3])):
        if begin != at:
            raise _fail(path, f"its tensors overlap or leave a gap at byte {at:,}")
        at = end
    if at != data_bytes:
        raise _fail(path, f"its header declares {at:,} bytes of tensor data but the file "
                          f"holds {data_bytes:,}")


def read_tensors(path: Path, shape_of: Callable[[str], Shape | None],
                 required: Mapping[str, Shape], max_tensors: int, sha256: str,
                 dtypes: tuple[str, ...] = ("F32",)) -> dict[str, Array]:
    """The tensors of the safetensors file ``path``, after its header passed the checks:
    every name known to ``shape_of`` and of the shape it gives, every name of
    ``required`` present, at most ``max_tensors``, every dtype one of ``dtypes``; the file
    must hash to ``sha256``."""
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            raw_len = f.read(8)
            n = _header_length(path, size, raw_len, max_tensors)
            raw_header = f.read(n)
            entries = _entries(path, parse_json(raw_header, f"{path} (header)"), shape_of,
                               required, max_tensors, dtypes)
            data_bytes = size - 8 - n
            _check_layout(path, entries, data_bytes)
            data = bytearray(data_bytes)
            if f.readinto(data) != data_bytes:
                raise _fail(path, "it changed while it was read")
    except ModelFormatError:
        raise
    except OSError as e:
        raise ModelFormatError(f"cannot read {path}: {e.strerror or e}") from None
    digest = hashlib.sha256(raw_len)
    digest.update(raw_header)
    digest.update(data)
    if digest.hexdigest() != sha256:
        raise ModelFormatError(f"{path} is corrupted or was modified: its SHA-256 does not "
                               "match meta.json")
    out: dict[str, Array] = {}
    for name, (dtype, shape, begin, end) in entries.items():
        array = np.frombuffer(data, dtype=dtype, count=(end - begin) // dtype.itemsize,
                              offset=begin).reshape(shape)
        out[name] = np.require(array.astype(dtype.newbyteorder("="), copy=False),
                               requirements=["A", "W"])
    return out


def non_finite(tensors: Mapping[str, npt.NDArray[np.generic]]) -> tuple[str, int] | None:
    """The first tensor holding NaN or inf and how many such values, or None."""
    for name, value in tensors.items():
        bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
        if bad:
            return name, bad
    return None


def check_optimizer_values(path: Path, state: Mapping[str, Array]) -> None:
    """Refuse optimizer state no optimizer can reach: NaN/inf, a negative or fractional
    step count, negative sums or means of squares."""
    # float32 is what the backends compute in: a float64 value beyond its range is inf there
    with np.errstate(over="ignore"):
        bad = non_finite({k: v if k == _STEP else v.astype(np.float32)
                          for k, v in state.items()})
    if bad is not None:
        raise _fail(path, f"tensor {bad[0]!r} holds {bad[1]:,} NaN or infinite value(s)")
    step = state.get(_STEP)
    if step is not None and (float(step) < 0 or float(step) != math.floor(float(step))):
        raise _fail(path, f"the optimizer step count is {float(step)!r}, not an integer >= 0")
    for name, value in state.items():
        if name.rpartition("/")[2] in _SQUARES and value.size and float(value.min()) < 0:
            raise _fail(path, f"tensor {name!r} holds negative values; it is a sum or mean "
                              "of squares, which cannot be negative")
