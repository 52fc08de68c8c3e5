"""The portable model format: a directory any backend can load, with no pickle.

::

    model_dir/
      spec.json            architecture (unidl spec) + training config (loss, optimizer, ...)
      weights.safetensors  canonical weights "<layer>/<param>" in Keras layout, float32
      meta.json            format version, unidl / backend versions, history, SHA-256 sums
      optimizer.safetensors  (when trained on a backend with the "optimizer_state" feature)
                           canonical optimizer state (unidl.optimizer_state) for resuming

Writes are atomic: files go to a temporary sibling directory that is swapped in with two
renames, and if a crash falls between them, ``load`` finds the previous save in its backup
sibling and restores it. Loading verifies checksums and shapes and never runs code from the
file (safetensors and JSON only).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Final

import numpy as np

from .._version import __version__
from ..backend import Weights
from ..errors import ModelFormatError, UnidlError

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "META_FILE", "OPTIMIZER_FILE", "SPEC_FILE",
           "WEIGHTS_FILE", "read_model_files", "write_model_files"]

FORMAT_NAME: Final = "unidl.model"
FORMAT_VERSION: Final = 1
SPEC_FILE: Final = "spec.json"
WEIGHTS_FILE: Final = "weights.safetensors"
META_FILE: Final = "meta.json"
OPTIMIZER_FILE: Final = "optimizer.safetensors"
_BACKUP_TAG: Final = ".unidl-backup"


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


def _backup_of(path: Path) -> Path:
    return path.with_name(f".{path.name}{_BACKUP_TAG}")


def _is_model_dir(path: Path) -> bool:
    return path.is_dir() and (path / META_FILE).is_file()


def write_model_files(path: Path, spec_doc: dict[str, Any], weights: Weights,
                      optimizer_state: Weights | None, origin: dict[str, Any],
                      history: dict[str, list[float]]) -> Path:
    """Write a model directory at ``path`` (atomically): ``spec_doc`` as ``spec.json``,
    ``weights`` and ``optimizer_state`` (if any) as safetensors, and ``meta.json`` with
    ``origin`` (``backend``, ``backend_version``, ``device``), ``history`` and the
    checksums. The caller decides what the documents say; this module only stores them."""
    from safetensors.numpy import save_file

    path = path.absolute()
    if path.exists() and not _is_model_dir(path):
        raise ModelFormatError(f"{path} exists and is not a unidl model directory; refusing to "
                               "overwrite it. Choose another path or remove it first")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as e:
        raise UnidlError(f"cannot write a model at {path}: {e}") from e
    try:
        _write(tmp / SPEC_FILE, json.dumps(spec_doc, indent=2).encode())
        arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}
        save_file(arrays, str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT_NAME})
        files = [SPEC_FILE, WEIGHTS_FILE]
        if optimizer_state:
            # np.asarray, not ascontiguousarray: the latter makes the 0-d "step" 1-d
            save_file({k: np.asarray(v, order="C") for k, v in optimizer_state.items()},
                      str(tmp / OPTIMIZER_FILE), metadata={"format": FORMAT_NAME})
            files.append(OPTIMIZER_FILE)
        for name in files[1:]:
            with (tmp / name).open("rb") as f:
                os.fsync(f.fileno())
        meta = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "unidl_version": __version__,
            **origin,
            "saved_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "history": history,
            "sha256": {name: _sha256(tmp / name) for name in files},
        }
        _write(tmp / META_FILE, json.dumps(meta, indent=2).encode())
        _swap_in(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _swap_in(tmp: Path, path: Path) -> None:
    backup = _backup_of(path)
    if backup.exists():
        shutil.rmtree(backup)
    if path.exists():
        os.rename(path, backup)  # a crash after this line: load() restores the backup
    os.rename(tmp, path)
    shutil.rmtree(backup, ignore_errors=True)


def read_model_files(path: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any],
                                          dict[str, Any] | None]:
    """Verified ``(spec document, meta, weights, optimizer state or None)``."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(path).absolute()
    backup = _backup_of(path)
    if not path.exists() and _is_model_dir(backup):
        with contextlib.suppress(OSError):  # finish a save that crashed between renames
            os.rename(backup, path)
    if not path.exists():
        raise ModelFormatError(f"no saved model at {path} (the directory does not exist)")
    if not path.is_dir():
        raise ModelFormatError(f"{path} is not a unidl model directory (it is a file)")
    missing = [n for n in (META_FILE, SPEC_FILE, WEIGHTS_FILE) if not (path / n).is_file()]
    if missing:
        raise ModelFormatError(f"{path} is not a complete unidl model: missing "
                               f"{', '.join(missing)}")
    try:
        meta = json.loads((path / META_FILE).read_text())
    except (ValueError, OSError) as e:
        raise ModelFormatError(f"{path / META_FILE} is corrupted: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ModelFormatError(f"{path / META_FILE} is not unidl model metadata")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFormatError(f"{path} uses format version {version!r}; this unidl reads up "
                               f"to {FORMAT_VERSION}. Upgrade unidl to load it")
    sums = meta.get("sha256", {})
    names = [SPEC_FILE, WEIGHTS_FILE] + ([OPTIMIZER_FILE] if OPTIMIZER_FILE in sums else [])
    for name in names:
        if not (path / name).is_file():
            raise ModelFormatError(f"{path} is not a complete unidl model: missing {name}")
        if sums.get(name) != _sha256(path / name):
            raise ModelFormatError(f"{path / name} is corrupted or was modified: its SHA-256 "
                                   "does not match meta.json")
    try:
        spec_doc = json.loads((path / SPEC_FILE).read_text())
        weights = load_file(str(path / WEIGHTS_FILE))
        opt_state = load_file(str(path / OPTIMIZER_FILE)) if OPTIMIZER_FILE in names else None
    except (ValueError, OSError, SafetensorError) as e:
        raise ModelFormatError(f"{path} is corrupted: {e}") from None
    return spec_doc, meta, weights, opt_state
