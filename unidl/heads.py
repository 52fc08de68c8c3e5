"""Per-output training configuration: each model output's loss, weight and metrics.

A ``Sequential`` has one output; a ``Graph`` may have several. ``compile`` takes, for
``loss``, ``loss_weights`` and ``metrics``, either one value for every output, a list in
``spec.output_names`` order, or a dict keyed by output name (Keras' conventions). The
training loss is ``sum_k weight_k * loss_k``. Logs (and ``history``) name the total
``loss``; with several outputs also ``<output>_loss`` and ``<output>_<metric>``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import SpecError, UnknownNameError, at_path, short
from .losses import per_sample_loss
from .metrics import UserMetric, compute_metrics, resolve_metrics
from .spec import Loss, loss_from
from .spec.graph import Graph
from .spec.layers import Shape
from .spec.serialize import ModelSpec

__all__ = ["Head", "head_logs", "logits_to_probs", "output_names", "resolve_heads"]

Array = npt.NDArray[Any]

@dataclass(frozen=True)
class Head:
    """One output: its name, shape, final activation, loss, loss weight and metrics."""

    name: str
    shape: Shape
    activation: str
    loss: Loss
    weight: float = 1.0
    metrics: tuple[str, ...] = ()
    custom: Mapping[str, UserMetric] = field(default_factory=dict)

    @property
    def logits_loss(self) -> bool:
        """True when the loss is computed from the final layer's logits (fused)."""
        fuses_with = self.loss.kind.fuses_with
        return not self.loss.from_logits and fuses_with is not None \
            and fuses_with == self.activation


def output_names(spec: ModelSpec) -> tuple[str, ...]:
    if isinstance(spec, Graph):
        return spec.output_names
    return (spec.layers[-1].layer_name,)


def _per_output(value: object, names: tuple[str, ...], what: str,
                is_single: Any) -> list[tuple[object, str]]:
    """``value`` for each output, with the field path to report errors at."""
    if isinstance(value, dict) and value and set(value) <= set(names):
        return [(value.get(n), f"{what}[{n!r}]") for n in names]
    if isinstance(value, dict) and what != "loss":  # a loss may be a config mapping
        unknown = [k for k in value if k not in names]
        if not unknown:  # an empty mapping
            raise SpecError(f"is an empty mapping; give one entry per output ("
                            f"{', '.join(names)}) or leave it out", what)
        raise UnknownNameError("output", unknown[0], names, what)
    if isinstance(value, (list, tuple)) and not is_single(value):
        if len(value) != len(names):
            raise SpecError(f"has {len(value)} entries but the model has {len(names)} "
                            f"outputs ({', '.join(names)}); give one per output or a dict "
                            "keyed by output name", what)
        return [(v, f"{what}[{i}]") for i, v in enumerate(value)]
    return [(value, what) for _ in names]


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _is_metric_list(value: Sequence[Any]) -> bool:
    return all(isinstance(v, str) or callable(v) for v in value)


def resolve_heads(spec: ModelSpec, loss: object, metrics: object,
                  loss_weights: object) -> tuple[Head, ...]:
    """Validated heads for ``compile`` (see the module docstring for the accepted forms)."""
    names = output_names(spec)
    if isinstance(spec, Graph):
        shapes, acts = spec.output_shapes, spec.output_activations
    else:
        shapes, acts = (spec.output_shape,), (spec.final_activation,)
    losses = _per_output(loss, names, "loss", lambda v: False)
    # a flat list of metric names applies to every output; a list of lists is per output
    metric_sets = _per_output(metrics, names, "metrics",
                              lambda v: len(names) == 1 or _is_metric_list(v))
    weights = _per_output(1.0 if loss_weights is None else loss_weights, names,
                          "loss_weights", lambda v: False)
    heads: list[Head] = []
    for i, name in enumerate(names):
        raw_loss, loss_path = losses[i]
        if raw_loss is None:
            raise SpecError(f"no loss for output {name!r}; every output needs one", loss_path)
        try:
            loss_spec = loss_from(raw_loss)
        except SpecError as e:  # re-anchor "loss..." paths at this output's entry
            path = loss_path + e.path[4:] if e.path.startswith("loss") else e.path
            raise at_path(e, path) from None
        raw_w, w_path = weights[i]
        if isinstance(raw_w, bool) or not isinstance(raw_w, (int, float)) or not (
                _finite(raw_w) and raw_w >= 0):
            raise SpecError(f"must be a finite number >= 0, got {short(raw_w)}", w_path)
        raw_m, m_path = metric_sets[i]
        try:
            metric_names, custom = resolve_metrics(raw_m, loss_spec)  # type: ignore[arg-type]
        except SpecError as e:
            raise at_path(e, e.path.replace("metrics", m_path, 1)) from None
        if loss_spec.from_logits and acts[i] in ("softmax", "sigmoid"):
            raise SpecError(
                f"output {name!r} ends in {acts[i]} but its loss has from_logits=True, which "
                f"would apply {acts[i]} twice; drop the final activation or set "
                "from_logits=False", f"{loss_path}.from_logits")
        heads.append(Head(name, shapes[i], acts[i], loss_spec, float(raw_w), metric_names,
                          custom))
    return tuple(heads)


def logits_to_probs(loss: Loss, outputs: Array) -> Array:
    """Probabilities for metrics, when the model outputs logits (``from_logits=True``)."""
    if not loss.from_logits:
        return outputs
    z = np.asarray(outputs, dtype=np.float64)
    if loss.kind.fuses_with == "sigmoid":
        return np.asarray(1.0 / (1.0 + np.exp(-z)))
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def head_logs(heads: Sequence[Head], ys: Sequence[Array], outputs: Sequence[Array],
              sample_weight: Array | None = None, total: bool = True) -> dict[str, float]:
    """Loss (``total``: the weighted sum over outputs) and metrics of every output, keyed
    as in ``history``. Each output's loss is sample-weighted like training's."""
    multi = len(heads) > 1
    logs: dict[str, float] = {}
    overall = 0.0
    for head, y, out in zip(heads, ys, outputs, strict=True):
        per = per_sample_loss(head.loss, y, out, logits=head.loss.from_logits)
        value = float(per.mean() if sample_weight is None else (per * sample_weight).mean())
        overall += head.weight * value
        prefix = f"{head.name}_" if multi else ""
        if multi:
            logs[f"{prefix}loss"] = value
        metrics = compute_metrics(head.metrics, head.loss, y, logits_to_probs(head.loss, out),
                                  dict(head.custom))
        logs.update({f"{prefix}{k}": v for k, v in metrics.items()})
    return {"loss": overall, **logs} if total else logs
