"""The bounds every spec document and model spec is checked against, before work is done.

A spec is small data: a few thousand layers at most, a few levels of nesting, numbers of
human size. A document outside these bounds is rejected up front with a :class:`SpecError`
naming the bound, so a hostile or broken file (a YAML "billion laughs", a 10,000-deep list,
``Dense(10**12)``) costs milliseconds, never gigabytes:

- ``MAX_DOCUMENT_BYTES``: the text of one spec document (JSON or YAML);
- ``MAX_DEPTH``: nesting of mappings and lists;
- ``MAX_ALIASES``: YAML aliases (``*name``) in one document;
- ``MAX_VALUES``: values in the document once aliases are expanded;
- ``MAX_LAYERS``: layers of one model;
- ``MAX_MODEL_BYTES``: the float32 bytes of a model's parameters, and of one sample's
  largest activation. At build time the parameters must also fit in the machine's physical
  memory, and at fit/predict/evaluate time one batch's largest activation must too
  (:func:`check_batch_memory`); both are lower bounds of what training needs, so a model
  that is refused could never have run.

Names (of layers and models) follow :data:`NAME_PATTERN`, which every backend can use as a
module, layer or scope name: TensorFlow's scope names refuse a leading ``_``, ``:``,
spaces and non-ASCII letters; ``/`` separates layer and parameter in canonical weight
names and ``@`` marks a shared layer's further calls.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from ..errors import SpecError, short, suggest

__all__ = [
    "MAX_ALIASES",
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "MAX_LAYERS",
    "MAX_MODEL_BYTES",
    "MAX_VALUES",
    "NAME_PATTERN",
    "check_batch_memory",
    "check_document_size",
    "check_keys",
    "check_model_size",
    "check_name",
    "check_param_memory",
    "check_tree",
    "largest",
    "physical_memory",
]

MAX_DOCUMENT_BYTES: Final = 2 * 2**20
MAX_DEPTH: Final = 32
MAX_ALIASES: Final = 100
MAX_VALUES: Final = 200_000
MAX_LAYERS: Final = 10_000
MAX_MODEL_BYTES: Final = 2**40  # 1 TiB
NAME_PATTERN: Final = r"[A-Za-z][A-Za-z0-9_.-]{0,63}"
_NAME: Final = re.compile(NAME_PATTERN)
_SIMPLE_KEY: Final = re.compile(r"[A-Za-z_][\w-]{0,63}")
_FLOAT32_BYTES: Final = 4


def _bytes(n: int) -> str:
    """``n`` bytes in the largest binary unit that keeps it >= 1 (``29.1 TiB``)."""
    if n >= 2**70:  # beyond EiB (and beyond what a float holds, for huge ints)
        return f"about 2^{n.bit_length() - 1} B"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if value < 1024 or unit == "EiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{n} B"
        value /= 1024
    raise AssertionError("unreachable")


def _count(n: int) -> str:
    return f"{n:.3g}" if n < 2**1000 else f"about 2^{n.bit_length() - 1}"


def check_document_size(size: int, where: str) -> None:
    """Refuse a spec document of more than ``MAX_DOCUMENT_BYTES`` (before parsing it)."""
    if size > MAX_DOCUMENT_BYTES:
        raise SpecError(f"the document is {_bytes(size)}, more than the "
                        f"{_bytes(MAX_DOCUMENT_BYTES)} a spec may take (a spec describes "
                        "layers, not data)", where)


def check_tree(data: object, where: str) -> None:
    """Refuse a parsed document nested deeper than ``MAX_DEPTH`` or holding more than
    ``MAX_VALUES`` values (shared sub-documents, YAML aliases, counted each time they
    occur, as they would be read). Iterative, so any input costs at most ``MAX_VALUES``
    steps; a self-containing Python structure fails on depth."""
    stack: list[tuple[object, int]] = [(data, 0)]
    count = 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise SpecError(f"the document holds more than {MAX_VALUES:,} values (YAML aliases "
                            "counted each time they are used); a spec is far smaller", where)
        children: Iterable[object]
        if isinstance(value, dict):
            children = [*value.keys(), *value.values()]
        elif isinstance(value, (list, tuple)):
            children = value
        else:
            continue
        if depth >= MAX_DEPTH:
            raise SpecError(f"the document nests deeper than {MAX_DEPTH} levels; a spec "
                            "needs a few", where)
        stack.extend((child, depth + 1) for child in children)


def check_keys(data: Mapping[Any, Any], known: Sequence[str], what: str, path: str) -> None:
    """Refuse a key of ``data`` not in ``known`` (suggesting the closest): a misspelled key
    would otherwise change nothing and say nothing."""
    for key in data:
        if key not in known:
            simple = isinstance(key, str) and _SIMPLE_KEY.fullmatch(key) is not None
            hint = suggest(str(key), known) if simple else ""
            raise SpecError(f"unknown {what} key {short(key)}.{hint} Known keys: "
                            f"{', '.join(known)}", f"{path}.{key}" if simple else path)


def check_name(value: object, path: str) -> str:
    """``value`` if it is a name every backend accepts, else a SpecError showing the rule."""
    if not isinstance(value, str) or _NAME.fullmatch(value) is None:
        raise SpecError(f"must be a name of 1-64 ASCII letters, digits, '_', '.' or '-' "
                        f"starting with a letter (e.g. 'dense_1' or 'encoder.out-2'), got "
                        f"{short(value)}", path)
    return value


def physical_memory() -> int | None:
    """The machine's physical memory in bytes, or None where the OS does not say."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * size if pages > 0 and size > 0 else None


def check_model_size(param_count: int, largest_activation: int, where: str) -> None:
    """Refuse a model whose float32 parameters, or one sample's largest activation, take
    more than ``MAX_MODEL_BYTES``; the message gives the estimate."""
    for what, n in (("parameters", param_count), ("largest activation of one sample",
                                                   largest_activation)):
        need = n * _FLOAT32_BYTES
        if need > MAX_MODEL_BYTES:
            raise SpecError(f"the model's {what} would take {_bytes(need)} as float32 "
                            f"({_count(n)} values), more than the {_bytes(MAX_MODEL_BYTES)} unidl "
                            "accepts; reduce units, filters or input sizes", where)


def check_param_memory(param_count: int, where: str) -> None:
    """Refuse to allocate parameters that exceed this machine's physical memory."""
    need, have = param_count * _FLOAT32_BYTES, physical_memory()
    if have is not None and need > have:
        raise SpecError(f"the model's parameters need {_bytes(need)} as float32, more than "
                        f"this machine's {_bytes(have)} of memory; reduce units or filters",
                        where)


def check_batch_memory(largest_activation: int, batch_size: int, where: str) -> None:
    """Refuse a batch whose largest single activation exceeds physical memory (or
    ``MAX_MODEL_BYTES`` where memory is unknown): it could never be computed."""
    need = largest_activation * batch_size * _FLOAT32_BYTES
    have = physical_memory() or MAX_MODEL_BYTES
    if need > have:
        raise SpecError(f"one batch of {batch_size} needs at least {_bytes(need)} for the "
                        f"model's largest activation alone, more than the {_bytes(have)} of "
                        "memory here; lower batch_size", where)


def largest(shapes: Iterable[tuple[int, ...]]) -> int:
    """The element count of the largest of ``shapes`` (per sample), 0 for none."""
    return max((math.prod(s) for s in shapes), default=0)
