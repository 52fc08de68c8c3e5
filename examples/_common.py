"""Shared plumbing of the examples: command-line options, backend choice, the result table.

Every example takes the same options (``--backend torch|keras|all``, ``--epochs``, ``--seed``,
``--device``, ``--verbose``) and prints one table with a row per backend and the same
columns, so the frameworks can be compared line by line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from typing import Protocol, TypeVar

import unidl

__all__ = ["Row", "base_parser", "format_table", "load_data", "note", "numbers",
           "positive_int", "print_table", "select_backends", "verbosity", "warm_up"]

# TensorFlow (imported when the keras backend is first used) logs its start-up to stderr;
# fewer lines keep the tables readable. A value the user has set wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: One table row: column name -> number (formatted) or text (printed as is).
Row = Mapping[str, float | str]


def positive_int(text: str) -> int:
    """An ``argparse`` type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def base_parser(doc: str | None, epochs: int) -> argparse.ArgumentParser:
    """A parser with the options every example shares; ``doc`` is the module docstring."""
    lines = (doc or "").strip("\n").splitlines()
    parser = argparse.ArgumentParser(
        description=lines[0] if lines else None,
        epilog="\n".join(lines[1:]).strip("\n") or None,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="all",
                        help="torch, keras, a comma-separated list, or all (default: every "
                             "installed backend)")
    parser.add_argument("--epochs", type=positive_int, default=epochs,
                        help=f"training epochs (default {epochs})")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the initial weights and batch order (default 0)")
    parser.add_argument("--device", default="auto",
                        help="auto, cpu, cuda, cuda:1, mps, ... (default auto)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print one line per training epoch")
    return parser


def select_backends(parser: argparse.ArgumentParser, value: str) -> list[str]:
    """The backends named by ``--backend`` (``all``: every installed one), checked."""
    installed = unidl.backend_names()
    names = [n.strip().lower() for n in value.split(",") if n.strip()]
    if names in ([], ["all"]):
        names = installed
    unknown = [n for n in names if n not in installed]
    if unknown:
        parser.error(f"--backend {','.join(unknown)}: not installed; installed backends: "
                     f"{', '.join(installed) or 'none (pip install unidl-torch or unidl-keras)'}")
    if not names:
        parser.error("no unidl backend is installed; pip install unidl-torch or unidl-keras")
    return list(dict.fromkeys(names))


def warm_up(spec: unidl.Sequential | unidl.Graph, backend: str, device: str) -> None:
    """Import ``backend``'s framework and build ``spec`` on it once, so that a timed run
    measures training rather than the framework's import (seconds for TensorFlow)."""
    unidl.build(spec, backend=backend, seed=0, device=device)


def note(message: str) -> None:
    """A remark about the run (data source, fallbacks), printed before the results."""
    print(f"note: {message}")


class _Noted(Protocol):
    notes: list[str]


D = TypeVar("D", bound=_Noted)


def load_data(parser: argparse.ArgumentParser, load: Callable[[], D]) -> D:
    """``load()``'s data, with its notes printed; a file that cannot be read ends the run
    as a usage error naming it."""
    try:
        data = load()
    except (OSError, ValueError) as e:
        parser.error(str(e))
    for line in data.notes:
        note(line)
    return data


def _cell(value: float | str, fmt: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return format(value, fmt)


def format_table(rows: Mapping[str, Row], formats: Mapping[str, str] | None = None,
                 default_format: str = ".4f") -> str:
    """``rows`` (backend -> row) as aligned text; every row has the same columns, in the
    order of the first row. ``formats`` gives a column's number format (default ``.4f``)."""
    formats = formats or {}
    columns: list[str] = []
    for row in rows.values():
        columns += [c for c in row if c not in columns]
    table = [["backend", *columns]]
    for name, row in rows.items():
        table.append([name, *(_cell(row[c], formats.get(c, default_format)) if c in row
                              else "-" for c in columns)])
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in table)


def print_table(rows: Mapping[str, Row], formats: Mapping[str, str] | None = None) -> None:
    print()
    print(format_table(rows, formats))
    sys.stdout.flush()


def numbers(rows: Mapping[str, Row]) -> dict[str, dict[str, float]]:
    """The numeric cells of a table, per backend: what each example's ``main`` returns."""
    return {name: {c: float(v) for c, v in row.items() if not isinstance(v, str)}
            for name, row in rows.items()}


def verbosity(verbose: bool) -> int:
    """``fit``'s ``verbose``: one line per epoch when asked, silent otherwise."""
    return 2 if verbose else 0
