"""A trained model as bytes: its portable-format directory, zipped in memory.

This is what a pickled estimator holds instead of framework objects, so pickling needs no
framework class to be picklable, and a pickle written on one machine loads wherever unidl
and the backend are installed. Nothing in the bytes is unpickled: the directory is read by
:func:`unidl.load` (JSON and safetensors only).
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from .. import Model, ModelFormatError, load

__all__ = ["model_from_bytes", "model_to_bytes"]


def model_to_bytes(model: Model) -> bytes:
    """``model.save`` into a temporary directory, zipped (stored, not compressed: the
    weights are float32 and barely compress)."""
    with tempfile.TemporaryDirectory(prefix="unidl-sklearn-") as tmp:
        root = model.save(Path(tmp) / "model")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(root).as_posix())
        return buffer.getvalue()


def model_from_bytes(data: bytes, backend: str, device: str) -> Model:
    """The model ``model_to_bytes`` wrote, loaded on ``backend`` and ``device``."""
    with tempfile.TemporaryDirectory(prefix="unidl-sklearn-") as tmp:
        root = Path(tmp) / "model"
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for name in archive.namelist():
                    parts = PurePosixPath(name).parts
                    if not parts or name.startswith("/") or ".." in parts:
                        raise ModelFormatError(f"the pickled model holds an unsafe file "
                                               f"name {name[:80]!r}")
                archive.extractall(root)
        except zipfile.BadZipFile as e:
            raise ModelFormatError(f"the pickled model is not a zipped unidl model "
                                   f"directory: {e}") from None
        return load(root, backend=backend, device=device)
