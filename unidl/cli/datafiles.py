"""Read data files into arrays, and write predictions, for the ``unidl`` command line.

Inputs:

- ``.npz``: named arrays; ``x`` and ``y`` by default (any names via ``x_key``/``y_key``).
  ``x_key="a,b"`` reads several arrays as a dict ``{"a": ..., "b": ...}``, the form a
  multi-input model takes (and ``y_key="c,d"`` for a multi-output model's targets).
- ``.csv``: a header row naming the columns, then numeric rows. The target is the column
  named ``target`` (default: the last column; ``target="a,b"`` names one target column per
  output of a multi-output model, in output order); every other column is a feature. A cell
  that is not a number is an error naming the column and the line, never a silent NaN.
  For a model with several inputs, :func:`assign_columns` hands each input its columns.
- ``.npy``: a single array of inputs (``x`` only, e.g. for predictions).

Outputs (predictions): ``.npy``, ``.npz`` (array ``y_pred``; a multi-output model's outputs
keyed by output name) or ``.csv`` (header ``y_pred`` or
``y_pred_0, y_pred_1, ...`` per column), written to a temporary sibling and renamed into
place.
"""

from __future__ import annotations

import csv
import math
import os
import struct
import tokenize
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

import numpy as np
import numpy.typing as npt

from .._tempfiles import create_temp
from ..errors import DataError, short, suggest
from ..spec.bounds import physical_memory

__all__ = ["INPUT_SUFFIXES", "OUTPUT_SUFFIXES", "Arrays", "DataFile", "assign_columns",
           "check_output", "describe", "read_data", "write_predictions"]

Array = npt.NDArray[Any]
#: One array, or several keyed by input/output name (or, for targets, in output order).
Arrays = Array | dict[str, Array] | list[Array]

INPUT_SUFFIXES: Final = (".npz", ".csv", ".npy")
OUTPUT_SUFFIXES: Final = (".npy", ".npz", ".csv")
PREDICTIONS_KEY: Final = "y_pred"
#: What reading a broken .npy/.npz raises: a bad header or zip directory, corrupt deflate
#: data, an encrypted or unsupported member (zipfile's RuntimeError/NotImplementedError).
_ARCHIVE_ERRORS: Final = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error,
                          struct.error, NotImplementedError, RuntimeError, SyntaxError,
                          tokenize.TokenError)
#: A CSV's cells are read as Python strings first: a generous bound of memory per byte.
CSV_MEMORY_FACTOR: Final = 16


@dataclass(frozen=True)
class DataFile:
    """What was read: inputs ``x``, targets ``y`` (None when not asked for)."""

    path: Path
    x: Arrays
    y: Arrays | None
    #: A CSV's feature column names, one per column of ``x`` (empty for other files).
    columns: tuple[str, ...] = ()

    def __len__(self) -> int:
        """The number of samples (of the first input, for several)."""
        x = self.x
        if isinstance(x, dict):
            x = next(iter(x.values()))
        elif isinstance(x, list):
            x = x[0]
        return len(x)

    def xy(self) -> tuple[Arrays, Arrays]:
        assert self.y is not None
        return self.x, self.y


def read_data(path: str | Path, *, need_y: bool = True, x_key: str | None = None,
              y_key: str | None = None, target: str | None = None) -> DataFile:
    """Read ``path`` (``.npz``, ``.csv`` or ``.npy``) into a :class:`DataFile`.

    With ``need_y=False`` only inputs are read; a CSV then drops ``target`` if it is given
    and otherwise uses every column as a feature.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in INPUT_SUFFIXES:
        raise DataError(f"{path}: unsupported data file type {path.suffix or '(none)'!r}; "
                        "use .npz (arrays x and y), .csv (a header row, numeric columns) "
                        "or .npy (inputs only)")
    if suffix != ".csv" and target is not None:
        raise DataError(f"{path}: --target names a CSV column; for {suffix} files choose "
                        "arrays with --x-key/--y-key")
    if suffix == ".csv" and (x_key is not None or y_key is not None):
        raise DataError(f"{path}: --x-key/--y-key choose arrays in an .npz file; for a CSV "
                        "name the target column with --target")
    if not path.exists():  # before numpy/csv do, for one clear message
        raise FileNotFoundError(2, "No such file or directory", str(path))
    if suffix == ".npz":
        x, y = _read_npz(path, x_key or "x", (y_key or "y") if need_y else None)
        return DataFile(path, x, y)
    if suffix == ".npy":
        if need_y:
            raise DataError(f"{path}: an .npy file holds one array (the inputs) but this "
                            "command needs targets too; use an .npz with arrays x and y, "
                            "or a CSV")
        return DataFile(path, _load_npy(path), None)
    return _read_csv(path, target, need_y)


def _declared_bytes(f: IO[bytes], what: str) -> int:
    """The bytes the .npy header at the start of ``f`` declares (shape x item size); reads
    only the header. A pickled (object) dtype is refused here, before any data."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    except (*_ARCHIVE_ERRORS, TypeError) as e:
        raise DataError(f"{what}: not a NumPy .npy array: {str(e)[:200]}") from None
    if dtype.hasobject:
        raise DataError(f"{what} holds Python objects (dtype {dtype}); unidl reads numeric "
                        "arrays only and never unpickles")
    return math.prod(shape) * dtype.itemsize


