"""Hypothesis strategies for spec documents, valid and hostile: shared by the property tests
(``tests/test_hostile_specs.py``, ``tests/cli/test_hostile_inputs.py``) and the long fuzz
run (``tests/fuzz/fuzz_specs.py``).

A document starts from a valid spec (a Sequential or a Graph, optionally wrapped with a
``training:`` section as the CLI reads it) and is then mutated: a field replaced by a value
of another type, a key renamed, deleted or added, numbers pushed to extremes, structure
nested deep, or the whole text cut or spliced. The result is a dict, or JSON/YAML text.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from hypothesis import strategies as st

LAYER_KINDS = ["Input", "Dense", "Conv1D", "Conv2D", "Dropout", "BatchNorm", "LayerNorm",
               "Activation", "Embedding", "Flatten", "Reshape", "Permute", "LSTM", "GRU",
               "SimpleRNN", "MaxPool2D", "AvgPool1D", "GlobalAvgPool2D", "Concatenate", "Add",
               "Dnse", "dense", ""]
KEYS = ["class", "units", "activation", "use_bias", "name", "shape", "dtype", "rate",
        "filters", "kernel_size", "strides", "padding", "momentum", "epsilon", "axis",
        "target_shape", "dims", "return_sequences", "input_dim", "output_dim", "pool_size",
        "layers", "nodes", "inputs", "outputs", "unidl_spec", "custom_kinds", "layer",
        "model", "training", "seed", "loss", "metrics", "optimizer", "lr", "epochs",
        "batch_size", "lr_schedule", "gamma", "step_size", "clipnorm", "loss_weights",
        "validation_split", "shuffle", "__init__", "unts", "layerz"]

EXTREME_NUMBERS = st.sampled_from([
    0, -1, 1, 2**31, 2**63, 10**12, 10**30, 10**400, -(10**400), 1e39, 1e308, -1e308,
    float("inf"), float("-inf"), float("nan"), 1e-320, 0.5, -0.0, True, False])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 70), EXTREME_NUMBERS,
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["relu", "softmax", "same", "valid", "float32", "int64", "false", "true",
                     "Dense", "1e-3", "_hidden", "a:b", "a b", "é", "a/b", "x@1", "", "0",
                     "mse", "adam", "accuracy", "StepLR"]),
    st.text(max_size=12))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6), st.integers(0, 3)),
                    inner, max_size=4)), max_leaves=12)


def _sequential(draw: st.DrawFn) -> dict[str, Any]:
    width = draw(st.integers(1, 6))
    layers: list[dict[str, Any]] = [{"class": "Input", "shape": [width]}]
    for i in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["Dense", "Dropout", "BatchNorm", "LayerNorm", "Activation"]))
        if kind == "Dense":
            layer: dict[str, Any] = {"class": "Dense", "units": draw(st.integers(1, 8)),
                                     "activation": draw(st.sampled_from([None, "relu", "tanh"]))}
        elif kind == "Dropout":
            layer = {"class": "Dropout", "rate": 0.25}
        elif kind == "Activation":
            layer = {"class": "Activation", "activation": "relu"}
        else:
            layer = {"class": kind, "epsilon": 1e-3}
        if draw(st.booleans()):
            layer["name"] = f"l{i}"
        layers.append(layer)
    return {"unidl_spec": 1, "class": "Sequential", "name": "seq", "layers": layers}


def _graph(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 4))
    layers: list[dict[str, Any]] = [{"class": "Input", "shape": [3], "name": "x"}]
    nodes = []
    prev = "x"
    for i in range(n):
        layers.append({"class": "Dense", "units": draw(st.integers(1, 5)), "name": f"d{i}"})
        nodes.append({"layer": f"d{i}", "inputs": [prev]})
        prev = f"d{i}"
    return {"unidl_spec": 1, "class": "Graph", "name": "g", "layers": layers, "nodes": nodes,
            "inputs": ["x"], "outputs": [prev]}


def _training(draw: st.DrawFn) -> dict[str, Any]:
    return {"loss": draw(st.sampled_from(["mse", "mae", {"name": "huber", "delta": 1.0}])),
            "metrics": draw(st.sampled_from([["mae"], "mse", None])),
            "optimizer": draw(st.sampled_from(["adam", {"class": "SGD", "lr": 0.1},
                                               {"class": "Adam", "lr": 1e-3, "clipnorm": 1.0}])),
            "epochs": draw(st.integers(0, 3)), "batch_size": draw(st.integers(1, 64)),
            "lr_schedule": draw(st.sampled_from([None, {"class": "StepLR", "step_size": 2,
                                                        "gamma": 0.5}]))}


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``doc``."""
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += paths(v, (*prefix, i))
    return out


