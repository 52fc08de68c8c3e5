"""Hostile input files for the ``unidl`` command: each is one ``error: ...`` line and a
non-zero exit status, never a traceback, and is refused before the expensive work (issue 14,
part A). The property tests at the end feed generated spec files, CSVs and NPY/NPZ files to
the readers: each reads or raises a ``UnidlError``."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unidl.cli import datafiles
from unidl.cli.datafiles import read_data
from unidl.cli.specfile import read_spec_file
from unidl.errors import UnidlError

from ..spec_documents import spec_texts
from .support import Files, Run

GOOD_MODEL = "model:\n  layers:\n  - {class: Input, shape: [4]}\n  - {class: Dense, units: 3}\n"


def _one_error_line(code: int, err: str, expected: str) -> None:
    assert code == 1, err
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("error: ")
    assert expected in err, err


def _laughs(levels: int) -> str:
    lines = ["l0: &l0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\nlayers: [{class: Input, shape: [4]}, {class: Dense, units: 2}]\n"


# -- spec files ------------------------------------------------------------------------------
SPEC_FILES: dict[str, tuple[bytes, str]] = {
    "not_utf8.yaml": (b"layers:\n- {class: Input, shape: [4]}\n- {class: Dense, units: \xff}\n",
                      ":3: is not UTF-8 text"),
    "deep.json": (b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
    "deep.yaml": (b"layers: " + b"[" * 100 + b"]" * 100 + b"\n", "nest"),
    "deep_mapping.yaml": (b"{a: " * 200 + b"1" + b"}" * 200, "nest"),
    "metrics_5.yaml": (GOOD_MODEL.encode() + b"training:\n  loss: mse\n  metrics: 5\n",
                       ":7: metrics: must be a metric name or a list of metric names"),
    "unused_anchors.yaml": (_laughs(6).encode(), "expands to more than 200,000 values"),
    "self_alias.yaml": (b"layers: &l [*l]\n", "contains itself"),
    "use_bias_text.yaml": (b"layers:\n- {class: Input, shape: [4]}\n"
                           b"- {class: Dense, units: 2, use_bias: 'false'}\n",
                           ":3: spec.layers[1]: Dense.use_bias: must be true or false"),
    "unknown_top_key.yaml": (b"layers:\n- {class: Input, shape: [4]}\nlayerz: []\n",
                             "unknown Sequential spec key 'layerz'. Did you mean 'layers'?"),
    "bad_name.yaml": (b"name: my model\nlayers:\n- {class: Input, shape: [4]}\n",
                      "spec.name: must be a name of 1-64"),
    "huge_units.yaml": (b"layers:\n- {class: Input, shape: [8]}\n- {class: Dense, units: "
                        b"1000000000000}\n", "parameters would take 32.7 TiB"),
    "huge_int.json": (b'{"layers": [{"class": "Input", "shape": [' + b"9" * 5000 + b"]}]}",
                      "invalid JSON"),
    "lr_inf.yaml": (GOOD_MODEL.encode() + b"training:\n  loss: mse\n  optimizer: {class: Adam, "
                    b"lr: .inf}\n", "Adam.lr: must be a finite number"),
    "timestamp.yaml": (b"layers: 2001-13-45\n", "invalid YAML"),
}


@pytest.mark.parametrize("name", sorted(SPEC_FILES))
def test_hostile_spec_files_are_one_error_line(name: str, tmp_path: Path, run: Run) -> None:
    content, expected = SPEC_FILES[name]
    path = tmp_path / name
    path.write_bytes(content)
    _one_error_line(*run("summary", path)[::2], expected)


def test_an_oversized_spec_file_is_refused_before_reading(tmp_path: Path, run: Run) -> None:
    path = tmp_path / "big.yaml"
    with path.open("wb") as f:  # sparse: 3 GiB declared, nothing written
        f.truncate(3 * 2**30)
    _one_error_line(*run("summary", path)[::2], "the document is 3.0 GiB, more than the 2.0 MiB")


# -- data files --------------------------------------------------------------------------------
def _npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": descr, "fortran_order": False,
                                               "shape": shape})
    return out.getvalue()


def _fit(run: Run, files: Files, data: Path, out: Path) -> tuple[int, str]:
    code, _, err = run("fit", files.iris_spec, "--data", data, "--backend", "torch", "--out",
                       out, "--quiet")
    return code, err


def test_an_npz_whose_header_declares_more_than_it_holds_is_refused(
        files: Files, tmp_path: Path, run: Run) -> None:
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:  # 3.2 TB declared, 1 MB held
        z.writestr("x.npy", _npy_header((10**11, 4)) + b"\0" * 10**6)
        z.writestr("y.npy", _npy_header((10**11,)))
    code, err = _fit(run, files, bomb, tmp_path / "m")
    _one_error_line(code, err, "array 'x': its header declares 3,200,000,000,000 bytes of data "
                               "but the file holds 1,000,000")


def test_an_npz_member_inflating_beyond_memory_is_refused(
        files: Files, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run: Run) -> None:
    path = tmp_path / "zeros.npz"
    np.savez_compressed(path, x=np.zeros((2**17, 4)), y=np.zeros(2**17))  # 4 MiB inflated
    monkeypatch.setattr(datafiles, "physical_memory", lambda: 2**20)
    code, err = _fit(run, files, path, tmp_path / "m")
    _one_error_line(code, err, "array 'x' inflates to 4,194,432 bytes, more than this "
                               "machine's 1,048,576 bytes of memory")


def test_an_npy_whose_header_declares_more_than_it_holds_is_refused(tmp_path: Path,
                                                                    run: Run) -> None:
    path = tmp_path / "x.npy"
    path.write_bytes(_npy_header((10**12, 4)) + b"\0" * 64)
    with pytest.raises(UnidlError, match="declares 32,000,000,000,000 bytes of data but the "
                                         "file holds 64"):
        read_data(path, need_y=False)


def test_an_npy_of_python_objects_is_refused_without_unpickling(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    path.write_bytes(_npy_header((2,), "|O") + b"\x80\x04N.")
    with pytest.raises(UnidlError, match="holds Python objects"):
        read_data(path, need_y=False)


def test_a_csv_too_large_for_memory_is_refused_before_reading(
        files: Files, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run: Run) -> None:
    monkeypatch.setattr(datafiles, "physical_memory", lambda: 4096)
    code, err = _fit(run, files, files.iris_csv, tmp_path / "m")
    _one_error_line(code, err, "reading a CSV takes about 16x its size in memory")


def test_a_csv_value_beyond_float32_is_refused(files: Files, tmp_path: Path, run: Run) -> None:
    path = tmp_path / "big.csv"
    rows = [",".join(map(str, [*r, int(c)])) for r, c in zip(files.x, files.y, strict=True)]
    rows[5] = "5.1,3.5,1e39,0.2,0"
    path.write_text("sepal_l,sepal_w,petal_l,petal_w,species\n" + "\n".join(rows) + "\n")
    code, err = _fit(run, files, path, tmp_path / "m")
    _one_error_line(code, err, "holds 1e+39, beyond the float32 range")


@pytest.mark.parametrize("lr", ["inf", "nan", "-inf", "1e999"])
def test_a_non_finite_learning_rate_is_a_usage_error(files: Files, tmp_path: Path, lr: str,
                                                     run: Run) -> None:
    code, _, err = run("fit", files.iris_spec, "--data", files.iris_npz, f"--lr={lr}",
                       "--out", tmp_path / "m")
    assert code == 2 and "--lr: must be a finite number" in err and "Traceback" not in err


# -- properties: any file reads or raises a UnidlError -----------------------------------------
PROPERTY = settings(max_examples=40, deadline=3000, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


def _reads_or_unidl_error(read: Any, *args: Any, **kwargs: Any) -> None:
    try:
        read(*args, **kwargs)
    except UnidlError as e:
        assert len(str(e)) < 4000
    except Exception as e:  # the property is "nothing else"
        pytest.fail(f"{type(e).__name__} escaped: {str(e)[:300]}")


@PROPERTY
@given(text=st.one_of(spec_texts("yaml", training=True), spec_texts("json", training=True)),
       suffix=st.sampled_from([".yaml", ".json"]),
       encode=st.sampled_from(["utf-8", "utf-16", "latin-1"]))
def test_any_spec_file_reads_or_raises_a_unidl_error(tmp_path: Path, text: str, suffix: str,
                                                     encode: str) -> None:
    path = tmp_path / f"spec{suffix}"
    path.write_bytes(text.encode(encode, errors="replace"))

    def read() -> None:
        heads = read_spec_file(path)
        if heads.training.loss is not None:
            heads.heads()

    _reads_or_unidl_error(read)


CELLS = st.one_of(st.sampled_from(["1", "-2.5", "1e39", "nan", "inf", "", " ", "x", '"',
                                   "1,2", "\x00", "9" * 400, "0x10", "1_000"]),
                  st.floats().map(repr), st.text(max_size=5))


@PROPERTY
@given(header=st.lists(st.sampled_from(["a", "b", "y", "", "a,b", " c "]), min_size=0,
                       max_size=4),
       rows=st.lists(st.lists(CELLS, max_size=5), max_size=6),
       target=st.sampled_from([None, "y", "a,b", "nope"]), need_y=st.booleans())
def test_any_csv_reads_or_raises_a_unidl_error(tmp_path: Path, header: list[str],
                                               rows: list[list[str]], target: str | None,
                                               need_y: bool) -> None:
    path = tmp_path / "data.csv"
    path.write_text("\n".join(",".join(r) for r in [header, *rows]), errors="replace")
    _reads_or_unidl_error(read_data, path, need_y=need_y, target=target)


def _npz_bytes(arrays: dict[str, Any], compressed: bool) -> bytes:
    out = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(out, **arrays)
    return out.getvalue()


@PROPERTY
@given(kind=st.sampled_from([".npz", ".npy"]), compressed=st.booleans(),
       shape=st.lists(st.integers(0, 4), max_size=3), dtype=st.sampled_from(["<f8", "<i4", "|u1"]),
       edits=st.lists(st.tuples(st.integers(0, 600), st.integers(0, 255)), max_size=6),
       cut=st.one_of(st.none(), st.integers(0, 600)), keys=st.sampled_from(["x", "x,y", "q"]))
def test_any_npy_or_npz_reads_or_raises_a_unidl_error(
        tmp_path: Path, kind: str, compressed: bool, shape: list[int], dtype: str,
        edits: list[tuple[int, int]], cut: int | None, keys: str) -> None:
    array = np.zeros(shape, dtype=dtype)
    if kind == ".npz":
        raw = bytearray(_npz_bytes({"x": array, "y": array}, compressed))
    else:
        out = io.BytesIO()
        np.save(out, array)
        raw = bytearray(out.getvalue())
    for at, byte in edits:  # flip bytes anywhere: header, zip directory, data
        if raw:
            raw[at % len(raw)] = byte
    path = tmp_path / f"data{kind}"
    path.write_bytes(bytes(raw if cut is None else raw[:cut]))
    if kind == ".npz":
        _reads_or_unidl_error(read_data, path, need_y=True, x_key=keys)
    else:
        _reads_or_unidl_error(read_data, path, need_y=False)
