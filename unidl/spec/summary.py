"""The text table ``summary()`` prints for a model spec (Keras' layout)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["format_summary"]


def format_summary(name: str, header: tuple[str, ...], rows: Sequence[tuple[str, ...]],
                   total: int, trainable: int, footer: str = "") -> str:
    """Columns padded to fit; numbers (the third column) right-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)

    def fmt(row: tuple[str, ...]) -> str:
        cells = [cell.rjust(w) if i == 2 else cell.ljust(w)
                 for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        return "  ".join(cells).rstrip()

    lines = [f'Model: "{name}"', line, fmt(header), line, *map(fmt, rows), line,
             f"Total params: {total:,}", f"Trainable params: {trainable:,}",
             f"Non-trainable params: {total - trainable:,}"]
    return "\n".join([*lines, footer] if footer else lines)
