"""The portable model format: a directory any backend can load, with no pickle.

::

    model_dir/
      spec.json            architecture (unidl spec) + training config (loss, optimizer, ...)
      weights.safetensors  canonical weights "<layer>/<param>" in Keras layout, float32
      meta.json            format version, unidl / backend versions, history, SHA-256 sums
                           of the other files and of itself
      optimizer.safetensors  (when trained on a backend with the "optimizer_state" feature)
                           canonical optimizer state (unidl.optimizer_state) for resuming

Saves are crash-safe and exclusive (:mod:`unidl.io.swap`, :mod:`unidl.io.lock`): at every
instant the directory or its backup sibling holds a complete model, and concurrent saves
and loads of one directory wait for each other. Loading reads every file within bounds
(:mod:`unidl.io.documents`, :mod:`unidl.io.tensors`), verifies checksums, names, shapes and
values before building anything, and never runs code from the file (safetensors and JSON
only). A symlink to a model directory stays a symlink: the directory it points to is the
one replaced.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from .._version import __version__
from ..backend import Weights
from ..errors import ModelFormatError, UnidlError
from .documents import (
    MAX_META_BYTES,
    MAX_SPEC_BYTES,
    META_CHECKSUM,
    check_meta,
    check_spec_doc,
    meta_checksum,
    parse_json,
    read_bounded,
)
from .lock import locked
from .swap import backup_of, lock_of, make_temp, recover, swap_in
from .tensors import check_optimizer_values, non_finite, optimizer_shape, read_tensors

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "META_FILE", "OPTIMIZER_FILE", "SPEC_FILE",
           "WEIGHTS_FILE", "ModelFiles", "read_model_files", "write_model_files"]

FORMAT_NAME: Final = "unidl.model"
#: 2 adds ``meta_sha256`` (the checksum of meta.json itself); version 1 saves still load.
FORMAT_VERSION: Final = 2
SPEC_FILE: Final = "spec.json"
WEIGHTS_FILE: Final = "weights.safetensors"
META_FILE: Final = "meta.json"
OPTIMIZER_FILE: Final = "optimizer.safetensors"
_CHECKED_FILES: Final = (SPEC_FILE, WEIGHTS_FILE, OPTIMIZER_FILE)
_MAX_SLOTS: Final = 3  # optimizer state entries per parameter (Adam with amsgrad)

S = TypeVar("S")
Shape = tuple[int, ...]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write(path: Path, data: bytes) -> None:
    with path.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _is_model_dir(path: Path) -> bool:
    return path.is_dir() and (path / META_FILE).is_file()


def _real(path: str | Path) -> tuple[Path, Path]:
    """``(the path as given, made absolute; the directory it names, symlinks resolved)``."""
    given = Path(path).absolute()
    return given, Path(os.path.realpath(given))


def _meta(directory: Path) -> dict[str, Any]:
    where = directory / META_FILE
    return check_meta(parse_json(read_bounded(where, MAX_META_BYTES), where), where,
                      FORMAT_NAME, FORMAT_VERSION, _CHECKED_FILES)


def _verified(directory: Path) -> bool:
    """Whether ``directory`` is a complete model whose every checksum matches."""
    try:
        sums = _meta(directory)["sha256"]
        return all(_sha256(directory / name) == digest for name, digest in sums.items())
    except (UnidlError, OSError):
        return False


def write_model_files(path: Path, spec_doc: dict[str, Any], weights: Weights,
                      optimizer_state: Weights | None, origin: dict[str, Any],
                      history: dict[str, list[float]]) -> Path:
    """Write a model directory at ``path`` (crash-safe, holding its lock): ``spec_doc`` as
    ``spec.json``, ``weights`` and ``optimizer_state`` (if any) as safetensors, and
    ``meta.json`` with ``origin`` (``backend``, ``backend_version``, ``device``),
    ``history`` and the checksums. The caller decides what the documents say; this module
    only stores them."""
    given, target = _real(path)
    with np.errstate(over="ignore"):  # stored as float32: a larger float64 becomes inf
        bad = non_finite({k: np.asarray(v, dtype=np.float32) for k, v in weights.items()})
    if bad is not None:
        raise ModelFormatError(f"cannot save {given}: weight {bad[0]!r} holds {bad[1]:,} NaN "
                               "or infinite value(s) (training diverged); nothing was written. "
                               "Lower the learning rate, or save from an earlier checkpoint")
    _refuse_non_model(given, target)  # before any lock file is made, and again under the lock
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ModelFormatError(f"cannot write a model at {given}: {e.strerror or e}") from None
    with locked(lock_of(target), exclusive=True, what=f"the model directory {given}"):
        try:
            recover(target, _verified, _is_model_dir)
        except OSError as e:
            raise ModelFormatError(f"cannot save {given}: finishing an interrupted earlier "
                                   f"save failed: {e.strerror or e}") from None
        _refuse_non_model(given, target)
        try:
            tmp = make_temp(target)
        except OSError as e:
            raise ModelFormatError(f"cannot write a model at {given}: {e.strerror or e}"
                                   ) from None
        try:
            _write_files(tmp, spec_doc, weights, optimizer_state, origin, history)
            swap_in(tmp, target)
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(e, UnidlError):
                raise
            raise ModelFormatError(f"cannot write the model at {given}: {e.strerror or e}; "
                                   "the previous save, if any, is unchanged") from e
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return given


def _refuse_non_model(given: Path, target: Path) -> None:
    if os.path.lexists(target) and not _is_model_dir(target):
        raise ModelFormatError(f"{given} exists and is not a unidl model directory; refusing "
                               "to overwrite it. Choose another path or remove it first")


def _write_files(tmp: Path, spec_doc: dict[str, Any], weights: Weights,
                 optimizer_state: Weights | None, origin: dict[str, Any],
                 history: dict[str, list[float]]) -> None:
    from safetensors.numpy import save_file

    _write(tmp / SPEC_FILE, json.dumps(spec_doc, indent=2).encode())
    arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}
    save_file(arrays, str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT_NAME})
    files = [SPEC_FILE, WEIGHTS_FILE]
    if optimizer_state:
        # np.asarray, not ascontiguousarray: the latter makes the 0-d "step" 1-d
        save_file({k: np.asarray(v, order="C") for k, v in optimizer_state.items()},
                  str(tmp / OPTIMIZER_FILE), metadata={"format": FORMAT_NAME})
        files.append(OPTIMIZER_FILE)
    mode = stat.S_IMODE(os.stat(tmp / SPEC_FILE).st_mode)  # what the umask allows
    for name in files[1:]:
        os.chmod(tmp / name, mode)  # safetensors may create its files private to the user
        with (tmp / name).open("rb") as f:
            os.fsync(f.fileno())
    meta: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "unidl_version": __version__,
        **origin,
        "saved_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "history": history,
        "sha256": {name: _sha256(tmp / name) for name in files},
    }
    meta[META_CHECKSUM] = meta_checksum(meta)
    _write(tmp / META_FILE, json.dumps(meta, indent=2).encode())


@dataclass(frozen=True)
class ModelFiles(Generic[S]):
    """What a model directory holds, verified: the ``spec.json`` document and what the
    caller's ``parse`` made of it, ``meta.json``, the weights and the optimizer state."""

    spec_doc: dict[str, Any]
    spec: S
    meta: dict[str, Any]
    weights: dict[str, npt.NDArray[np.floating]]
    optimizer_state: dict[str, npt.NDArray[np.floating]] | None