def _mutate(draw: st.DrawFn, doc: Any) -> Any:
    path = draw(st.sampled_from(paths(doc)))
    op = draw(st.sampled_from(["replace", "extreme", "rename", "delete", "add", "nest",
                               "wrap"]))
    if not path:
        return draw(VALUES) if op == "replace" else doc
    parent = doc
    for seg in path[:-1]:
        parent = parent[seg]
    last = path[-1]
    if op == "replace":
        parent[last] = draw(VALUES)
    elif op == "extreme":
        parent[last] = draw(EXTREME_NUMBERS)
    elif op == "rename" and isinstance(parent, dict):
        parent[draw(st.sampled_from(KEYS))] = parent.pop(last)
    elif op == "delete":
        del parent[last]
    elif op == "add" and isinstance(parent, dict):
        parent[draw(st.sampled_from(KEYS))] = draw(VALUES)
    elif op == "nest":
        value: Any = parent[last]
        for _ in range(draw(st.integers(1, 60))):
            value = [value]
        parent[last] = value
    elif op == "wrap":
        parent[last] = {"value": parent[last]}
    return doc


@st.composite
def spec_dicts(draw: st.DrawFn, training: bool = False) -> Any:
    """A spec document (a dict, or after mutation anything), valid or mutated."""
    doc: Any = draw(st.sampled_from([_sequential, _graph]))(draw)
    if training:
        doc = {"model": doc, "training": _training(draw)}
    for _ in range(draw(st.integers(0, 3))):
        doc = _mutate(draw, doc)
    return doc


def _to_text(doc: Any, fmt: str) -> str:
    if fmt == "json":
        try:
            return json.dumps(doc)
        except (TypeError, ValueError):  # keys of a type JSON cannot write
            return json.dumps(str(doc))
    try:
        return str(yaml.safe_dump(doc, sort_keys=False))
    except yaml.YAMLError:
        return repr(doc)


HOSTILE_YAML = st.sampled_from([
    "a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "layers: [{class: Input, shape: [4]}, {class: Dense, units: *f}]\n",
    "&a [*a]\n", "layers: &l [*l]\n", "[" * 5000 + "]" * 5000, "{a: " * 3000 + "1" + "}" * 3000,
    "!!python/object/apply:os.system ['true']\n", "layers: !!binary AAAA===\n",
    "layers: 2001-13-45\n", "units: " + "9" * 5000 + "\n", "? [1, 2]\n: 3\n",
    "a: 1\na: 2\n", "<<: 5\n", "layers:\n- <<: [*x]\n", "%YAML 9.9\n---\na: 1\n",
    "--- a\n--- b\n", "\t\x00\x01", "layers: [{class: Input, shape: [4]}, {class: Dense, "
    "units: 2, use_bias: 'false'}]\n"])


@st.composite
def spec_texts(draw: st.DrawFn, fmt: str, training: bool = False) -> str:
    """JSON or YAML text: a (mutated) spec written out, possibly cut, spliced or hostile."""
    kind = draw(st.sampled_from(["doc", "doc", "cut", "splice", "hostile", "raw"]))
    if kind == "hostile":
        return draw(HOSTILE_YAML)
    if kind == "raw":
        return draw(st.text(max_size=200))
    text = _to_text(draw(spec_dicts(training)), fmt)
    if kind == "cut" and text:
        return text[:draw(st.integers(0, len(text) - 1))]
    if kind == "splice" and text:
        i = draw(st.integers(0, len(text)))
        return text[:i] + draw(st.sampled_from(["[", "{", "&a ", "*a", ":", "- ", "\n  ", "'",
                                                  '"', "\\u0000", "1e999", ","])) + text[i:]
    return text
