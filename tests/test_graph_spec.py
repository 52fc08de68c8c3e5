"""The functional Graph spec: calls on symbolic tensors, naming, shapes, shared layers,
merge layers, validation errors with field paths, summary, JSON/YAML round trip, and the
per-output training configuration. No backend is needed."""

from __future__ import annotations

import numpy as np
import pytest

import unidl
from unidl.heads import resolve_heads
from unidl.inputs import as_x, as_y
from unidl.spec import from_dict, from_json, from_yaml
from unidl.testing.cases import GRAPH_SPECS, random_input, random_weights, tabular_graph
from unidl.testing.reference import forward


def two_outputs() -> unidl.Graph:
    a, b = unidl.Input((5,), name="a"), unidl.Input((3,), name="b")
    shared = unidl.Dense(4, name="shared")
    h = unidl.Concatenate()([shared(a), b])
    return unidl.Graph(inputs=[a, b], outputs=[unidl.Dense(2, name="reg")(h),
                                                unidl.Dense(3, activation="softmax",
                                                            name="cls")(h)])


def test_tabular_graph_shapes_names_and_params() -> None:
    g = tabular_graph(n_categories=(7, 5), n_numeric=4, n_classes=3, dim=3, hidden=(16,))
    assert g.input_names == ("cat0", "cat1", "numeric")
    assert g.output_names == ("label",)
    assert g.output_shapes == ((3,),)
    assert g.output_activations == ("softmax",)
    concat = next(n for n in g.nodes if n.layer.kind == "Concatenate")
    assert concat.input_shapes == ((3,), (3,), (4,)) and concat.output_shape == (10,)
    assert g.params["embedding/embeddings"].shape == (7, 3)
    assert g.params["embedding_1/embeddings"].shape == (5, 3)
    assert g.params["dense/kernel"].shape == (10, 16)
    # 21 + 15 embeddings, 176 dense, 64 batchnorm (32 non-trainable), 51 output
    assert g.count_params() == 21 + 15 + 176 + 64 + 51
    assert g.count_params(trainable_only=True) == 21 + 15 + 176 + 32 + 51


def test_shared_layer_has_one_set_of_weights_and_named_calls() -> None:
    a, b = unidl.Input((5,), name="a"), unidl.Input((5,), name="b")
    shared = unidl.Dense(4, name="shared")
    g = unidl.Graph([a, b], unidl.Add()([shared(a), shared(b)]))
    assert [n.output for n in g.nodes] == ["shared", "shared@1", "add"]
    assert [k for k in g.params] == ["shared/kernel", "shared/bias"]
    assert [layer.layer_name for layer in g.layers] == ["a", "b", "shared", "add"]
    w = random_weights(g)
    xa, xb = random_input(g)
    (out,) = forward(g, w, (xa, xb))
    expected = xa @ w["shared/kernel"] + xb @ w["shared/kernel"] + 2 * w["shared/bias"]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_shared_layer_called_on_two_shapes_is_rejected() -> None:
    a, b = unidl.Input((5,), name="a"), unidl.Input((3,), name="b")
    shared = unidl.Dense(4, name="shared")
    with pytest.raises(unidl.SpecError, match=r"shared layer 'shared' is called on "
                                              r"\(None, 5\) and on \(None, 3\)"):
        unidl.Graph([a, b], unidl.Concatenate()([shared(a), shared(b)]))


def test_an_input_used_twice_is_one_input() -> None:
    x = unidl.Input((4,), name="x")
    g = unidl.Graph(x, unidl.Multiply()([unidl.Dense(4)(x), x]))
    assert g.input_names == ("x",)


def test_generated_names_follow_execution_order_and_skip_taken_ones() -> None:
    x = unidl.Input((4,))
    h = unidl.Dense(3, name="dense_1")(unidl.Dense(3)(x))
    g = unidl.Graph(x, unidl.Dense(2)(h))
    assert [layer.layer_name for layer in g.layers] == ["input", "dense", "dense_1",
                                                        "dense_2"]


@pytest.mark.parametrize("name", sorted(GRAPH_SPECS))
@pytest.mark.parametrize("fmt", ["json", "yaml", "dict"])
def test_round_trip(name: str, fmt: str) -> None:
    g = GRAPH_SPECS[name]
    back = {"json": lambda: from_json(g.to_json()), "yaml": lambda: from_yaml(g.to_yaml()),
            "dict": lambda: from_dict(g.to_dict())}[fmt]()
    assert back == g
    assert back.to_dict() == g.to_dict()


def test_nodes_may_be_listed_in_any_order_in_a_file() -> None:
    g = GRAPH_SPECS["tabular_embeddings"]
    doc = g.to_dict()
    doc["nodes"] = doc["nodes"][::-1]
    back = from_dict(doc)
    assert set(back.params) == set(g.params) and back.output_names == g.output_names
    w, x = random_weights(g), random_input(g)
    np.testing.assert_array_equal(forward(back, w, x)[0], forward(g, w, x)[0])


