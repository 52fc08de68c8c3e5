"""Model directories as an attacker or a crash leaves them: bounded, specific, nothing lost.

File tests use the torch backend (they are about files, not backends); the round trips
under concurrency use every installed backend.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from safetensors.numpy import save_file

import unidl

from .helpers import mlp
from .model_dirs import (
    META,
    OPT,
    SPEC,
    WEIGHTS,
    mutate,
    mutations,
    read_header,
    reseal,
    write_safetensors,
)

pytest.importorskip("unidl_torch")


def _trained(optimizer: Any = None) -> unidl.Model:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 8)).astype("float32")
    y = rng.integers(0, 3, size=32)
    return unidl.fit(mlp(8, 3), (x, y), backend="torch", loss="sparse_categorical_crossentropy",
                     optimizer=optimizer or unidl.Adam(lr=0.01), epochs=1, seed=0, verbose=0)


@pytest.fixture(scope="module")
def model() -> unidl.Model:
    return _trained()


@pytest.fixture
def saved(model: unidl.Model, tmp_path: Path) -> Path:
    return model.save(tmp_path / "m")


def _edit_json(path: Path, name: str, edit: Callable[[Any], Any]) -> None:
    doc = json.loads((path / name).read_text())
    (path / name).write_text(json.dumps(edit(doc)))
    reseal(path)


def _load(path: Path) -> unidl.Model:
    return unidl.load(path, backend="torch")


# --- meta.json and spec.json: every malformed field is a ModelFormatError naming it -------

def _set(key: str, value: object) -> Callable[[Any], Any]:
    def edit(doc: Any) -> Any:
        doc[key] = value
        return doc
    return edit


def _drop(key: str) -> Callable[[Any], Any]:
    def edit(doc: Any) -> Any:
        del doc[key]
        return doc
    return edit


def _training(key: str, value: object) -> Callable[[Any], Any]:
    def edit(doc: Any) -> Any:
        doc["training"][key] = value
        return doc
    return edit


@pytest.mark.parametrize(("name", "edit", "field"), [
    (META, lambda d: [d], r"\(document\)"),
    (META, _drop("backend"), "backend"),
    (META, _set("backend", ["torch"]), "backend"),
    (META, _set("history", []), "history"),
    (META, _set("history", {"loss": [0.5, None]}), "history.'?loss"),
    (META, _set("history", {"loss": "0.5"}), "history.'?loss"),
    (META, _set("sha256", ["x"]), "sha256"),
    (META, _set("format_version", "2"), "format_version"),
    (META, _set("device", {"a": 1}), "device"),
    (SPEC, lambda d: [d], r"\(document\)"),
    (SPEC, _set("model", []), "model"),
    (SPEC, _set("seed", "0"), "seed"),
    (SPEC, _set("training", []), "training"),
    (SPEC, _training("epochs_trained", "3"), "training.epochs_trained"),
    (SPEC, _training("epochs_trained", -1), "training.epochs_trained"),
    (SPEC, _training("plateau", {"lr": 0.1, "bogus": 1}), "training.plateau"),
    (SPEC, _training("plateau", {"lr": "x"}), "training.plateau.lr"),
    (SPEC, lambda d: {**d, "training": {k: v for k, v in d["training"].items()
                                        if k != "loss"}}, "training.*'loss'"),
])
def test_a_malformed_field_is_named(saved: Path, name: str, edit: Callable[[Any], Any],
                                    field: str) -> None:
    _edit_json(saved, name, edit)
    with pytest.raises(unidl.ModelFormatError, match=rf"{name}.*{field}"):
        _load(saved)


@pytest.mark.parametrize("name", [META, SPEC])
def test_deep_nesting_is_refused_before_parsing(saved: Path, name: str) -> None:
    text = (saved / name).read_text()
    deep = "[" * 200_000 + "]" * 200_000
    (saved / name).write_text(text.replace('"history": {', f'"history": {{"x": {deep}, ', 1)
                              if name == META else text.replace('"seed"', f'"x": {deep}, "seed"'))
    reseal(saved) if name == SPEC else None
    with pytest.raises(unidl.ModelFormatError, match=f"{name}.*nested deeper"):
        _load(saved)


@pytest.mark.parametrize("name", [META, SPEC])
def test_an_oversized_document_is_refused_before_reading(saved: Path, name: str) -> None:
    with (saved / name).open("r+b") as f:
        f.truncate(100 * 2**20)  # a sparse hole: costs no disk, would cost memory to read
    with pytest.raises(unidl.ModelFormatError, match=f"{name} is .* more than"):
        _load(saved)


def test_meta_json_is_covered_by_its_own_checksum(saved: Path) -> None:
    meta = json.loads((saved / META).read_text())
    assert meta["format_version"] == 2 and len(meta["meta_sha256"]) == 64
    meta["history"] = {"loss": [0.0]}  # edited, checksum not updated
    (saved / META).write_text(json.dumps(meta))
    with pytest.raises(unidl.ModelFormatError, match=r"meta\.json is corrupted or was modified"):
        _load(saved)


def test_a_format_version_1_save_still_loads(model: unidl.Model, saved: Path) -> None:
    meta = json.loads((saved / META).read_text())
    del meta["meta_sha256"]
    meta["format_version"] = 1  # exactly what the first version wrote
    (saved / META).write_text(json.dumps(meta, indent=2))
    back = _load(saved)
    for k, v in model.get_weights().items():
        np.testing.assert_array_equal(back.get_weights()[k], v)


# --- safetensors: the header is bounded and checked before any tensor is read --------------

def test_a_declared_3gb_tensor_in_a_sparse_hole_is_refused_unread(saved: Path) -> None:
    header, data = read_header(saved / WEIGHTS)
    n = 3 * 2**30 // 4
    header["ghost/kernel"] = {"dtype": "F32", "shape": [n],
                              "data_offsets": [len(data), len(data) + 4 * n]}
    write_safetensors(saved / WEIGHTS, header, data, sparse_extra=4 * n)
    with pytest.raises(unidl.ModelFormatError, match="does not have: 'ghost/kernel'"):
        _load(saved)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda h, d: (h, d, 2**60), "header declares"),
    (lambda h, d: (h, d, 10**6), "header declares"),
    (lambda h, d: ({k: v for k, v in h.items() if k != "dense/bias"}, d, None), "lacks"),
    (lambda h, d: ({**h, "dense/kernel": {**h["dense/kernel"], "dtype": "I64"}}, d, None),
     "dtype"),
    (lambda h, d: ({**h, "dense/kernel": {**h["dense/kernel"], "dtype": "F64"}}, d, None),
     "dtype"),
    (lambda h, d: ({**h, "dense/kernel": {**h["dense/kernel"], "shape": [1, 1]}}, d, None),
     "shape"),
    (lambda h, d: ({**h, "dense/kernel": {**h["dense/kernel"], "data_offsets": [0, 4]}}, d,
                   None), "bytes"),
    (lambda h, d: (h, d + b"\0" * 64, None), "holds"),
    (lambda h, d: ([h], d, None), "not a JSON object"),
])
def test_a_header_that_does_not_match_the_spec_is_refused(
        saved: Path, edit: Callable[[Any, bytes], tuple[Any, bytes, int | None]],
        message: str) -> None:
    header, data = read_header(saved / WEIGHTS)
    if "dense/kernel" not in header:
        pytest.skip("the helper model names its layers differently")
    header, data, length = edit(header, data)
    write_safetensors(saved / WEIGHTS, header, data, length)
    reseal(saved)
    with pytest.raises(unidl.ModelFormatError, match=f"{WEIGHTS}.*{message}"):
        _load(saved)


def test_saved_nan_weights_are_refused_naming_the_tensor(saved: Path) -> None:
    from safetensors.numpy import load_file

    weights = load_file(str(saved / WEIGHTS))
    name = sorted(weights)[0]
    weights[name][...] = np.nan
    save_file(weights, str(saved / WEIGHTS))
    reseal(saved)
    with pytest.raises(unidl.ModelFormatError, match=f"{name}.*NaN or infinite"):
        _load(saved)


def test_saving_nan_weights_is_refused_and_keeps_the_previous_save(
        model: unidl.Model, saved: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    weights = model.get_weights()
    name = sorted(weights)[0]
    poisoned = {k: (np.full(v.shape, 1e300) if k == name else v)  # inf once float32
                for k, v in weights.items()}
    monkeypatch.setattr(model, "get_weights", lambda: poisoned)
    with pytest.raises(unidl.ModelFormatError, match=f"{name}.*NaN or infinite.*nothing was"):
        model.save(saved)
    _load(saved)


@pytest.mark.parametrize(("entry", "value", "message"), [
    ("step", -3.0, "step count"),
    ("step", 1.5, "step count"),
    ("/v", -1.0, "negative"),
    ("/m", np.nan, "NaN"),
])
def test_impossible_optimizer_state_is_refused(saved: Path, entry: str, value: float,
                                               message: str) -> None:
    from safetensors.numpy import load_file

    state = load_file(str(saved / OPT))
    name = next(k for k in sorted(state) if k == entry or k.endswith(entry))
    state[name] = np.full_like(state[name], value)
    save_file(state, str(saved / OPT))
    reseal(saved)
    with pytest.raises(unidl.ModelFormatError, match=f"{OPT}.*{message}"):
        _load(saved)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=mutations())
def test_any_mutated_model_directory_loads_or_raises_unidl_error(
        model: unidl.Model, edits: tuple[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = model.save(Path(tmp) / "m")
        mutate(path, *edits)
        with contextlib.suppress(unidl.UnidlError):  # anything else fails the test
            _load(path)


# --- saves: crash-safe under any sequence of kills, safe under concurrency ----------------

_COUNTED = ("rename", "unlink", "rmdir", "mkdir", "fsync", "replace")


def _save_args(model: unidl.Model, saved: Path) -> tuple[Any, ...]:
    """What ``model.save`` hands ``unidl.io.write_model_files``, taken from its save at
    ``saved``, so that a forked child can save without running the backend."""
    meta = json.loads((saved / META).read_text())
    return (json.loads((saved / SPEC).read_text()), model.get_weights(),
            model.optimizer_state(), {k: meta[k] for k in ("backend", "backend_version",
                                                            "device")}, meta["history"])


def _killed_save(args: tuple[Any, ...], path: Path, die_at: int) -> bool:
    """Save ``args`` (:func:`_save_args`) to ``path`` in a forked child that dies
    (``os._exit``, as SIGKILL would: no cleanup runs) at its ``die_at``-th file system
    step; True if it finished."""
    from unidl.io import write_model_files

    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        calls = [0]

        def counting(name: str) -> Callable[..., Any]:
            real = getattr(os, name)

            def step(*a: Any, **k: Any) -> Any:
                calls[0] += 1
                if calls[0] == die_at:
                    os._exit(3)
                return real(*a, **k)
            return step
        for name in _COUNTED:
            setattr(os, name, counting(name))
        try:
            write_model_files(path, *args)
        except BaseException:
            os._exit(4)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    assert code in (0, 3), f"the save failed instead of dying (exit {code})"
    return code == 0


def _crash_states(model: unidl.Model, root: Path) -> dict[str, Path]:
    """Directories as earlier kills leave them."""
    states = {}
    for state in ("clean", "backup only", "backup beside new", "stale temps"):
        path = model.save(root / state.replace(" ", "_") / "m")
        backup = path.with_name(".m.unidl-backup")
        if state == "backup only":
            path.rename(backup)
        elif state == "backup beside new":
            shutil.copytree(path, backup)
            (backup / WEIGHTS).unlink()  # half deleted
        elif state == "stale temps":
            (path.parent / ".m.unidl-tmp-0123abcd").mkdir()
            (path.parent / ".m.ab12cd34.tmp").mkdir()
        states[state] = path
    return states


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks a child to kill")
def test_a_kill_at_any_step_of_a_save_after_a_crash_leaves_a_loadable_model(
        model: unidl.Model, tmp_path: Path) -> None:
    trials = 0
    states = _crash_states(model, tmp_path)
    args = _save_args(model, states["clean"])
    for state, path in states.items():
        for die_at in range(1, 200):
            trial = tmp_path / f"{state}-{die_at}"
            shutil.copytree(path.parent, trial, symlinks=True)
            finished = _killed_save(args, trial / "m", die_at)
            _load(trial / "m")  # loadable after the kill, before anything repairs it
            assert _killed_save(args, trial / "m", 0)  # and the next save succeeds
            _load(trial / "m")
            assert sorted(p.name for p in trial.iterdir()) == [".m.unidl-lock", "m"], state
            shutil.rmtree(trial)
            trials += 1
            if finished:
                break
        else:
            raise AssertionError("a save took more than 200 steps")
    assert trials > 20


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="kills with SIGKILL")
def test_random_kills_of_two_writers_and_a_reader_leave_a_loadable_model(capsys: Any) -> None:
    from .fuzz import crash_saves

    assert crash_saves.main(trials=2, kills_per_trial=3) == 0, capsys.readouterr().out


def test_concurrent_saves_and_loads_of_one_directory(backend: str, tmp_path: Path) -> None:
    model = unidl.build(mlp(), backend=backend, seed=0)
    path = model.save(tmp_path / "m")
    errors: list[BaseException] = []

    def work(action: Callable[[], object]) -> None:
        try:
            for _ in range(8):
                action()
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(lambda: model.save(path),)),
               threading.Thread(target=work, args=(lambda: model.save(path),)),
               threading.Thread(target=work, args=(lambda: unidl.load(path, backend=backend),))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    unidl.load(path, backend=backend)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.unidl-lock", "m"]


def test_a_held_lock_times_out_with_a_specific_error(saved: Path, model: unidl.Model,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    fcntl = pytest.importorskip("fcntl")
    import unidl.io.lock

    monkeypatch.setattr(unidl.io.lock, "LOCK_TIMEOUT_S", 0.05)
    with (saved.parent / ".m.unidl-lock").open("a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        with pytest.raises(unidl.UnidlError, match="locked by another process"):
            model.save(saved)
        with pytest.raises(unidl.UnidlError, match="locked by another process"):
            _load(saved)
    _load(saved)


def test_a_symlinked_model_directory_stays_a_symlink(model: unidl.Model,
                                                     tmp_path: Path) -> None:
    real = model.save(tmp_path / "store" / "m")
    link = tmp_path / "m"
    link.symlink_to(real, target_is_directory=True)
    assert model.save(link) == link
    model.save(link)
    assert link.is_symlink() and (real / META).is_file()
    _load(link)


def test_saves_honour_the_umask(model: unidl.Model, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = model.save(tmp_path / "m")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o755
    for f in path.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o644, f.name


# --- ModelCheckpoint: templates checked up front, a failed save loses nothing -------------

@pytest.mark.parametrize(("template", "message"), [
    ("ckpt/{epcoh}", r"unknown placeholder \{epcoh\}.*known: epoch"),
    ("ckpt/{val_los:.3f}", r"unknown placeholder \{val_los\}"),
    ("ckpt/{}", "plain name"),
    ("ckpt/{epoch.real}", "plain name"),
    ("ckpt/{epoch:.3q}", "format spec"),
    ("ckpt/{loss:03d}", "format spec"),
    ("ckpt/{epoch", "not a valid path template"),
])
def test_a_bad_checkpoint_template_is_refused_when_made(template: str, message: str) -> None:
    with pytest.raises(unidl.SpecError, match=message):
        unidl.ModelCheckpoint(template)


def test_good_checkpoint_templates_are_accepted() -> None:
    for template in ("e{epoch:03d}", "{val_loss:.4f}", "{out_accuracy}", "{val_top_5_accuracy}",
                     "{lr:g}-{loss!r}"):
        unidl.ModelCheckpoint(template)


def test_a_failed_checkpoint_save_keeps_training_and_the_model(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    ckpt = unidl.ModelCheckpoint(tmp_path / "file" / "e{epoch}")
    missing_log = unidl.ModelCheckpoint(tmp_path / "e{val_loss:.3f}")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 8)).astype("float32"), rng.normal(size=(16, 1))
    with pytest.warns(RuntimeWarning) as warned:
        trained = unidl.fit(unidl.Sequential([unidl.Input((8,)), unidl.Dense(1)]), (x, y),
                            backend="torch", loss="mse", epochs=2, verbose=0,
                            callbacks=[ckpt, missing_log])
    assert trained.epochs_trained == 2
    assert sum("was not saved" in str(w.message) for w in warned) == 4
    assert [e for e, _ in ckpt.failed] == [1, 2] and ckpt.saved == []
    assert "val_loss" in missing_log.failed[0][1]


def test_a_users_directory_beside_a_backup_is_never_replaced(model: unidl.Model,
                                                             tmp_path: Path) -> None:
    path = model.save(tmp_path / "m")
    path.rename(tmp_path / ".m.unidl-backup")  # a killed save, then the user reused the name
    path.mkdir()
    (path / "notes.txt").write_text("keep me")
    with pytest.raises(unidl.ModelFormatError, match="not a unidl model directory"):
        model.save(path)
    assert (path / "notes.txt").read_text() == "keep me"
    assert (tmp_path / ".m.unidl-backup" / META).is_file()
