"""Specs as plain data: dicts, JSON and YAML, with errors that point at the field."""

from __future__ import annotations

import json
from typing import Any

from ..errors import SpecError, UnknownNameError
from .config import SPEC_FORMAT, check_custom_kinds
from .graph import Graph
from .graph_config import graph_from_dict
from .kinds import LAYER_KINDS
from .layers import Layer
from .model import Sequential

__all__ = [
    "SPEC_FORMAT",
    "ModelSpec",
    "from_dict",
    "from_json",
    "from_yaml",
    "layer_from_config",
    "model_to_dict",
    "to_json",
    "to_yaml",
]

def layer_from_config(config: object, path: str) -> Layer:
    if not isinstance(config, dict):
        raise SpecError(f"must be a mapping with a 'class' key, got {config!r}", path)
    config = dict(config)
    kind = config.pop("class", None)
    if not isinstance(kind, str) or kind not in LAYER_KINDS:
        raise UnknownNameError("layer", f"{kind!s:.80}", LAYER_KINDS, f"{path}.class")
    cls = LAYER_KINDS[kind]
    for key in ("shape", "target_shape", "dims"):
        if isinstance(config.get(key), list):
            config[key] = tuple(config[key])
    try:
        layer: Layer = cls(**config)
        return layer
    except TypeError as e:  # unknown or missing keyword
        raise SpecError(f"{e}".replace("__init__()", kind), path) from None
    except SpecError as e:
        raise SpecError(str(e), path) from None


ModelSpec = Sequential | Graph


def model_to_dict(model: ModelSpec) -> dict[str, Any]:
    return model.to_dict()


def from_dict(data: object) -> ModelSpec:
    """Build a model spec from :func:`model_to_dict` output (or hand-written YAML)."""
    if not isinstance(data, dict):
        raise SpecError(f"a model spec must be a mapping, got {type(data).__name__}", "spec")
    version = data.get("unidl_spec", SPEC_FORMAT)
    if not isinstance(version, int) or version > SPEC_FORMAT:
        raise SpecError(f"spec format {version!r} is newer than this unidl understands "
                        f"({SPEC_FORMAT}); upgrade unidl", "spec.unidl_spec")
    check_custom_kinds(data.get("custom_kinds"))
    kind = data.get("class", "Sequential")
    if kind not in ("Sequential", "Graph"):
        raise UnknownNameError("model class", str(kind), ("Graph", "Sequential"), "spec.class")
    layers = data.get("layers")
    if not isinstance(layers, list):
        raise SpecError("must be a list of layer mappings", "spec.layers")
    built = [layer_from_config(c, f"spec.layers[{i}]") for i, c in enumerate(layers)]
    if kind == "Graph":
        return graph_from_dict(data, built)
    return Sequential(built, name=str(data.get("name", "sequential")))


def to_json(model: ModelSpec, indent: int | None = 2) -> str:
    return model.to_json(indent)


def from_json(text: str) -> ModelSpec:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SpecError(f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}",
                        "spec") from None
    return from_dict(data)


def to_yaml(model: ModelSpec) -> str:
    return model.to_yaml()


def from_yaml(text: str) -> ModelSpec:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(f"invalid YAML{where}: {getattr(e, 'problem', e)}", "spec") from None
    return from_dict(data)