def test_summary_shows_connections_and_outputs() -> None:
    text = two_outputs().summary()
    assert "concatenate (Concatenate)" in text and "shared, b" in text
    assert "Outputs: reg, cls" in text
    assert f"Total params: {two_outputs().count_params():,}" in text


@pytest.mark.parametrize("mutate, error, pattern", [
    (lambda d: d["nodes"][0].update(inputs=["cls"]), unidl.SpecError, r"form a cycle"),
    (lambda d: d["nodes"][0].update(inputs=["aa"]), unidl.UnknownNameError,
     r"spec.nodes\[0\].inputs\[0\]: unknown tensor 'aa'. Did you mean 'a'"),
    (lambda d: d.update(outputs=["clss"]), unidl.UnknownNameError,
     r"spec.outputs\[0\]: unknown output tensor 'clss'"),
    (lambda d: d["nodes"][0].update(layer="nope"), unidl.UnknownNameError,
     r"spec.nodes\[0\].layer: unknown layer 'nope'"),
    (lambda d: d.update(inputs=["a"]), unidl.SpecError,
     r"depend on Input 'b' of shape \(None, 3\), which is not in Graph.inputs"),
    (lambda d: d["layers"][2].pop("name"), unidl.SpecError,
     r"spec.layers\[2\].name: every layer of a Graph file needs a name"),
    (lambda d: d["layers"][2].update(units=0), unidl.SpecError,
     r"spec.layers\[2\]: Dense.units: must be a positive integer"),
    (lambda d: d["nodes"].append({"layer": "a", "inputs": ["b"]}), unidl.SpecError,
     r"'a' is an Input; list it under spec.inputs"),
])
def test_bad_graph_files_name_the_field(mutate: object, error: type[Exception],
                                        pattern: str) -> None:
    doc = two_outputs().to_dict()
    mutate(doc)  # type: ignore[operator]
    with pytest.raises(error, match=pattern):
        from_dict(doc)


def test_cycle_message_names_the_cycle() -> None:
    x = unidl.Input((4,), name="x")
    g = unidl.Graph(x, unidl.Dense(2, name="c")(unidl.Dense(4, name="b")(
        unidl.Dense(4, name="a")(x))))
    doc = g.to_dict()
    doc["nodes"][0]["inputs"] = ["b"]
    with pytest.raises(unidl.SpecError, match=r"'a' -> 'b' -> 'a' form a cycle"):
        from_dict(doc)


def test_construction_errors_are_clear() -> None:
    a, num = unidl.Input((5,), name="a"), unidl.Input((3,), name="num")
    with pytest.raises(unidl.SpecError, match=r"Input 'z' is not connected to any output"):
        unidl.Graph([a, unidl.Input((2,), name="z")], unidl.Dense(1)(a))
    with pytest.raises(unidl.SpecError, match=r"Add.*needs inputs of one shape, got \(5,\), "
                                              r"\(3,\)"):
        unidl.Add()([a, num])
    with pytest.raises(unidl.SpecError, match=r"Concatenate.*one rank"):
        unidl.Concatenate()([a, unidl.Input((2, 3))])
    with pytest.raises(unidl.SpecError, match=r"Subtract.*exactly 2 inputs"):
        unidl.Subtract()([a, a, a])
    with pytest.raises(unidl.SpecError, match="takes a list of tensors"):
        unidl.Add()(a)
    with pytest.raises(unidl.SpecError, match="takes one tensor, got a list of 2"):
        unidl.Dense(3)([a, num])
    with pytest.raises(unidl.SpecError, match=r"Embedding.*integer indices"):
        unidl.Embedding(10, 2)(a)
    with pytest.raises(unidl.SpecError, match="not on data"):
        unidl.Dense(3)(np.zeros((2, 5)))
    with pytest.raises(unidl.SpecError, match=r"got Dense; call it on a tensor first"):
        unidl.Graph(a, unidl.Dense(3))
    with pytest.raises(unidl.SpecError, match="is an Input; outputs must be computed"):
        unidl.Graph(a, a)
    with pytest.raises(unidl.SpecError, match=r"Graph.inputs.*lists the same Input twice"):
        unidl.Graph([a, a], unidl.Dense(1)(a))
    with pytest.raises(unidl.SpecError, match=r"Graph.inputs\[0\]: is the output of Dense"):
        unidl.Graph(unidl.Dense(2)(a), unidl.Dense(1)(unidl.Dense(2)(a)))
    with pytest.raises(unidl.SpecError, match="cannot be part of a Sequential"):
        unidl.Sequential([unidl.Input((3,)), unidl.Concatenate()])
    with pytest.raises(unidl.SpecError, match=r"Concatenate.axis.*batch axis"):
        unidl.Concatenate(axis=0)
    with pytest.raises(unidl.SpecError, match=r"Permute.dims.*permutation"):
        unidl.Permute((1, 3))
    with pytest.raises(unidl.SpecError, match="must be a name of 1-64"):
        unidl.Dense(2, name="a@1")


