"""Specs as plain data: dicts, JSON and YAML, with errors that point at the field."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Final

from ..errors import SpecError, UnknownNameError, short
from .bounds import MAX_LAYERS, check_document_size, check_keys, check_tree
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
    "load_json",
    "model_to_dict",
    "to_json",
    "to_yaml",
]

#: The keys a model spec document may have, per model class.
_MODEL_KEYS: Final = {
    "Sequential": ("unidl_spec", "class", "name", "layers", "custom_kinds"),
    "Graph": ("unidl_spec", "class", "name", "layers", "nodes", "inputs", "outputs",
              "custom_kinds"),
}


def layer_from_config(config: object, path: str) -> Layer:
    if not isinstance(config, dict):
        raise SpecError(f"must be a mapping with a 'class' key, got {short(config)}", path)
    config = dict(config)
    kind = config.pop("class", None)
    if not isinstance(kind, str) or kind not in LAYER_KINDS:
        raise UnknownNameError("layer", kind, LAYER_KINDS, f"{path}.class")
    cls = LAYER_KINDS[kind]
    if dataclasses.is_dataclass(cls):
        fields = tuple(f.name for f in dataclasses.fields(cls) if f.init)
        check_keys(config, fields, f"{kind}", path)
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
    check_tree(data, "spec")
    version = data.get("unidl_spec", SPEC_FORMAT)
    if isinstance(version, bool) or not isinstance(version, int) or not (
            1 <= version <= SPEC_FORMAT):
        raise SpecError(f"spec format {short(version)} is not one this unidl understands "
                        f"(1 to {SPEC_FORMAT}); a newer one needs a newer unidl",
                        "spec.unidl_spec")
    kind = data.get("class", "Sequential")
    if not isinstance(kind, str) or kind not in _MODEL_KEYS:
        raise UnknownNameError("model class", kind, ("Graph", "Sequential"), "spec.class")
    check_keys(data, _MODEL_KEYS[kind], f"{kind} spec", "spec")
    check_custom_kinds(data.get("custom_kinds"))
    layers = data.get("layers")
    if not isinstance(layers, list):
        raise SpecError("must be a list of layer mappings", "spec.layers")
    if len(layers) > MAX_LAYERS:
        raise SpecError(f"has {len(layers):,} layers, more than the {MAX_LAYERS:,} a model "
                        "may have", "spec.layers")
    built = [layer_from_config(c, f"spec.layers[{i}]") for i, c in enumerate(layers)]
    if kind == "Graph":
        return graph_from_dict(data, built)
    name = data.get("name", "sequential")
    try:
        return Sequential(built, name=name)
    except SpecError as e:
        if e.path == "Sequential.name":
            raise SpecError(e.message, "spec.name") from None
        raise


def to_json(model: ModelSpec, indent: int | None = 2) -> str:
    return model.to_json(indent)


def from_json(text: str) -> ModelSpec:
    """Read a JSON spec document (at most ``MAX_DOCUMENT_BYTES`` characters)."""
    return from_dict(load_json(text))


def load_json(text: str) -> object:
    """The data of a JSON spec document, within the document bounds, or a SpecError."""
    if not isinstance(text, str):
        raise SpecError(f"a JSON spec must be text (str), got {type(text).__name__}", "spec")
    check_document_size(len(text), "spec")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SpecError(f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}",
                        "spec") from None
    except RecursionError:  # the C decoder's own depth limit, reached in microseconds
        raise SpecError("the document nests too deeply; a spec needs a few levels",
                        "spec") from None
    except ValueError as e:  # e.g. an integer of more digits than Python converts
        raise SpecError(f"invalid JSON: {str(e)[:200]}", "spec") from None
    check_tree(data, "spec")
    return data


def to_yaml(model: ModelSpec) -> str:
    return model.to_yaml()


def from_yaml(text: str) -> ModelSpec:
    """Read a YAML spec document (safe tags only; bounded in size, depth and aliases)."""
    import yaml

    from .yaml_document import load_yaml

    if not isinstance(text, str):
        raise SpecError(f"a YAML spec must be text (str), got {type(text).__name__}", "spec")
    check_document_size(len(text), "spec")
    try:
        data, _ = load_yaml(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = str(getattr(e, "problem", None) or e)[:200]
        raise SpecError(f"invalid YAML{where}: {problem}", "spec") from None
    except SpecError:
        raise
    except (ValueError, OverflowError) as e:  # a timestamp or integer the constructor refuses
        raise SpecError(f"invalid YAML: {str(e)[:200]}", "spec") from None
    return from_dict(data)