def _check_declared(declared: int, holds: int, what: str) -> None:
    """Refuse an array that declares more bytes than its file holds (or than memory)."""
    if declared > holds:
        raise DataError(f"{what}: its header declares {declared:,} bytes of data but the file "
                        f"holds {holds:,}; the file is truncated or forged")
    memory = physical_memory()
    if memory is not None and declared > memory:
        raise DataError(f"{what} holds {declared:,} bytes, more than this machine's "
                        f"{memory:,} bytes of memory")


def _load_npy(path: Path) -> Array:
    try:
        with path.open("rb") as f:
            declared = _declared_bytes(f, str(path))
            holds = path.stat().st_size - f.tell()
            if declared > holds:  # truncated; memory is no limit: the map is read by batch
                _check_declared(declared, holds, str(path))
        mapped: Array = np.load(path, mmap_mode="r", allow_pickle=False)
        return mapped
    except DataError:
        raise
    except _ARCHIVE_ERRORS as e:
        raise DataError(f"{path}: cannot read it as a NumPy .npy file: {e}") from None


def _check_npz_member(archive: zipfile.ZipFile, key: str, path: Path) -> None:
    """Bound one .npz member before numpy reads it: its uncompressed size (what the archive
    says it inflates to, which reading never exceeds) against memory, and the array its
    header declares against that size, so a zip bomb is refused cheaply."""
    member = f"{key}.npy" if f"{key}.npy" in archive.namelist() else key
    info = archive.getinfo(member)
    what = f"{path}: array {short(key)}"
    memory = physical_memory()
    if memory is not None and info.file_size > memory:
        raise DataError(f"{what} inflates to {info.file_size:,} bytes, more than this "
                        f"machine's {memory:,} bytes of memory")
    if member.endswith(".npy"):
        with archive.open(info) as f:
            declared = _declared_bytes(f, what)
            _check_declared(declared, info.file_size - f.tell(), what)


def _read_npz(path: Path, x_key: str, y_key: str | None) -> tuple[Arrays, Arrays | None]:
    x_keys = _keys(x_key)
    y_keys = _keys(y_key) if y_key is not None else []
    wanted = [(k, "--x-key") for k in x_keys] + [(k, "--y-key") for k in y_keys]
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            arrays = {}
            for key, flag in wanted:
                if key not in names:
                    shown = _listed(names)
                    raise DataError(
                        f"{path} has no array {short(key)}.{suggest(key, names)} It holds: "
                        f"{shown or 'nothing'}; choose with {flag}")
                _check_npz_member(archive.zip, key, path)
                arrays[key] = np.asarray(archive[key])
    except DataError:
        raise
    except _ARCHIVE_ERRORS as e:
        raise DataError(f"{path}: cannot read it as a NumPy .npz archive: "
                        f"{str(e)[:200]}") from None

    def pick(keys: list[str]) -> Arrays:
        return arrays[keys[0]] if len(keys) == 1 else {k: arrays[k] for k in keys}

    return pick(x_keys), (pick(y_keys) if y_keys else None)


def _keys(text: str) -> list[str]:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    if not keys:
        raise DataError(f"{short(text)} names no array; give a name, or several separated by "
                        "commas")
    return keys


def _target_columns(path: Path, target: str | None, header: list[str]) -> list[str]:
    """The target column name(s) ``--target`` gives: one name, or several separated by
    commas (a header cell that itself holds a comma is taken whole)."""
    if target is None:
        return []
    names = [target] if target in header else [t.strip() for t in target.split(",")]
    for name in names:
        if name not in header:
            raise DataError(f"{path} has no column {short(name)}.{suggest(name, header)} "
                            f"Columns: {_listed(header)}")
    for name in names:
        if header.count(name) > 1 or names.count(name) > 1:
            raise DataError(f"{path}: the column name {short(name)} appears more than once in "
                            "the header or in --target; rename one")
    return names


def _listed(names: Sequence[str], most: int = 20) -> str:
    """Names for a message: the first ``most``, each shortened, and how many in all."""
    shown = ", ".join(n if len(n) <= 40 else short(n, 40) for n in names[:most])
    return shown + (f", ... ({len(names)} in all)" if len(names) > most else "")


