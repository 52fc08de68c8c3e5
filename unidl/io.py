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
import dataclasses
import datetime
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from .errors import ModelFormatError, SpecError, UnidlError
from .heads import Head
from .schedules import PlateauState
from .spec.graph import Graph

if TYPE_CHECKING:
    from .backend import Backend
    from .model import Model

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "load_model", "read_model_files", "save_model"]

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


def _heads_config(heads: tuple[Head, ...], graph: bool) -> dict[str, Any]:
    """Loss, loss weights and metrics as ``compile`` takes them back: plain for a
    ``Sequential``, keyed by output name for a ``Graph``. User metric functions are not
    stored (code never goes into the file)."""
    def builtin(head: Head) -> list[str]:
        return [m for m in head.metrics if m not in head.custom]

    if not graph:
        return {"loss": heads[0].loss.to_config(), "metrics": builtin(heads[0])}
    return {"loss": {h.name: h.loss.to_config() for h in heads},
            "loss_weights": {h.name: h.weight for h in heads},
            "metrics": {h.name: builtin(h) for h in heads}}


def save_model(model: Model, path: Path) -> Path:
    from safetensors.numpy import save_file

    from ._version import __version__

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
        state = model._state
        training: dict[str, Any] | None = None
        if state is not None and model.optimizer is not None:
            training = {
                **_heads_config(state.heads, isinstance(model.spec, Graph)),
                "optimizer": model.optimizer.to_config(),
                "custom_metrics": state.custom_metric_names,
                "lr_schedule": None if state.schedule is None else state.schedule.to_config(),
                "plateau": None if state.plateau is None else dataclasses.asdict(state.plateau),
                "epochs_trained": state.epochs_trained,
            }
        spec_doc = {"model": model.spec.to_dict(), "training": training, "seed": model.seed}
        _write(tmp / SPEC_FILE, json.dumps(spec_doc, indent=2).encode())
        weights = {k: np.ascontiguousarray(v, dtype=np.float32)
                   for k, v in model.get_weights().items()}
        save_file(weights, str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT_NAME})
        files = [SPEC_FILE, WEIGHTS_FILE]
        opt_state = model.optimizer_state()
        if opt_state:
            # np.asarray, not ascontiguousarray: the latter makes the 0-d "step" 1-d
            save_file({k: np.asarray(v, order="C") for k, v in opt_state.items()},
                      str(tmp / OPTIMIZER_FILE), metadata={"format": FORMAT_NAME})
            files.append(OPTIMIZER_FILE)
        for name in files[1:]:
            with (tmp / name).open("rb") as f:
                os.fsync(f.fileno())
        meta = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "unidl_version": __version__,
            "backend": model.backend_name,
            "backend_version": model.backend.version,
            "device": model.device,
            "saved_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "history": model.history,
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


def load_model(path: Path, backend: str | Backend | None, device: str) -> Model:
    from .api import build
    from .spec.serialize import from_dict

    spec_doc, meta, weights, opt_state = read_model_files(path)
    try:
        spec = from_dict(spec_doc.get("model"))
    except SpecError as e:
        raise ModelFormatError(f"{path / SPEC_FILE} holds an invalid spec: {e}") from None
    seed = spec_doc.get("seed")
    model = build(spec, backend=backend if backend is not None else str(meta["backend"]),
                  seed=int(seed) if isinstance(seed, int) else 0, device=device)
    model.set_weights(weights)
    training = spec_doc.get("training")
    if training:
        custom = training.get("custom_metrics") or []
        if custom:
            warnings.warn(f"{path}: user metric functions {custom} are not stored in the file; "
                          "call model.compile(...) with them to compute them again",
                          stacklevel=3)
        model.compile(training["loss"], training["optimizer"], training["metrics"],
                      training.get("lr_schedule"), training.get("loss_weights"))
        assert model._state is not None
        model._state.epochs_trained = int(training.get("epochs_trained", 0))
        if training.get("plateau"):
            model._state.plateau = PlateauState(**training["plateau"])
        if opt_state is not None:
            model.restore_optimizer_state(opt_state, str(path))
    history = meta.get("history") or {}
    model.history = {str(k): [float(v) for v in vs] for k, vs in history.items()}
    return model
