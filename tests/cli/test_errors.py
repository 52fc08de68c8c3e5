"""Every failure of the ``unidl`` command is one ``error: ...`` line with the right exit
status: spec file errors name the file, line and field; data, file, backend and usage
errors; Ctrl-C; and the console script runs without importing a framework."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

import unidl
from unidl import registry
from unidl.cli.locate import path_chain
from unidl.spec import from_dict

from .support import Files, Run

# -- errors: spec files point at the line ------------------------------------------------
SPEC_ERRORS = {
    "unknown_layer": ("""\
        layers:
        - class: Input
          shape: [4]
        - class: Dense
          units: 8
        - class: Dnse
          units: 3
        """, 6, "spec.layers[2].class: unknown layer 'Dnse'. Did you mean 'Dense'?"),
    "bad_value": ("""\
        layers:
        - {class: Input, shape: [4]}
        - class: Dense
          activation: relu
          units: -8
        """, 5, "spec.layers[1]: Dense.units: must be a positive integer, got -8"),
    "unknown_argument": ("""\
        layers:
        - {class: Input, shape: [4]}
        - class: Dense
          unts: 8
        """, 4, "unknown Dense key 'unts'. Did you mean 'units'?"),
    "bad_optimizer": ("""\
        model:
          layers:
          - {class: Input, shape: [4]}
          - {class: Dense, units: 3}
        training:
          loss: mse
          optimizer:
            class: Adam
            lr: -1
        """, 9, "Adam.lr: must be > 0"),
    "unknown_training_key": ("""\
        model:
          layers: [{class: Input, shape: [4]}, {class: Dense, units: 3}]
        training:
          loss: mse
          epoch: 3
        """, 5, "unknown training setting 'epoch'. Did you mean 'epochs'?"),
    "unknown_top_level_key": ("""\
        model:
          layers: [{class: Input, shape: [4]}, {class: Dense, units: 3}]
        trainig:
          loss: mse
        """, 3, "unknown top-level key 'trainig'. Did you mean 'training'?"),
    "unknown_metric": ("""\
        model:
          layers: [{class: Input, shape: [4]}, {class: Dense, units: 3}]
        training:
          loss: mse
          metrics:
          - mae
          - rmsee
        """, 7, "metrics[1]: unknown metric 'rmsee'. Did you mean 'rmse'?"),
    "yaml_syntax": ("""\
        layers:
        - class: Input
          shape: [4
        - class: Dense
        """, 4, "invalid YAML"),
    "duplicate_key": ("""\
        layers:
        - {class: Input, shape: [4]}
        - class: Dense
          units: 8
          units: 3
        """, 5, "duplicate key 'units' (first on line 4)"),
    "empty": ("", 1, "the file is empty"),
}


@pytest.mark.parametrize("case", sorted(SPEC_ERRORS))
def test_spec_file_errors_name_the_file_line_and_field(case: str, files: Files,
                                                       tmp_path: Path, run: Run) -> None:
    text, line, message = SPEC_ERRORS[case]
    spec = tmp_path / "model.yaml"
    spec.write_text(textwrap.dedent(text))
    code, stdout, err = run("fit", spec, "--data", files.iris_npz, "--out", tmp_path / "m")
    assert code == 1 and stdout == ""
    assert err.startswith(f"error: {spec}:{line}:") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "m").exists()


def test_json_spec_errors_have_lines_too(tmp_path: Path, run: Run) -> None:
    spec = tmp_path / "model.json"
    spec.write_text('{\n  "layers": [\n    {"class": "Input", "shape": [4]},\n'
                    '    {"class": "Dense", "units": 0}\n  ]\n}\n')
    code, _, err = run("summary", spec)
    assert code == 1 and f"{spec}:4: spec.layers[1]: Dense.units" in err
    spec.write_text('{"layers": [\n  {"class": "Input",}\n]}')
    code, _, err = run("summary", spec)
    assert code == 1 and f"{spec}:2:" in err and "invalid JSON" in err


def test_a_saved_model_directory_is_a_spec_file(saved: Callable[[str], Path], run: Run) -> None:
    path = saved(registry.backend_names()[0])
    code, stdout, _ = run("summary", path)
    assert code == 0 and "loss sparse_categorical_crossentropy" in stdout


def test_path_chain_follows_each_field_path_of_a_message() -> None:
    assert path_chain("spec.layers[2].class: unknown layer") == [["layers", 2, "class"]]
    assert path_chain("spec.layers[1]: Dense.units: must be") == [["layers", 1], ["units"]]
    assert path_chain("Sequential.layers[3] (conv2d): Conv2D: expects") == [
        ["layers", 3], []]
    assert path_chain("spec.layers[1]: Dense.__init__() got an unexpected keyword argument "
                      "'unts'") == [["layers", 1], ["unts"]]
    assert path_chain("must be > 0, got -1") == []


# -- errors: data, files, backends, usage --------------------------------------------------
def test_a_non_numeric_csv_column_names_the_column_and_line(files: Files, tmp_path: Path,
                                                            run: Run) -> None:
    data = tmp_path / "bad.csv"
    data.write_text("a,b,c,d,species\n1,2,3,4,0\n5,6,7,8,setosa\n")
    code, _, err = run("fit", files.iris_spec, "--data", data, "--out", tmp_path / "m")
    assert code == 1
    assert f"error: {data}, line 3, column 'species': the value is 'setosa'" in err
    data.write_text("1,2,3,4,0\n5,6,7,8,1\n")
    code, _, err = run("fit", files.iris_spec, "--data", data, "--out", tmp_path / "m")
    assert code == 1 and "expected a header row" in err


def test_data_file_errors(files: Files, tmp_path: Path, run: Run) -> None:
    code, _, err = run("fit", files.iris_spec, "--data", files.iris_npz, "--y-key", "yy",
                       "--out", tmp_path / "m")
    assert code == 1 and "has no array 'yy'. Did you mean 'y'? It holds: x, y" in err
    code, _, err = run("fit", files.iris_spec, "--data", files.iris_csv, "--target", "specie",
                       "--out", tmp_path / "m")
    assert code == 1 and "no column 'specie'. Did you mean 'species'?" in err
    code, _, err = run("fit", files.iris_spec, "--data", tmp_path / "x.parquet",
                       "--out", tmp_path / "m")
    assert code == 1 and "unsupported data file type '.parquet'" in err


def test_missing_files(files: Files, tmp_path: Path, run: Run) -> None:
    code, _, err = run("fit", tmp_path / "nope.yaml", "--data", files.iris_npz,
                       "--out", tmp_path / "m")
    assert (code, err) == (1, f"error: no such file or directory: {tmp_path / 'nope.yaml'}\n")
    code, _, err = run("fit", files.iris_spec, "--data", tmp_path / "nope.npz",
                       "--out", tmp_path / "m")
    assert (code, err) == (1, f"error: no such file or directory: {tmp_path / 'nope.npz'}\n")
    code, _, err = run("evaluate", tmp_path / "nomodel", "--data", files.iris_npz)
    assert code == 1 and "no saved model at" in err


def test_missing_loss_is_a_clear_error(files: Files, tmp_path: Path, run: Run) -> None:
    spec = tmp_path / "bare.yaml"
    spec.write_text(from_dict(
        {"layers": [{"class": "Input", "shape": [4]}, {"class": "Dense", "units": 3}]}
    ).to_yaml())
    code, _, err = run("fit", spec, "--data", files.iris_npz, "--out", tmp_path / "m")
    assert code == 1 and err.startswith("error: loss: no loss given")
    assert "--loss NAME" in err and "sparse_categorical_crossentropy" in err


def test_unknown_backend(files: Files, tmp_path: Path, run: Run) -> None:
    code, _, err = run("fit", files.iris_spec, "--data", files.iris_npz, "--backend", "nope",
                       "--out", tmp_path / "m")
    assert code == 1 and "no unidl backend named 'nope'; installed backends:" in err
    assert not (tmp_path / "m").exists()


def test_fit_needs_a_backend_when_several_are_installed(
        files: Files, tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    if len(registry.backend_names()) < 2:
        pytest.skip("one backend installed: it is the default")
    monkeypatch.delenv("UNIDL_BACKEND", raising=False)
    code, _, err = run("fit", files.iris_spec, "--data", files.iris_npz,
                       "--out", tmp_path / "m")
    assert code == 1 and "no backend given: pass --backend NAME or set UNIDL_BACKEND" in err


def test_out_must_not_clobber_something_else(files: Files, tmp_path: Path, run: Run) -> None:
    (tmp_path / "notes").mkdir()
    code, _, err = run("fit", files.iris_spec, "--data", files.iris_npz,
                       "--out", tmp_path / "notes")
    assert code == 1 and "is not a unidl model directory; refusing" in err
    code, _, err = run("predict", tmp_path / "m", "--data", files.iris_npz,
                       "--out", tmp_path / "p.txt")
    assert code == 1 and "unsupported output type '.txt'" in err


def test_usage_errors_exit_2(files: Files, run: Run) -> None:
    assert run()[0] == 2
    code, _, err = run("fit", files.iris_spec)
    assert code == 2 and "the following arguments are required: --data, --out" in err
    code, _, err = run("fit", files.iris_spec, "--data", "d.npz", "--out", "m", "--epochs",
                       "-1")
    assert code == 2 and "--epochs: must be >= 0" in err
    code, stdout, _ = run("fit", "--help")
    assert code == 0 and "exit status:" in stdout and "training:" in stdout


def test_ctrl_c_exits_130(files: Files, run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr("unidl.cli.commands.summary", interrupted)
    code, _, err = run("summary", files.iris_spec)
    assert code == 130 and "interrupted" in err


def test_console_script_and_module_run_without_importing_a_framework(files: Files) -> None:
    script = Path(sys.executable).parent / "unidl"
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "usage: unidl" in done.stdout
    assert "exit status:" in done.stdout
    check = ("import sys; from unidl.cli import main; code = main(['summary', sys.argv[1]]); "
             "assert code == 0; loaded = {'torch', 'tensorflow', 'keras'} & set(sys.modules); "
             "assert not loaded, loaded")
    done = subprocess.run([sys.executable, "-c", check, str(files.iris_spec)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([sys.executable, "-m", "unidl", "--version"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == f"unidl {unidl.__version__}"
