"""Spec files for the command line: a model spec, optionally with its training settings.

A SPEC file (YAML, or JSON, which is the same data) is either

- a bare model spec, what ``spec.to_yaml()`` writes, or
- a mapping with ``model:`` (that spec) and ``training:``: ``loss``, ``metrics``,
  ``loss_weights``, ``optimizer``, ``lr_schedule`` (in the forms ``Model.compile`` takes and
  ``unidl.io`` writes into a saved model's ``spec.json``, so that file is a valid SPEC too:
  one loss, or one per output as a list or a dict keyed by output name), ``epochs``,
  ``batch_size``, ``validation_split``, ``seed`` and ``shuffle``. A top-level ``seed`` (as
  in ``spec.json``) is accepted as well.

Every error is a :class:`SpecFileError` whose message starts ``FILE:LINE:``: syntax errors
from the parser's position, invalid fields from the ``SpecError`` path mapped onto the
document (:mod:`unidl.cli.locate`).

YAML is read with the bounded safe loader of :mod:`unidl.spec.yaml_document` (as
``unidl.spec.from_yaml`` reads it): ``1e-3`` is a float, as in YAML 1.2 and JSON, and a
document's size, nesting depth and aliases are bounded (:mod:`unidl.spec.bounds`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from ..errors import SpecError, UnknownNameError, short
from ..heads import Head, resolve_heads
from ..spec import LOSSES, Optimizer, optimizer_from
from ..spec.bounds import MAX_DOCUMENT_BYTES, check_document_size, check_tree
from ..spec.serialize import ModelSpec, from_dict, load_json
from ..spec.yaml_document import load_yaml
from ..training.schedules import Schedule, schedule_from
from .locate import Segment, locate, parse_path

__all__ = ["SpecDocument", "SpecFile", "SpecFileError", "TrainingConfig", "read_spec_file"]

_TOP_KEYS: Final = ("model", "training", "seed")
#: Written into ``spec.json`` by ``unidl.io`` to resume a run; a fresh ``fit`` ignores them
#: (``custom_metrics`` are Python functions, which a file cannot hold).
_RESUME_KEYS: Final = ("custom_metrics", "plateau", "epochs_trained")


class SpecFileError(SpecError):
    """A spec file is unreadable or invalid: ``str()`` is ``FILE:LINE: message``, ``path``
    the field path (if the error is about a field) and ``message`` the text after the
    location."""

    def __init__(self, file: Path, line: int | None, message: str, path: str = "",
                 column: int | None = None) -> None:
        where = str(file) if line is None else f"{file}:{line}"
        super().__init__(f"{where}{'' if column is None else f':{column}'}: {message}")
        self.path, self.message = path, message
        self.file, self.line, self.column = file, line, column


@dataclass(frozen=True)
class TrainingConfig:
    """The ``training:`` section; ``None`` where the file says nothing. ``loss``,
    ``metrics`` and ``loss_weights`` stay as written (validated against the model spec by
    :meth:`SpecFile.heads`, after any command-line overrides); the rest is validated."""

    loss: Any = None
    metrics: Any = None
    loss_weights: Any = None
    optimizer: Optimizer | None = None
    lr_schedule: Schedule | None = None
    epochs: int | None = None
    batch_size: int | None = None
    validation_split: float | None = None
    seed: int | None = None
    shuffle: bool | None = None


@dataclass(frozen=True)
class SpecDocument:
    """A spec file's path and composed YAML nodes (``None`` if they are unavailable)."""

    path: Path
    root: yaml.Node | None

    def located(self, error: SpecError, base: Sequence[Segment] = ()) -> SpecFileError:
        """``error`` prefixed with ``FILE:LINE:`` of its field; ``base`` is the document
        path of the object that was validated (e.g. ``("training", "metrics")``)."""
        line = None if self.root is None else locate(self.root, base, str(error))
        return SpecFileError(self.path, line, str(error), error.path)


@dataclass(frozen=True)
class SpecFile:
    """A parsed spec file: the model spec and its training settings."""

    spec: ModelSpec
    training: TrainingConfig
    document: SpecDocument

    @property
    def path(self) -> Path:
        return self.document.path

    def heads(self, loss: object = None, metrics: object = None) -> tuple[Head, ...]:
        """Each output's validated loss, weight and metrics: the file's settings, with
        ``loss`` / ``metrics`` replacing them where given (command-line overrides). An
        invalid setting from the file is reported at its line."""
        from_file = {"loss": loss is None, "metrics": metrics is None, "loss_weights": True}
        loss = self.training.loss if loss is None else loss
        metrics = self.training.metrics if metrics is None else metrics
        if loss is None:
            raise SpecError(f"no loss given: add `loss: NAME` under `training:` in "
                            f"{self.path}, or pass --loss NAME (one of {', '.join(LOSSES)})",
                            "loss")
        try:
            return resolve_heads(self.spec, loss, metrics, self.training.loss_weights)
        except SpecError as e:
            field = parse_path(e.path)[:1]
            if field and from_file.get(str(field[0]), False):
                raise self.document.located(e, ("training", str(field[0]))) from None
            raise