def _read_csv(path: Path, target: str | None, need_y: bool) -> DataFile:
    header, rows, lines = _csv_rows(path)
    targets = _target_columns(path, target, header)
    if need_y and not targets:
        if header.count(header[-1]) > 1:
            raise DataError(f"{path}: the column name {short(header[-1])} appears more than "
                            "once in the header; rename one")
        targets = [header[-1]]
    if need_y and len(header) <= len(targets):
        raise DataError(f"{path} has only the column(s) {_listed(header)}; it needs "
                        "feature columns and a target column")
    table = _numeric(path, header, rows, lines)
    y_cols = [header.index(t) for t in targets]
    features = [j for j in range(len(header)) if j not in y_cols]
    columns = tuple(header[j] for j in features)
    y: Arrays | None = None
    if need_y:
        y = table[:, y_cols[0]] if len(y_cols) == 1 else [table[:, j] for j in y_cols]
    return DataFile(path, table[:, features], y, columns)


def assign_columns(data: DataFile, inputs: Sequence[tuple[str, tuple[int, ...]]]) -> DataFile:
    """A CSV's feature columns split among a multi-input model's ``inputs`` (name, per-sample
    shape), as ``{name: array}``.

    An input named like a column takes that column (it must hold one value per sample); at
    most one input may be named like no column, and it takes every remaining column, in
    header order. The table of examples/tabular_embeddings.py fits: one column per
    categorical input, the numeric features left for the numeric input. Other files, and
    single-input models, pass through.
    """
    if not data.columns or len(inputs) < 2 or not isinstance(data.x, np.ndarray):
        return data
    where = f"{data.path.name} (columns {', '.join(data.columns)})"
    x: dict[str, Array] = {}
    rest = list(inputs)
    for name, shape in inputs:
        if name in data.columns:
            if int(np.prod(shape)) != 1:
                raise DataError(
                    f"input {name!r} takes {_values(shape)} per sample, but {where} has a "
                    f"single column {name!r} for it. Rename that column, and let {name!r} "
                    "take the columns no other input is named after")
            x[name] = data.x[:, [data.columns.index(name)]].reshape(-1, *shape)
            rest.remove((name, shape))
    left = [j for j, c in enumerate(data.columns) if c not in x]
    if len(rest) > 1:
        raise DataError(
            f"inputs {', '.join(repr(n) for n, _ in rest)} are named after no column of "
            f"{where}. Name a column after each input that takes one value per sample; at "
            "most one input may take the remaining columns. (Or use an .npz file with an "
            "array per input and --x-key)")
    if rest:
        name, shape = rest[0]
        if len(left) != int(np.prod(shape)):
            taken = ", ".join(data.columns[j] for j in left) or "none"
            raise DataError(
                f"input {name!r} takes {_values(shape)} per sample, the columns of {where} "
                f"left over by the other inputs, but {len(left)} are left ({taken})")
        x[name] = data.x[:, left].reshape(-1, *shape)
    elif left:
        raise DataError(f"{where}: the column(s) {', '.join(data.columns[j] for j in left)} "
                        "feed no input (each input is named after its column); drop them "
                        "from the file")
    return DataFile(data.path, {name: x[name] for name, _ in inputs}, data.y, data.columns)


def _values(shape: tuple[int, ...]) -> str:
    n = int(np.prod(shape))
    return f"{n} value{'s' if n != 1 else ''} (shape {shape})"


