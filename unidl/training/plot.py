"""``Model.plot_history``: training curves drawn with matplotlib (the ``plot`` extra).

One panel per quantity, in history order: ``loss`` first, then each metric; a
``val_<name>`` curve shares its panel with ``<name>``, and ``lr`` (when a schedule ran) gets
its own. matplotlib is imported only here, when a plot is asked for, through its
object-oriented API (``matplotlib.figure.Figure``): no window, no global state, any backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import MissingDependencyError, SpecError, short

__all__ = ["plot_history"]

PLOT_EXTRA_HINT = 'pip install "unidl-core[plot]" (or pip install matplotlib)'


def _panels(history: dict[str, list[float]], keys: Sequence[str] | None) -> list[str]:
    names = [k for k in history if not k.startswith("val_")]
    names += [k[4:] for k in history if k.startswith("val_") and k[4:] not in names]
    if keys is None:
        return names
    if isinstance(keys, str):
        keys = [keys]
    if not isinstance(keys, (list, tuple)) or not keys or not all(
            isinstance(k, str) for k in keys):
        raise SpecError(f"must be a history key or a non-empty list of them ({', '.join(names)}"
                        f"), got {short(keys)}", "keys")
    for key in keys:
        if key not in names:
            raise SpecError(f"{short(key)} is not in the history; it has {', '.join(names)}",
                            "keys")
    return list(keys)


def plot_history(history: dict[str, list[float]], keys: Sequence[str] | None = None) -> Any:
    """A ``matplotlib.figure.Figure`` of ``history`` (``{name: per-epoch values}``)."""
    if not any(history.values()):
        raise SpecError("the model has no training history yet; train it with fit(...) "
                        "first (a loaded model keeps the history it was saved with)",
                        "history")
    panels = _panels(history, keys)
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise MissingDependencyError(
            f"plot_history needs matplotlib, which failed to import ({e}); install it with "
            f"{PLOT_EXTRA_HINT}") from None
    fig = Figure(figsize=(4.5 * len(panels), 3.5), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, name in zip(axes, panels, strict=True):
        for key, label in ((name, "train"), (f"val_{name}", "validation")):
            values = history.get(key) or []
            if values:
                ax.plot(range(1, len(values) + 1), values, marker="." if len(values) < 30
                        else None, label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.legend()
    return fig