def test_concatenate_axis_follows_keras_convention() -> None:
    x = unidl.Input((2, 3), name="x")
    y = unidl.Input((4, 3), name="y")
    assert unidl.Concatenate(axis=1)([x, y]).shape == (6, 3)
    assert unidl.Concatenate(axis=-2)([x, y]).shape == (6, 3)
    with pytest.raises(unidl.SpecError, match="differ outside the concatenation axis"):
        unidl.Concatenate()([x, y])


def test_permute_in_a_sequential() -> None:
    spec = unidl.Sequential([unidl.Input((3, 4)), unidl.Permute((2, 1)), unidl.Flatten()])
    assert spec.output_shape == (12,)
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(forward(spec, {}, x), x.transpose(0, 2, 1).reshape(2, 12))


def test_inputs_as_dict_list_or_array_with_clear_errors() -> None:
    g = two_outputs()
    a, b = np.ones((6, 5), np.float32), np.zeros((6, 3), np.float32)
    by_dict = as_x({"b": b, "a": a}, g)
    by_list = as_x([a, b], g)
    assert isinstance(by_dict, tuple) and [x.shape for x in by_dict] == [(6, 5), (6, 3)]
    assert all(np.array_equal(u, v) for u, v in zip(by_dict, by_list, strict=True))
    with pytest.raises(unidl.DataError, match=r"missing \['b'\]"):
        as_x({"a": a}, g)
    with pytest.raises(unidl.DataError, match=r"unknown \['c'\]"):
        as_x({"a": a, "b": b, "c": b}, g)
    with pytest.raises(unidl.DataError, match="single array but the model has 2 inputs"):
        as_x(a, g)
    with pytest.raises(unidl.ShapeMismatchError, match=r"x\['b'\] has shape \(6, 5\) but "
                                                       r"Input 'b' expects \(n, 3\)"):
        as_x([a, a], g)
    with pytest.raises(unidl.DataError, match="different numbers of samples"):
        as_x([a, b[:4]], g)


def test_embedding_index_out_of_range_names_the_input_and_layer() -> None:
    g = tabular_graph(n_categories=(7, 5))
    cats = [np.zeros((4, 1), np.int64), np.full((4, 1), 5), np.zeros((4, 4), np.float32)]
    with pytest.raises(unidl.DataError, match=r"x\['cat1'\] holds index 5, outside \[0, 5\) "
                                              r"of Embedding 'embedding_1'"):
        as_x(cats, g)


def test_heads_accept_one_value_a_list_or_a_dict_per_output() -> None:
    g = two_outputs()
    heads = resolve_heads(g, {"reg": "mse", "cls": "sparse_categorical_crossentropy"},
                          {"cls": ["accuracy"]}, [0.5, 2.0])
    assert [(h.name, h.loss.name, h.weight, h.metrics) for h in heads] == [
        ("reg", "mse", 0.5, ()), ("cls", "sparse_categorical_crossentropy", 2.0,
                                  ("accuracy",))]
    assert heads[1].logits_loss and not heads[0].logits_loss
    same = resolve_heads(g, ["mse", "categorical_crossentropy"], ["mae"], None)
    assert [h.metrics for h in same] == [("mae",), ("mae",)]
    with pytest.raises(unidl.SpecError, match=r"loss\['cls'\]: no loss for output 'cls'"):
        resolve_heads(g, {"reg": "mse"}, None, None)
    with pytest.raises(unidl.SpecError, match="loss: has 1 entries but the model has 2"):
        resolve_heads(g, ["mse"], None, None)
    with pytest.raises(unidl.UnknownNameError, match=r"loss\[1\]: unknown loss 'msee'"):
        resolve_heads(g, ["mse", "msee"], None, None)
    with pytest.raises(unidl.UnknownNameError, match="metrics: unknown output 'clss'"):
        resolve_heads(g, "mse", {"clss": ["mae"]}, None)
    with pytest.raises(unidl.SpecError, match=r"loss_weights\['reg'\]: must be a finite"):
        resolve_heads(g, "mse", None, {"reg": -1.0, "cls": 1.0})
    with pytest.raises(unidl.SpecError, match=r"'accuracy' needs a classification loss"):
        resolve_heads(g, "mse", ["accuracy"], None)


def test_targets_per_output() -> None:
    g = two_outputs()
    heads = resolve_heads(g, ["mse", "sparse_categorical_crossentropy"], None, None)
    y = as_y({"reg": np.zeros((6, 2)), "cls": np.array([0, 1, 2, 0, 1, 2])}, g, heads)
    assert isinstance(y, tuple) and y[0].dtype == np.float32 and y[1].dtype == np.int64
    with pytest.raises(unidl.DataError, match=r"y\['cls'\] holds class index 3"):
        as_y([np.zeros((6, 2)), np.array([0, 1, 2, 3, 1, 2])], g, heads)