def _csv_rows(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, data rows and each row's line number; rows all have the header's width.
    The file is read as text cells (several times its size in memory), so one larger than
    1/``CSV_MEMORY_FACTOR`` of physical memory is refused before reading."""
    memory = physical_memory()
    size = path.stat().st_size
    if memory is not None and size * CSV_MEMORY_FACTOR > memory:
        raise DataError(f"{path} is {size:,} bytes; reading a CSV takes about "
                        f"{CSV_MEMORY_FACTOR}x its size in memory, more than this machine's "
                        f"{memory:,} bytes. Convert it to .npz (np.savez) or .npy, which "
                        "load at their own size")
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header: list[str] | None = None
            rows: list[list[str]] = []
            lines: list[int] = []
            for row in reader:
                if not row or all(not cell.strip() for cell in row):
                    continue  # blank line
                if header is None:
                    header = [cell.strip() for cell in row]
                    _check_header(path, header, reader.line_num)
                    continue
                if len(row) != len(header):
                    raise DataError(f"{path}, line {reader.line_num}: {len(row)} fields but "
                                    f"the header has {len(header)}")
                rows.append(row)
                lines.append(reader.line_num)
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not a UTF-8 text CSV file: {e}") from None
    except csv.Error as e:
        raise DataError(f"{path}: malformed CSV: {e}") from None
    if header is None:
        raise DataError(f"{path} is empty; expected a header row and numeric rows")
    if not rows:
        raise DataError(f"{path} has a header row but no data rows")
    return header, rows, lines


def _check_header(path: Path, header: list[str], line: int) -> None:
    if all(_is_number(cell) for cell in header):
        shown = ", ".join(header[:4]) + (", ..." if len(header) > 4 else "")
        raise DataError(f"{path}, line {line}: expected a header row naming the columns, "
                        f"found numbers ({shown}); add a header row")
    for i, name in enumerate(header):
        if not name:
            raise DataError(f"{path}, line {line}: column {i + 1} of the header has no name")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _numeric(path: Path, header: list[str], rows: list[list[str]], lines: list[int]) -> Array:
    """The table as float64, one column at a time so a bad cell is found and named."""
    cells = np.char.strip(np.array(rows, dtype=str))
    out = np.empty(cells.shape, dtype=np.float64)
    for j, name in enumerate(header):
        try:
            out[:, j] = cells[:, j].astype(np.float64)
        except ValueError:  # find the culprit, accepting whatever Python's float() does
            for i, cell in enumerate(cells[:, j]):
                try:
                    out[i, j] = float(cell)
                except ValueError:
                    what = "is empty" if not cell else f"is {short(str(cell))}, not a number"
                    raise DataError(
                        f"{path}, line {lines[i]}, column {short(name)}: the value {what}. unidl "
                        "reads numeric columns only: encode categories as numbers and fill "
                        "or drop missing values first") from None
    return out


def check_output(path: str | Path) -> Path:
    """Fail early, before any work, on an output file type that cannot be written."""
    path = Path(path)
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise DataError(f"{path}: unsupported output type {path.suffix or '(none)'!r}; "
                        "use .npy, .npz or .csv")
    if path.is_dir():
        raise DataError(f"{path} is a directory; give a file name ending in .npy, .npz "
                        "or .csv")
    return path


def _named_outputs(y_pred: object, names: Sequence[str] = ()) -> dict[str, Array]:
    """One array per output: a single output is ``y_pred``; several are keyed by their
    ``names`` (else ``y_pred_0``, ``y_pred_1``, ...)."""
    if isinstance(y_pred, dict):
        return {str(k): np.asarray(v) for k, v in y_pred.items()}
    if isinstance(y_pred, (tuple, list)):
        keys = list(names) if len(names) == len(y_pred) else [
            f"{PREDICTIONS_KEY}_{i}" for i in range(len(y_pred))]
        return {k: np.asarray(v) for k, v in zip(keys, y_pred, strict=True)}
    return {PREDICTIONS_KEY: np.asarray(y_pred)}


def describe(y_pred: object, names: Sequence[str] = ()) -> str:
    """``"shape (150, 3)"``, or each output's shape for a multi-output model."""
    outputs = _named_outputs(y_pred, names)
    if list(outputs) == [PREDICTIONS_KEY]:
        return f"shape {outputs[PREDICTIONS_KEY].shape}"
    return "outputs " + ", ".join(f"{k} {v.shape}" for k, v in outputs.items())


def write_predictions(path: str | Path, y_pred: object, names: Sequence[str] = ()) -> Path:
    """Write model outputs to ``path`` (type from its suffix), atomically; ``names`` are
    the model's output names, the keys of an .npz of several outputs."""
    path = check_output(path)
    suffix = path.suffix.lower()
    outputs = _named_outputs(y_pred, names)
    if suffix != ".npz" and len(outputs) != 1:
        raise DataError(f"the model has {len(outputs)} outputs ({', '.join(outputs)}); write "
                        "them to an .npz file, which holds one array per output")
    single = next(iter(outputs.values()))
    if suffix == ".csv" and single.ndim > 2:
        raise DataError(f"predictions have shape {single.shape}; a CSV holds one row per "
                        "sample, so write them to .npy or .npz instead")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = create_temp(path)  # mode 0o666 less the umask, like any written file
    try:
        with os.fdopen(fd, "wb") as f:
            if suffix == ".npy":
                np.save(f, single)
            elif suffix == ".npz":
                np.savez(f, **outputs)  # type: ignore[arg-type]
            else:
                _write_csv(f, single)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _write_csv(f: Any, y_pred: Array) -> None:
    table = y_pred.reshape(len(y_pred), -1)
    names = ([PREDICTIONS_KEY] if y_pred.ndim == 1 or table.shape[1] == 1 else
             [f"{PREDICTIONS_KEY}_{j}" for j in range(table.shape[1])])
    np.savetxt(f, table, fmt="%.8g", delimiter=",", header=",".join(names), comments="")
