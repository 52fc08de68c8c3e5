"""``meta.json`` and ``spec.json``: read within bounds, checked field by field.

Every document is size-capped before it is read and depth-capped before it is parsed (the
json module recurses once per nesting level, so a 100,000-deep list would otherwise end in
a ``RecursionError``). Its parsed structure is then checked against what the format
writes, so a damaged or hostile file gives a :class:`ModelFormatError` naming the file and
the field, never a raw ``KeyError``/``TypeError`` later on.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Final

import numpy as np

from ..errors import ModelFormatError, short

__all__ = ["MAX_META_BYTES", "MAX_SPEC_BYTES", "META_CHECKSUM", "check_meta", "check_spec_doc",
           "meta_checksum", "parse_json",
           "read_bounded"]

#: ``meta.json`` holds the history: 10 logs x 100,000 epochs fit in a few MiB.
MAX_META_BYTES: Final = 64 * 2**20
#: ``spec.json`` describes layers and a training configuration, never data.
MAX_SPEC_BYTES: Final = 16 * 2**20
#: The field of ``meta.json`` (format version 2) holding the SHA-256 of the rest of it.
META_CHECKSUM: Final = "meta_sha256"
_MAX_DEPTH: Final = 64
_STRING: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET: Final = re.compile(r"[^\[\]{}]+")
_HEX64: Final = re.compile(r"[0-9a-f]{64}")


def _depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` in JSON text, outside strings; no recursion."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if not brackets:
        return 0
    codes = np.frombuffer(brackets.encode("ascii"), dtype=np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


def read_bounded(path: Path, cap: int) -> bytes:
    """The bytes of ``path``, refused (before reading) if over ``cap``."""
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > cap:
                raise ModelFormatError(f"{path} is {size:,} bytes, more than the {cap:,} this "
                                       "file may take; it is not a file unidl wrote")
            data = f.read(cap + 1)
    except ModelFormatError:
        raise
    except OSError as e:
        raise ModelFormatError(f"cannot read {path}: {e.strerror or e}") from None
    if len(data) > cap:
        raise ModelFormatError(f"{path} is more than the {cap:,} bytes this file may take")
    return data


def parse_json(data: bytes, where: Path | str) -> Any:
    """``data`` parsed as JSON, refused if not UTF-8, nested deeper than 64 levels or not
    JSON; ``where`` names the file in errors."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ModelFormatError(f"{where} is corrupted: not UTF-8 text (byte {e.start})") from None
    if _depth(text) > _MAX_DEPTH:
        raise ModelFormatError(f"{where} is corrupted: nested deeper than {_MAX_DEPTH} levels")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ModelFormatError(f"{where} is corrupted: {short(str(e), 200)}") from None


