"""The kind registries: one door for built-in and user kinds, names that are never taken
over, saved files that name their custom kinds, and loading that never runs code."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest

import unidl
from unidl.spec import ACTIVATION_KINDS, LAYER_KINDS, LOSS_KINDS, OPTIMIZER_KINDS
from unidl.spec.kinds import implemented


@unidl.register_layer
@dataclass(frozen=True)
class CoreTestShift(unidl.Layer):
    """y = x + offset per feature (one learned vector)."""

    name: str | None = None
    kind: ClassVar[str] = "CoreTestShift"
    name_prefix: ClassVar[str] = "shift"

    def params(self, input_shape: unidl.spec.Shape) -> dict[str, unidl.ParamInfo]:
        return {"offset": unidl.ParamInfo((input_shape[-1],), "zeros")}

    def reference(self, x: Any, weights: Any) -> Any:
        return x + weights["offset"]


def _spec() -> unidl.Sequential:
    return unidl.Sequential([unidl.Input((3,)), CoreTestShift(), unidl.Dense(2)])


def test_builtin_kinds_are_registered_once_each_with_their_module() -> None:
    assert len(LAYER_KINDS.builtins()) == 28
    assert set(LOSS_KINDS.builtins()) >= {"mse", "huber", "sparse_categorical_crossentropy"}
    assert "Adam" in OPTIMIZER_KINDS and OPTIMIZER_KINDS.lookup("adam", "x") is unidl.Adam
    assert LAYER_KINDS.module_of("Dense") == "unidl.spec.layers.core"
    assert not LAYER_KINDS.is_builtin("CoreTestShift")
    assert LAYER_KINDS.module_of("CoreTestShift") == __name__


def test_loss_facts_are_fields_not_positions() -> None:
    sparse = LOSS_KINDS["sparse_categorical_crossentropy"]
    assert (sparse.target, sparse.fuses_with, sparse.takes_logits) == (
        "class_index", "softmax", True)
    assert LOSS_KINDS["binary_crossentropy"].fuses_with == "sigmoid"
    assert not LOSS_KINDS["mse"].takes_logits
    assert LOSS_KINDS.aliases()["mean_squared_error"] == "mse"


def test_a_builtin_name_cannot_be_taken() -> None:
    with pytest.raises(unidl.SpecError, match="'relu' is a built-in activation"):
        unidl.register_activation("relu", lambda x: x)
    with pytest.raises(unidl.SpecError, match="'mse' is a built-in loss"):
        unidl.register_loss("mse", lambda y, p, spec: y - p)


def test_a_name_owned_by_another_module_is_refused_naming_both() -> None:
    kind = unidl.register_activation("core_test_cube", lambda x: x**3)
    assert kind.name == "core_test_cube" and ACTIVATION_KINDS["core_test_cube"] is kind
    with pytest.raises(unidl.SpecError, match=r"already registered by module 'tests\.") as info:
        unidl.register_activation("core_test_cube", lambda x: x**3, module="someone.else")
    assert "someone.else" in str(info.value)
    # the owning module may register again (a re-run notebook cell, a reload)
    assert unidl.register_activation("core_test_cube", lambda x: x**3).name == "core_test_cube"


@pytest.mark.parametrize(("make", "fragment"), [
    (lambda: unidl.register_layer(int), "subclass of unidl.Layer"),  # type: ignore[type-var]
    (lambda: unidl.register_activation("bad name", lambda x: x), "identifier"),
    (lambda: unidl.register_activation("core_test_nofn", 3), "reference must be a function"),
    (lambda: unidl.register_loss("core_test_t", lambda y, p, s: y, target="probs"),
     "unknown loss target"),
    (lambda: unidl.register_builder("Dense", "torch", print), "registered layer or optimizer"),
    (lambda: unidl.register_builder(unidl.Dense, "torch", 3), "builder must be callable"),
])
def test_registration_errors_say_what_is_expected(make: Any, fragment: str) -> None:
    with pytest.raises(unidl.SpecError, match=fragment):
        make()


def test_a_layer_kind_needs_its_kind_and_a_reference() -> None:
    @dataclass(frozen=True)
    class NoKind(unidl.Layer):
        def reference(self, x: Any, weights: Any) -> Any:
            return x

    @dataclass(frozen=True)
    class NoReference(unidl.Layer):
        kind: ClassVar[str] = "CoreTestNoReference"

    with pytest.raises(unidl.SpecError, match="must set its own kind"):
        unidl.register_layer(NoKind)
    with pytest.raises(unidl.SpecError, match="must define reference"):
        unidl.register_layer(NoReference)


def test_a_saved_spec_names_its_custom_kinds_and_round_trips() -> None:
    spec = _spec()
    data = spec.to_dict()
    assert data["custom_kinds"] == {"layer": {"CoreTestShift": __name__}}
    assert "custom_kinds" not in unidl.Sequential([unidl.Input((3,)), unidl.Dense(2)]).to_dict()
    assert unidl.spec.from_json(spec.to_json()) == spec
    assert unidl.spec.from_yaml(spec.to_yaml()) == spec


def test_loading_an_unregistered_kind_names_it_and_never_imports_its_module() -> None:
    module = "core_test_module_that_must_never_be_imported"
    data = _spec().to_dict()
    data["layers"][1]["class"] = "CoreTestMissing"
    data["custom_kinds"] = {"layer": {"CoreTestMissing": module},
                            "activation": {"core_test_missing_act": module}}
    with pytest.raises(unidl.UnregisteredKindError) as info:
        unidl.spec.from_dict(data)
    message = str(info.value)
    assert "'CoreTestMissing'" in message and "'core_test_missing_act'" in message
    assert module in message and module not in sys.modules
    assert {k for _, k, _ in info.value.missing} == {"CoreTestMissing", "core_test_missing_act"}


@pytest.mark.parametrize("bad", [[1], {"layer": ["x"]}, {"gadget": {"a": "b"}},
                                 {"layer": {"a": 3}}])
def test_a_malformed_custom_kinds_section_is_a_spec_error(bad: object) -> None:
    data = _spec().to_dict()
    data["custom_kinds"] = bad
    with pytest.raises(unidl.SpecError, match="custom_kinds"):
        unidl.spec.from_dict(data)


def test_the_reference_forward_uses_each_kinds_own_reference() -> None:
    from unidl.testing.reference import forward

    spec = _spec()
    w = {"core_test_shift/offset": np.array([1.0, 2.0, 3.0], np.float32),
         "dense/kernel": np.eye(3, 2, dtype=np.float32), "dense/bias": np.zeros(2, np.float32)}
    w = {k.replace("core_test_shift", spec.layers[1].layer_name): v for k, v in w.items()}
    np.testing.assert_allclose(forward(spec, w, np.zeros((1, 3))), [[1.0, 2.0]])


def test_a_kind_without_a_builder_is_not_supported_naming_kind_and_backend(
        backend: str) -> None:
    with pytest.raises(unidl.NotSupportedError, match=rf"CoreTestShift.*{backend}|"
                                                      rf"{backend}.*CoreTestShift"):
        unidl.build(_spec(), backend=backend)


def test_capabilities_follow_the_registered_builders(backend: str) -> None:
    caps = unidl.registry.get_backend(backend).capabilities
    assert "CoreTestShift" not in caps.layers
    if not implemented("layer", backend):  # e.g. unidl-numpy lists its kinds itself
        pytest.skip(f"backend {backend!r} declares its kinds without registering builders")
    assert set(LAYER_KINDS.builtins()) <= caps.layers
    assert set(LOSS_KINDS.builtins()) <= caps.losses



@unidl.register_optimizer
@dataclass(frozen=True)
class CoreTestLion(unidl.Optimizer):
    """A sign-momentum rule: one buffer per parameter."""

    beta: float = 0.9
    kind: ClassVar[str] = "CoreTestLion"

    def state_slots(self) -> tuple[str, ...]:
        return ("exp_avg",)


def test_an_optimizer_declares_its_own_state_slots() -> None:
    from unidl.optimizer_state import STEP, state_shapes

    spec = unidl.Sequential([unidl.Input((3,)), unidl.Dense(2, name="d")])
    assert state_shapes(spec, CoreTestLion()) == {"d/kernel/exp_avg": (3, 2),
                                                  "d/bias/exp_avg": (2,), STEP: ()}
    assert state_shapes(spec, unidl.SGD()) == {STEP: ()}  # no momentum: no buffer
    assert unidl.SGD(momentum=0.9).state_slots() == ("momentum",)
    assert unidl.Adam(amsgrad=True).state_slots() == ("m", "v", "v_max")
