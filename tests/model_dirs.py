"""Rewriting saved model directories the way a hostile or damaged file would look.

Shared by ``tests/test_hostile_model_files.py`` (a few hundred generated cases) and
``tests/fuzz/model_dirs.py`` (thousands). Every edit can keep the checksums consistent, so
the loader's structural checks are reached and not only its checksum test.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import struct
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from tests.spec_documents import paths

META, SPEC, WEIGHTS, OPT = "meta.json", "spec.json", "weights.safetensors", "optimizer.safetensors"


def sha(path: Path) -> str:
    """The file's SHA-256; a placeholder for files over 64 MiB (sparse claims), which the
    loader must refuse by their header before hashing them."""
    if path.stat().st_size > 64 * 2**20:
        return "0" * 64
    return hashlib.sha256(path.read_bytes()).hexdigest()


def reseal(path: Path, meta: dict[str, Any] | None = None) -> None:
    """Record the current checksums of every file in ``meta.json`` (read from disk if
    ``meta`` is None), including the checksum of meta.json itself."""
    if meta is None:
        meta = json.loads((path / META).read_text())
    if isinstance(meta, dict) and isinstance(meta.get("sha256"), dict):
        for name in (SPEC, WEIGHTS, OPT):
            if (path / name).is_file() and name in meta["sha256"]:
                meta["sha256"][name] = sha(path / name)
    if isinstance(meta, dict) and "meta_sha256" in meta:
        rest = {k: v for k, v in meta.items() if k != "meta_sha256"}
        text = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        meta["meta_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    (path / META).write_text(json.dumps(meta))


def read_header(path: Path) -> tuple[dict[str, Any], bytes]:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def write_safetensors(path: Path, header: object, data: bytes, length: int | None = None,
                      sparse_extra: int = 0) -> None:
    """A safetensors file with ``header`` (any JSON) and ``data``; ``length`` overrides the
    declared header length; ``sparse_extra`` bytes of hole are appended (no disk used)."""
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(text) if length is None else length))
        f.write(text)
        f.write(data)
        if sparse_extra:
            f.truncate(f.tell() + sparse_extra)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)


def _pick(options: list[tuple[Any, ...]], pick: int) -> tuple[Any, ...]:
    return options[pick % len(options)]


def _set(doc: Any, path: tuple[Any, ...], value: object, delete: bool) -> Any:
    if not path:
        return value
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


@st.composite
def mutations(draw: st.DrawFn) -> tuple[str, Any]:
    """A description of one edit, applied by :func:`mutate`."""
    kind = draw(st.sampled_from(["meta", "spec", "header", "bytes", "deep", "sparse"]))
    return kind, {
        "file": draw(st.sampled_from([META, SPEC, WEIGHTS, OPT])),
        "pick": draw(st.integers(0, 10**6)),
        "value": draw(json_values),
        "delete": draw(st.booleans()),
        "reseal": draw(st.booleans()),
        "offset": draw(st.integers(0, 10**6)),
        "bytes": draw(st.binary(max_size=16)),
        "truncate": draw(st.booleans()),
        "depth": draw(st.integers(1, 100_000)),
        "length": draw(st.none() | st.integers(0, 2**64 - 1)),
        "extra": draw(st.integers(0, 3 * 2**30)),
    }


def mutate(path: Path, kind: str, m: dict[str, Any]) -> None:
    """Apply one edit drawn by :func:`mutations` to the model directory ``path``."""
    if kind in ("meta", "spec"):
        target = path / (META if kind == "meta" else SPEC)
        doc = json.loads(target.read_text())
        where = _pick(paths(doc), m["pick"])
        doc = _set(doc, where, m["value"], m["delete"] and bool(where))
        target.write_text(json.dumps(doc))
    elif kind == "deep":
        target = path / (META if m["file"] == META else SPEC)
        doc = json.loads(target.read_text())
        nested = "[" * m["depth"] + "]" * m["depth"]
        holder = doc["history"] if target.name == META and isinstance(
            doc.get("history"), dict) else doc
        holder["x"] = "DEEP"
        target.write_text(json.dumps(doc).replace('"DEEP"', nested, 1))
    elif kind in ("header", "sparse"):
        target = path / (OPT if m["file"] == OPT and (path / OPT).is_file() else WEIGHTS)
        header, data = read_header(target)
        extra = 0
        if kind == "sparse":  # one more tensor, as large as drawn, held in a sparse hole
            end = len(data)
            n = m["extra"] // 4
            header[f"x{m['pick'] % 7}/kernel"] = {"dtype": "F32", "shape": [n],
                                                   "data_offsets": [end, end + 4 * n]}
            extra = 4 * n
        else:
            names = sorted(header)
            where = _pick(paths(header), m["pick"]) if names else ()
            header = _set(header, where, m["value"], m["delete"] and bool(where))
        write_safetensors(target, header, data, m["length"] if kind == "header" else None,
                          sparse_extra=extra)
    else:
        target = path / m["file"]
        if not target.is_file():
            return
        raw = bytearray(target.read_bytes())
        at = m["offset"] % (len(raw) + 1)
        end = at + len(m["bytes"])
        raw = raw[:at] if m["truncate"] else raw[:at] + bytearray(m["bytes"]) + raw[end:]
        target.write_bytes(bytes(raw))
    if m["reseal"]:
        with contextlib.suppress(ValueError, TypeError, KeyError, RecursionError):
            reseal(path)  # fails where meta.json itself is broken
