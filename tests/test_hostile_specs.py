"""Hostile and broken spec documents, absurd numbers and out-of-range data: every one gets a
specific ``UnidlError`` with a short message, before any real work (issue 14, part A).

The property tests at the end feed generated documents (valid, mutated, cut, spliced and
hostile) to the JSON/YAML/dict loaders: each loads or raises a ``UnidlError``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import unidl
from unidl.errors import DataError, SpecError, UnidlError
from unidl.spec import from_dict, from_json, from_yaml
from unidl.spec.bounds import MAX_ALIASES, MAX_DEPTH, MAX_DOCUMENT_BYTES, MAX_LAYERS

from .spec_documents import spec_dicts, spec_texts

#: No message quotes a rejected value at length (errors.short bounds each quote).
MESSAGE_LIMIT = 1000


def _base(**dense: Any) -> dict[str, Any]:
    return {"layers": [{"class": "Input", "shape": [4]}, {"class": "Dense", "units": 2, **dense}]}


def _laughs(levels: int) -> str:
    """A YAML "billion laughs": each level nine aliases of the one before."""
    lines = ["l0: &l0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    lines.append(f"layers: [{{class: Input, shape: [4]}}, {{class: Dense, units: *l{levels}}}]")
    return "\n".join(lines) + "\n"


# -- documents: size, depth, aliases, layers ---------------------------------------------
def test_a_billion_laughs_is_refused_by_counting_not_by_expanding() -> None:
    # 9**6 = 531,441 values quoted whole by the old messages; 9**9 took 65 s and 5.4 GB
    for levels in (6, 9):
        with pytest.raises(SpecError, match="expands to more than") as e:
            from_yaml(_laughs(levels))
        assert len(str(e.value)) < MESSAGE_LIMIT


def test_yaml_aliases_are_counted() -> None:
    text = "a: &a 4\nlayers:\n- {class: Input, shape: [*a]}\n" + "".join(
        f"- {{class: Dense, units: *a, name: d{i}}}\n" for i in range(MAX_ALIASES + 1))
    with pytest.raises(SpecError, match=f"more than {MAX_ALIASES} YAML aliases"):
        from_yaml(text)


def test_a_document_that_contains_itself_is_refused() -> None:
    with pytest.raises(SpecError, match="contains itself"):
        from_yaml("layers: &l [*l]\n")
    cyclic: dict[str, Any] = {}
    cyclic["layers"] = [cyclic]
    with pytest.raises(SpecError, match="nests deeper"):
        from_dict(cyclic)


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_deep_nesting_is_a_spec_error_not_a_recursion_error(fmt: str) -> None:
    load = from_json if fmt == "json" else from_yaml
    deep = MAX_DEPTH + 5
    doc = json.dumps({"layers": json.loads("[" * deep + "]" * deep)})  # JSON is YAML too
    for text in (doc, "[" * deep + "]" * deep, "[" * 100_000 + "]" * 100_000):
        with pytest.raises(SpecError, match="nest"):
            load(text)


def test_document_size_and_layer_count_are_bounded() -> None:
    with pytest.raises(SpecError, match=r"more than the 2\.0 MiB"):
        from_json(" " * (MAX_DOCUMENT_BYTES + 1))
    layers = [{"class": "Input", "shape": [2]}] + [{"class": "Dense", "units": 2}] * MAX_LAYERS
    with pytest.raises(SpecError, match="layers, more than the 10,000"):
        from_dict({"layers": layers})


def test_numbers_python_cannot_read_are_spec_errors() -> None:
    with pytest.raises(SpecError, match="invalid JSON"):
        from_json('{"layers": [{"class": "Input", "shape": [' + "9" * 5000 + "]}]}")
    with pytest.raises(SpecError, match="invalid YAML"):
        from_yaml("layers: 2001-13-45\n")


# -- fields: bools, unknown keys, malformed structure, bounded quotes --------------------
@pytest.mark.parametrize("value", ["false", "no", 0, 1, None, [True]])
def test_a_bool_field_takes_only_true_or_false(value: object) -> None:
    with pytest.raises(SpecError, match="use_bias: must be true or false"):
        from_dict(_base(use_bias=value))
    with pytest.raises(SpecError, match="use_bias"):
        unidl.Dense(2, use_bias=value)  # type: ignore[arg-type]


def test_unknown_keys_are_refused_with_the_closest_known_one() -> None:
    with pytest.raises(SpecError, match=r"spec.layerz: unknown Sequential spec key 'layerz'. "
                                        r"Did you mean 'layers'\?"):
        from_dict({**_base(), "layerz": []})
    with pytest.raises(SpecError, match=r"unknown Dense key 'unts'. Did you mean 'units'\?"):
        from_dict({"layers": [{"class": "Input", "shape": [4]}, {"class": "Dense", "unts": 2}]})
    with pytest.raises(SpecError, match="unknown Graph spec key 'node'"):
        from_dict({"class": "Graph", "layers": [], "node": []})
    with pytest.raises(SpecError, match=r"unknown Adam key 'learning_rate'"):
        unidl.spec.optimizer_from({"class": "Adam", "learning_rate": 0.1})


MALFORMED = {
    "layers_not_a_list": {"layers": {"class": "Input"}},
    "layer_is_a_list": {"layers": [[]]},
    "class_is_a_list": {"class": ["Graph"], "layers": []},
    "version_is_text": {"unidl_spec": "1", "layers": []},
    "version_is_a_bool": {"unidl_spec": True, "layers": []},
    "name_is_a_list": {**_base(), "name": ["seq"]},
    "key_is_not_text": {"layers": [{"class": "Input", "shape": [4], 5: 1}]},
    "custom_kinds_list": {**_base(), "custom_kinds": [1]},
    "graph_nodes_dict": {"class": "Graph", "layers": [{"class": "Input", "shape": [2],
                                                       "name": "x"}], "nodes": {"a": 1}},
    "schedule_milestones_int": None,
}


@pytest.mark.parametrize("case", [k for k, v in MALFORMED.items() if v is not None])
def test_malformed_fields_are_spec_errors(case: str) -> None:
    with pytest.raises(SpecError) as e:
        from_dict(MALFORMED[case])
    assert len(str(e.value)) < MESSAGE_LIMIT


def test_an_empty_mapping_of_metrics_or_loss_weights_is_a_spec_error() -> None:
    # found by tests/fuzz/specs.py: `metrics: {}` raised IndexError
    from unidl.heads import resolve_heads

    spec = unidl.Sequential([unidl.Input((3,)), unidl.Dense(1)])
    with pytest.raises(SpecError, match="metrics: is an empty mapping; give one entry per"):
        resolve_heads(spec, "mse", {}, None)
    with pytest.raises(SpecError, match="loss_weights: is an empty mapping"):
        resolve_heads(spec, "mse", None, {})


def test_malformed_schedule_and_optimizer_configs_are_spec_errors() -> None:
    from unidl.training.schedules import schedule_from

    with pytest.raises(SpecError):
        schedule_from({"class": "MultiStepLR", "milestones": 5}, "lr_schedule")
    with pytest.raises(SpecError):
        schedule_from({"class": ["StepLR"]}, "lr_schedule")
    with pytest.raises(SpecError):
        unidl.spec.optimizer_from({"class": {"a": 1}})


def test_rejected_values_are_quoted_short() -> None:
    huge = "x" * 1_000_000
    cases: list[Any] = [
        lambda: from_dict(_base(activation=huge)),
        lambda: from_dict(_base(kernel_initializer=huge)),
        lambda: from_dict({"layers": [{"class": huge}]}),
        lambda: from_dict({"layers": [{"class": "Input", "shape": [4]},
                                      {"class": "Dense", "units": [list(range(10**5))]}]}),
        lambda: from_dict({**_base(), huge: 1}),
        lambda: from_dict({"class": huge, "layers": []}),
        lambda: unidl.Dense(2, name=huge),
        lambda: unidl.spec.optimizer_from({"class": "Adam", "lr": [0.1] * 10**5}),
        lambda: unidl.Dropout([0.5] * 10**5),  # type: ignore[arg-type]
    ]
    for case in cases:
        with pytest.raises(SpecError) as e:
            case()
        assert len(str(e.value)) < MESSAGE_LIMIT


# -- names -------------------------------------------------------------------------------
BAD_NAMES = ["_hidden", "a:b", "a b", "é", "a/b", "x@1", "", "1a", "a" * 65, "a\nb"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_names_follow_the_rule_every_backend_accepts(name: str) -> None:
    x = unidl.Input((3,))
    for make in (lambda: unidl.Dense(1, name=name),
                 lambda: unidl.Input((3,), name=name),
                 lambda: unidl.Sequential([unidl.Input((3,)), unidl.Dense(1)], name=name),
                 lambda: unidl.Graph(inputs=x, outputs=unidl.Dense(1)(x), name=name)):
        with pytest.raises(SpecError, match=r"starting with a letter \(e.g. 'dense_1'"):
            make()
    with pytest.raises(SpecError, match=r"spec\.name: must be a name"):
        from_dict({**_base(), "name": name})


def test_names_the_rule_accepts_round_trip() -> None:
    spec = unidl.Sequential([unidl.Input((3,), name="in.put-1"), unidl.Dense(2, name="A_b.c-d")],
                            name="m.v-2")
    assert from_json(spec.to_json()) == spec


# -- sizes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("units", [10**12, 2**63, 10**400])
def test_absurd_sizes_are_refused_with_the_estimate(units: int) -> None:
    with pytest.raises(SpecError, match=r"parameters would take (about 2\^\d+ B|[\d.]+ [TE]iB) "
                                        "as float32"):
        unidl.Sequential([unidl.Input((8,)), unidl.Dense(units)])
    x = unidl.Input((8,))
    with pytest.raises(SpecError, match="would take"):
        unidl.Graph(inputs=x, outputs=unidl.Dense(units)(x))
    with pytest.raises(SpecError, match="would take"):
        from_dict({"layers": [{"class": "Input", "shape": [8]}, {"class": "Dense",
                                                                 "units": units}]})


def test_one_sample_too_large_is_refused() -> None:
    with pytest.raises(SpecError, match="largest activation of one sample would take"):
        unidl.Sequential([unidl.Input((10**7, 10**7))])


def test_parameters_beyond_this_machines_memory_are_refused_before_allocating(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from unidl import initializers
    from unidl.spec import bounds

    monkeypatch.setattr(bounds, "physical_memory", lambda: 2**20)
    spec = unidl.Sequential([unidl.Input((512,)), unidl.Dense(1024)])  # 2 MiB of weights
    with pytest.raises(SpecError, match=r"need 2.0 MiB as float32, more than this machine's"):
        initializers.initial_weights(spec, 0)


def test_initial_weights_are_float32_throughout() -> None:
    from unidl.initializers import initial_weights

    spec = unidl.Sequential([unidl.Input((2, 6)), unidl.Dense(5, kernel_initializer="he_normal"),
                             unidl.LSTM(4), unidl.Dense(3, kernel_initializer="lecun_uniform")])
    weights = initial_weights(spec, 3)
    assert all(w.dtype == np.float32 for w in weights.values())
    assert np.isclose(weights["dense/kernel"].std(), math.sqrt(2 / 6), rtol=0.5)
    rk = weights["lstm/recurrent_kernel"].reshape(4, 16)
    assert np.allclose(rk @ rk.T, np.eye(4), atol=1e-5)  # orthogonal rows


def test_initial_weights_take_little_more_memory_than_the_model() -> None:
    import tracemalloc

    from unidl.initializers import initial_weights

    spec = unidl.Sequential([unidl.Input((1024,)), unidl.Dense(1024, use_bias=False)])
    tracemalloc.start()
    try:
        weights = initial_weights(spec, 0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    size = sum(w.nbytes for w in weights.values())  # 4 MiB; float64 draws peaked at 3x
    assert peak < 1.5 * size


def test_loading_does_not_compute_initial_weights_it_would_overwrite(
        backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from unidl import api

    spec = unidl.Sequential([unidl.Input((3,)), unidl.Dense(4, kernel_initializer="orthogonal"),
                             unidl.Dense(1)])
    model = unidl.build(spec, backend=backend, seed=0)
    model.save(tmp_path / "m")

    def computed(*args: object) -> None:
        raise AssertionError("initial weights were computed while loading")

    monkeypatch.setattr(api, "initial_weights", computed)
    loaded = unidl.load(tmp_path / "m", backend=backend)
    x = np.ones((2, 3), np.float32)
    assert np.array_equal(loaded.predict(x), model.predict(x))


def test_one_batch_too_large_is_refused_before_the_backend_runs(backend: str) -> None:
    # 10**6 filters on 100x100 pixels: 4e10 bytes per sample, 1e13 for a batch of 256
    spec = unidl.Sequential([unidl.Input((100, 100, 1)), unidl.Conv2D(10**6, 1)])
    model = unidl.build(spec, backend=backend, seed=0)
    x = np.zeros((256, 100, 100, 1), np.float32)
    with pytest.raises(SpecError, match=r"batch_size: one batch of 256 needs at least"):
        model.predict(x, batch_size=256)


# -- non-finite hyper-parameters -----------------------------------------------------------
INF, NAN = float("inf"), float("nan")
HYPER = {
    "adam_lr_inf": lambda: unidl.Adam(lr=INF),
    "adam_lr_nan": lambda: unidl.Adam(lr=NAN),
    "sgd_momentum_nan": lambda: unidl.SGD(momentum=NAN),
    "clipnorm_nan": lambda: unidl.Adam(clipnorm=NAN),
    "clipvalue_inf": lambda: unidl.Adam(clipvalue=INF),
    "adam_epsilon_inf": lambda: unidl.Adam(epsilon=INF),
    "adamw_decay_inf": lambda: unidl.AdamW(weight_decay=INF),
    "batchnorm_epsilon_nan": lambda: unidl.BatchNorm(epsilon=NAN),
    "batchnorm_epsilon_inf": lambda: unidl.BatchNorm(epsilon=INF),
    "layernorm_epsilon_inf": lambda: unidl.LayerNorm(epsilon=INF),
    "steplr_gamma_inf": lambda: unidl.StepLR(step_size=2, gamma=INF),
    "exponential_gamma_inf": lambda: unidl.ExponentialLR(gamma=INF),
    "cosine_eta_inf": lambda: unidl.CosineAnnealingLR(T_max=3, eta_min=INF),
    "adam_lr_huge_int": lambda: unidl.Adam(lr=10**400),
    "huber_delta_inf": lambda: unidl.Loss("huber", delta=INF),
}


@pytest.mark.parametrize("case", sorted(HYPER))
def test_non_finite_hyper_parameters_are_refused(case: str) -> None:
    with pytest.raises(SpecError, match="finite"):
        HYPER[case]()


# -- data the model's dtype cannot hold ----------------------------------------------------
def test_data_beyond_float32_is_refused(backend: str) -> None:
    spec = unidl.Sequential([unidl.Input((2,)), unidl.Dense(1)])
    x = np.ones((8, 2))
    y = np.ones(8)
    bad_x = x.copy()
    bad_x[3, 1] = 1e39
    with pytest.raises(DataError, match=r"holds 1e\+39, beyond the float32 range"):
        unidl.fit(spec, (bad_x, y), backend=backend, loss="mse", epochs=1, verbose=0)
    with pytest.raises(DataError, match="beyond the float32 range"):
        unidl.fit(spec, (x, np.full(8, -1e300)), backend=backend, loss="mse", epochs=1,
                  verbose=0)
    model = unidl.build(spec, backend=backend, seed=0)
    with pytest.raises(DataError, match="beyond the float32 range"):
        model.predict(bad_x)
    assert model.predict(x.astype(np.float32)).shape == (8, 1)


def test_integers_that_would_wrap_are_refused(backend: str) -> None:
    spec = unidl.Sequential([unidl.Input((1,), dtype="int32"), unidl.Embedding(10, 2),
                             unidl.Flatten(), unidl.Dense(1)])
    model = unidl.build(spec, backend=backend, seed=0)
    for bad in (np.array([[1], [2**40]]), np.array([[1.0], [2.0**40]]),
                np.array([[1], [2**32 + 3]], dtype=np.uint64)):
        with pytest.raises(DataError, match=r"outside the int32 range"):
            model.predict(bad)
    with pytest.raises(DataError, match="NaN or inf"):
        model.predict(np.array([[1.0], [np.inf]]))
    assert model.predict(np.array([[1], [9]], dtype=np.int64)).shape == (2, 1)


def test_class_weight_keys_must_be_ints_and_numpy_values_are_accepted(backend: str) -> None:
    spec = unidl.Sequential([unidl.Input((2,)), unidl.Dense(2)])
    x, y = np.ones((8, 2), np.float32), np.array([0, 1] * 4)
    kw: dict[str, Any] = {"backend": backend, "loss": "sparse_categorical_crossentropy",
                          "epochs": 1, "verbose": 0, "seed": 0}
    with pytest.raises(DataError, match=r"keys must be class indices .* got '1' \(str\); "
                                        r"write \{1: ...\}"):
        unidl.fit(spec, (x, y), class_weight={"1": 2.0}, **kw)  # type: ignore[dict-item]
    with pytest.raises(DataError, match=r"class_weight\[1\] must be a finite number"):
        unidl.fit(spec, (x, y), class_weight={1: np.float32("nan")}, **kw)
    numpy_valued = unidl.fit(spec, (x, y), class_weight={np.int64(1): np.float32(2.0)}, **kw)
    plain = unidl.fit(spec, (x, y), class_weight={1: 2.0}, **kw)
    assert np.allclose(numpy_valued.history["loss"], plain.history["loss"])


# -- properties: any document loads or raises a UnidlError ---------------------------------
PROPERTY = settings(max_examples=100, deadline=2000, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _loads_or_unidl_error(load: Any, document: Any) -> None:
    try:
        load(document)
    except UnidlError as e:
        assert len(str(e)) < 4 * MESSAGE_LIMIT
    except Exception as e:  # the property is "nothing else"
        pytest.fail(f"{type(e).__name__} escaped: {str(e)[:300]}")


@PROPERTY
@given(doc=spec_dicts())
def test_any_spec_dict_loads_or_raises_a_unidl_error(doc: Any) -> None:
    _loads_or_unidl_error(from_dict, doc)


@PROPERTY
@given(text=spec_texts("json"))
def test_any_json_text_loads_or_raises_a_unidl_error(text: str) -> None:
    _loads_or_unidl_error(from_json, text)


@PROPERTY
@given(text=spec_texts("yaml"))
def test_any_yaml_text_loads_or_raises_a_unidl_error(text: str) -> None:
    _loads_or_unidl_error(from_yaml, text)