def read_spec_file(path: str | Path) -> SpecFile:
    """Read and validate a spec file (or a saved model directory's ``spec.json``)."""
    path = Path(path)
    if path.is_dir():
        if not (path / "spec.json").is_file():
            raise SpecFileError(path, None, "is a directory without spec.json; give a YAML "
                                "or JSON spec file, or a saved model directory")
        path = path / "spec.json"
    data, root = _parse(path, _read_text(path))
    doc = SpecDocument(path, root)
    try:
        check_tree(data, "spec")
    except SpecError as e:
        raise SpecFileError(path, None, e.message) from None
    if data is None:
        raise SpecFileError(path, 1, "the file is empty; expected a model spec (what "
                            "spec.to_yaml() writes) or a mapping with model: and training:")
    if not (isinstance(data, dict) and ("model" in data or "training" in data)):
        return SpecFile(_model(doc, data, ()), TrainingConfig(), doc)
    for key in data:
        if key not in _TOP_KEYS:
            raise doc.located(UnknownNameError("top-level key", key, _TOP_KEYS),
                              (key,) if isinstance(key, (str, int)) else ())
    if "model" not in data:
        raise SpecFileError(path, None if root is None else root.start_mark.line + 1,
                            "has training: but no model: section holding the model spec")
    return SpecFile(_model(doc, data["model"], ("model",)),
                    _training(doc, data.get("training"), data.get("seed")), doc)


def _read_text(path: Path) -> str:
    """The file's text: at most ``MAX_DOCUMENT_BYTES``, checked before reading, and UTF-8."""
    try:
        check_document_size(path.stat().st_size, "spec")
    except SpecError as e:
        raise SpecFileError(path, None, e.message) from None
    with path.open("rb") as f:
        raw = f.read(MAX_DOCUMENT_BYTES + 1)  # the file may have grown since stat()
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise SpecFileError(path, None, f"is larger than the {MAX_DOCUMENT_BYTES:,} bytes a "
                            "spec may take")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise SpecFileError(path, line, f"is not UTF-8 text (byte {e.start}: "
                            f"{raw[e.start:e.start + 1]!r}); save the spec as UTF-8") from None


def _parse(path: Path, text: str) -> tuple[object, yaml.Node | None]:
    """The document's data and its node tree (for positions)."""
    if path.suffix.lower() == ".json":
        try:
            data = load_json(text)
        except SpecError as e:
            line = re.match(r"invalid JSON at line (\d+), column (\d+): ", e.message)
            raise SpecFileError(path, None if line is None else int(line.group(1)),
                                e.message if line is None else
                                f"invalid JSON: {e.message[line.end():]}",
                                column=None if line is None else int(line.group(2))) from None
        try:  # JSON is YAML, so the YAML composer gives positions; they are a bonus
            root = load_yaml(text)[1]
        except (yaml.YAMLError, ValueError, OverflowError):  # SpecError is a ValueError
            root = None
        return data, root
    try:
        data, root = load_yaml(text)
    except SpecError as e:
        raise SpecFileError(path, None, e.message) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        problem = str(getattr(e, "problem", None) or e)[:200]
        raise SpecFileError(path, None if mark is None else mark.line + 1,
                            f"invalid YAML: {problem}",
                            column=None if mark is None else mark.column + 1) from None
    except (ValueError, OverflowError) as e:  # a timestamp or integer the constructor refuses
        raise SpecFileError(path, None, f"invalid YAML: {str(e)[:200]}") from None
    if root is not None:
        _check_duplicate_keys(path, root)
    return data, root


def _check_duplicate_keys(path: Path, root: yaml.Node) -> None:
    """YAML says keys are unique, but PyYAML silently keeps the last; refuse instead.
    Each distinct node is visited once (an alias is not re-read), so this is linear in the
    file."""
    stack, visited = [root], {id(root)}
    while stack:
        node = stack.pop()
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    line = key.start_mark.line + 1
                    if key.value in seen:
                        raise SpecFileError(path, line, f"duplicate key {short(key.value)} "
                                            f"(first on line {seen[key.value]})")
                    seen[key.value] = line
                children += (key, value)
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        for child in children:
            if id(child) not in visited:
                visited.add(id(child))
                stack.append(child)


def _model(doc: SpecDocument, data: object, base: tuple[Segment, ...]) -> ModelSpec:
    try:
        return from_dict(data)
    except SpecError as e:
        raise doc.located(e, base) from None


def _int_at_least(low: int) -> Callable[[object, str], int]:
    def check(value: object, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise SpecError(f"must be an integer >= {low}, got {short(value)}", key)
        return value
    return check


def _fraction(value: object, key: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise SpecError(f"must be a number between 0 and 1 (exclusive), got {short(value)}",
                        key)
    return float(value)


def _seed(value: object, key: str) -> int | None:
    return None if value is None else _int_at_least(0)(value, key)


def _bool(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        raise SpecError(f"must be true or false, got {short(value)}", key)
    return value


def _as_written(value: object, key: str) -> object:
    return value


def _schedule(value: object, key: str) -> Schedule | None:
    return None if value is None else schedule_from(value, key)


_FIELDS: Final[dict[str, Callable[[object, str], Any]]] = {
    "loss": _as_written,
    "metrics": _as_written,
    "loss_weights": _as_written,
    "optimizer": optimizer_from,
    "lr_schedule": _schedule,
    "epochs": _int_at_least(0),
    "batch_size": _int_at_least(1),
    "validation_split": _fraction,
    "seed": _seed,
    "shuffle": _bool,
}


def _training(doc: SpecDocument, data: object, top_seed: object) -> TrainingConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        fields = ", ".join(_FIELDS)
        raise doc.located(SpecError(f"must be a mapping of training settings ({fields}), "
                                    f"got {type(data).__name__}", "training"), ("training",))
    values: dict[str, Any] = {}
    if top_seed is not None:
        try:
            values["seed"] = _seed(top_seed, "seed")
        except SpecError as e:
            raise doc.located(e, ("seed",)) from None
    for key, value in data.items():
        if key in _RESUME_KEYS:
            continue
        try:
            if key not in _FIELDS:
                raise UnknownNameError("training setting", key, _FIELDS)
            values[key] = _FIELDS[key](value, key)
        except SpecError as e:
            raise doc.located(e, ("training", key) if isinstance(key, (str, int)) else
                              ("training",)) from None
    return TrainingConfig(**values)