def read_model_files(path: str | Path,
                     parse: Callable[[dict[str, Any]], tuple[S, Mapping[str, Shape]]]
                     ) -> ModelFiles[S]:
    """Read and verify the model directory at ``path``. ``parse`` turns the ``spec.json``
    document (its outline already checked) into the caller's spec and the weight shapes
    that spec has; no tensor is read before the files' headers match those shapes."""
    given, target = _real(path)
    backup = backup_of(target)
    if not os.path.lexists(target) and not os.path.lexists(backup):  # leave no lock file
        raise ModelFormatError(f"no saved model at {given} (the directory does not exist)")
    with locked(lock_of(target), exclusive=False, what=f"the model directory {given}"):
        if not os.path.lexists(target) and _is_model_dir(backup):
            target = backup  # a save was killed between its two renames: read its backup
        elif not os.path.lexists(target):
            raise ModelFormatError(f"no saved model at {given} (the directory does not exist)")
        return _read(target, given, parse)


def _read(directory: Path, given: Path,
          parse: Callable[[dict[str, Any]], tuple[S, Mapping[str, Shape]]]) -> ModelFiles[S]:
    if not directory.is_dir():
        raise ModelFormatError(f"{given} is not a unidl model directory (it is a file)")
    missing = [n for n in (META_FILE, SPEC_FILE, WEIGHTS_FILE) if not (directory / n).is_file()]
    if missing:
        raise ModelFormatError(f"{given} is not a complete unidl model: missing "
                               f"{', '.join(missing)}")
    meta = _meta(directory)
    sums: dict[str, str] = meta["sha256"]
    if OPTIMIZER_FILE in sums and not (directory / OPTIMIZER_FILE).is_file():
        raise ModelFormatError(f"{given} is not a complete unidl model: missing "
                               f"{OPTIMIZER_FILE}")
    raw = read_bounded(directory / SPEC_FILE, MAX_SPEC_BYTES)
    if hashlib.sha256(raw).hexdigest() != sums[SPEC_FILE]:
        raise ModelFormatError(f"{directory / SPEC_FILE} is corrupted or was modified: its "
                               "SHA-256 does not match meta.json")
    spec_doc = check_spec_doc(parse_json(raw, directory / SPEC_FILE), directory / SPEC_FILE)
    spec, shapes = parse(spec_doc)
    weights_file = directory / WEIGHTS_FILE
    weights = read_tensors(weights_file, shapes.get, shapes, len(shapes), sums[WEIGHTS_FILE])
    bad = non_finite(weights)
    if bad is not None:
        raise ModelFormatError(f"{weights_file}: weight {bad[0]!r} holds {bad[1]:,} NaN or "
                               "infinite value(s); the model cannot be used. Load an earlier "
                               "checkpoint")
    opt_state = None
    if OPTIMIZER_FILE in sums:
        opt_file = directory / OPTIMIZER_FILE
        opt_state = read_tensors(opt_file, optimizer_shape(shapes), {},
                                 _MAX_SLOTS * len(shapes) + 1, sums[OPTIMIZER_FILE],
                                 dtypes=("F32", "F64"))
        check_optimizer_values(opt_file, opt_state)
    return ModelFiles(spec_doc, spec, meta, weights, opt_state)