def meta_checksum(meta: dict[str, Any]) -> str:
    """SHA-256 of ``meta`` without its checksum field, in a canonical JSON form (sorted
    keys, no spaces, ASCII): what format version 2 records in ``meta_sha256``."""
    rest = {k: v for k, v in meta.items() if k != META_CHECKSUM}
    text = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _bad(where: Path, field: str, must: str, value: object) -> ModelFormatError:
    return ModelFormatError(f"{where}: field {field!r} must be {must}, got {short(value)}")


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_meta(meta: object, where: Path, format_name: str, version_max: int,
               files: tuple[str, ...]) -> dict[str, Any]:
    """``meta`` if it has the structure the format writes; ``files`` are the names
    ``sha256`` may list (the first two are required)."""
    if not isinstance(meta, dict):
        raise _bad(where, "(document)", "a JSON object", meta)
    if meta.get("format") != format_name:
        raise ModelFormatError(f"{where} is not unidl model metadata (field 'format' is "
                               f"{short(meta.get('format'))}, not {format_name!r})")
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _bad(where, "format_version", "an integer >= 1", version)
    if version > version_max:
        raise ModelFormatError(f"{where.parent} uses format version {version}; this unidl reads "
                               f"up to {version_max}. Upgrade unidl to load it")
    if version >= 2:
        recorded = meta.get(META_CHECKSUM)
        if not isinstance(recorded, str) or _HEX64.fullmatch(recorded) is None:
            raise _bad(where, META_CHECKSUM, "a SHA-256 in hex", recorded)
        if recorded != meta_checksum(meta):
            raise ModelFormatError(f"{where} is corrupted or was modified: its SHA-256 does "
                                   f"not match its field {META_CHECKSUM!r}")
    backend = meta.get("backend")
    if not isinstance(backend, str) or not backend or len(backend) > 200:
        raise _bad(where, "backend", "the name of the backend that saved the model", backend)
    for field in ("unidl_version", "backend_version", "device", "saved_at"):
        value = meta.get(field)
        if value is not None and (not isinstance(value, str) or len(value) > 200):
            raise _bad(where, field, "a short string", value)
    history = meta.get("history", {})
    if not isinstance(history, dict):
        raise _bad(where, "history", "an object of log name -> list of numbers", history)
    for key, values in history.items():
        if not isinstance(values, list) or not all(_number(v) for v in values):
            raise _bad(where, f"history.{short(key, 40)}", "a list of numbers", values)
    sums = meta.get("sha256")
    if not isinstance(sums, dict):
        raise _bad(where, "sha256", "an object of file name -> SHA-256", sums)
    for name in files[:2]:
        if name not in sums:
            raise ModelFormatError(f"{where}: field 'sha256' lists no checksum for {name}")
    for name, digest in sums.items():
        if name not in files:
            raise _bad(where, f"sha256.{short(name, 40)}", f"one of {', '.join(files)}", name)
        if not isinstance(digest, str) or _HEX64.fullmatch(digest) is None:
            raise _bad(where, f"sha256.{name}", "a SHA-256 in hex", digest)
    return meta


def check_spec_doc(doc: object, where: Path) -> dict[str, Any]:
    """``doc`` if it has the outline of a saved ``spec.json``: ``model`` (an object; the
    spec reader checks inside it), ``training`` (null or an object with ``loss``,
    ``optimizer``, ``metrics``; counts that are integers) and ``seed`` (an integer)."""
    if not isinstance(doc, dict):
        raise _bad(where, "(document)", "a JSON object", doc)
    if not isinstance(doc.get("model"), dict):
        raise _bad(where, "model", "an object (the model spec)", doc.get("model"))
    seed = doc.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise _bad(where, "seed", "an integer", seed)
    training = doc.get("training")
    if training is None:
        return doc
    if not isinstance(training, dict):
        raise _bad(where, "training", "null or an object", training)
    for field in ("loss", "optimizer", "metrics"):
        if field not in training:
            raise ModelFormatError(f"{where}: field 'training' has no {field!r}")
    epochs = training.get("epochs_trained", 0)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise _bad(where, "training.epochs_trained", "an integer >= 0", epochs)
    custom = training.get("custom_metrics")
    if custom is not None and (not isinstance(custom, list)
                               or not all(isinstance(c, str) for c in custom)):
        raise _bad(where, "training.custom_metrics", "a list of names", custom)
    plateau = training.get("plateau")
    if plateau is not None:
        _check_plateau(plateau, where)
    return doc


def _check_plateau(plateau: object, where: Path) -> None:
    field = "training.plateau"
    if not isinstance(plateau, dict):
        raise _bad(where, field, "null or an object", plateau)
    unknown = set(plateau) - {"lr", "best", "wait", "cooldown_left"}
    if unknown or "lr" not in plateau:
        raise _bad(where, field, "an object with 'lr' and optionally 'best', 'wait', "
                   "'cooldown_left'", sorted(map(str, plateau)))
    lr, best = plateau["lr"], plateau.get("best")
    if not _number(lr) or not math.isfinite(lr) or lr < 0:
        raise _bad(where, f"{field}.lr", "a finite number >= 0", lr)
    if best is not None and not _number(best):
        raise _bad(where, f"{field}.best", "null or a number", best)
    for count in ("wait", "cooldown_left"):
        value = plateau.get(count, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _bad(where, f"{field}.{count}", "an integer >= 0", value)
