"""The portable format on every backend: round trip, atomic writes, corruption, no pickle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import unidl

from .helpers import mlp


@pytest.fixture
def trained(backend: str, digits: Any) -> unidl.Model:
    x, y, xt, yt = digits
    return unidl.fit(mlp(), (x, y), backend=backend, loss="sparse_categorical_crossentropy",
                     metrics=["accuracy"], optimizer=unidl.SGD(lr=0.1, momentum=0.9), epochs=2,
                     seed=0, verbose=0, validation_data=(xt, yt))


def test_save_load_round_trip(trained: unidl.Model, digits: Any, tmp_path: Path) -> None:
    _, _, xt, yt = digits
    path = trained.save(tmp_path / "digits")
    files = {"meta.json", "spec.json", "weights.safetensors"}
    if "optimizer_state" in trained.backend.capabilities.features:
        files.add("optimizer.safetensors")
    assert {p.name for p in path.iterdir()} == files
    back = unidl.load(path)
    assert back.backend_name == trained.backend_name and back.spec == trained.spec
    np.testing.assert_array_equal(back.predict(xt), trained.predict(xt))
    assert back.evaluate((xt, yt)) == trained.evaluate((xt, yt))
    assert back.history == trained.history and back.epochs_trained == 2
    assert back.optimizer == unidl.SGD(lr=0.1, momentum=0.9)
    meta = json.loads((path / "meta.json").read_text())
    assert meta["format_version"] == 2 and meta["backend"] == trained.backend_name
    back.fit((xt, yt), epochs=1, verbose=0)  # a loaded model keeps training
    assert back.epochs_trained == 3


def test_save_overwrites_atomically_and_leaves_no_temp(trained: unidl.Model,
                                                       tmp_path: Path) -> None:
    path = tmp_path / "m"
    trained.save(path)
    trained.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.unidl-lock", "m"]


def test_a_failed_save_keeps_the_previous_save(trained: unidl.Model, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = trained.save(tmp_path / "m")
    before = (path / "weights.safetensors").read_bytes()

    def boom(*a: Any, **k: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("safetensors.numpy.save_file", boom)
    with pytest.raises(OSError, match="disk full"):
        trained.save(path)
    assert (path / "weights.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.unidl-lock", "m"]
    unidl.load(path)


def test_a_crash_between_the_two_renames_is_recovered(trained: unidl.Model,
                                                      tmp_path: Path) -> None:
    path = trained.save(tmp_path / "m")
    path.rename(tmp_path / ".m.unidl-backup")  # as if the process died mid-swap
    assert unidl.load(path).spec == trained.spec  # a load reads the backup, changing nothing
    assert not path.exists()
    trained.save(path)  # the next save restores the backup before replacing it
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.unidl-lock", "m"]
    assert unidl.load(path).spec == trained.spec


def test_refuses_to_overwrite_something_that_is_not_a_model(trained: unidl.Model,
                                                            tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("keep me")
    with pytest.raises(unidl.ModelFormatError, match="not a unidl model directory"):
        trained.save(tmp_path / "notes")
    assert (tmp_path / "notes" / "a.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes"]


def test_load_errors(trained: unidl.Model, tmp_path: Path, backend: str) -> None:
    with pytest.raises(unidl.ModelFormatError, match="does not exist"):
        unidl.load(tmp_path / "nothing", backend=backend)
    assert list(tmp_path.iterdir()) == []  # not even a lock file
    path = trained.save(tmp_path / "m")
    raw = bytearray((path / "weights.safetensors").read_bytes())
    raw[-1] ^= 0xFF
    (path / "weights.safetensors").write_bytes(bytes(raw))
    with pytest.raises(unidl.ModelFormatError, match=r"SHA-256"):
        unidl.load(path, backend=backend)
    (path / "spec.json").unlink()
    with pytest.raises(unidl.ModelFormatError, match=r"missing spec\.json"):
        unidl.load(path, backend=backend)


def test_newer_format_asks_to_upgrade(trained: unidl.Model, tmp_path: Path) -> None:
    path = trained.save(tmp_path / "m")
    meta = json.loads((path / "meta.json").read_text())
    meta["format_version"] = 99
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(unidl.ModelFormatError, match="Upgrade unidl"):
        unidl.load(path)


def test_an_untrained_model_saves_without_training_config(backend: str, tmp_path: Path) -> None:
    model = unidl.build(mlp(), backend=backend, seed=3)
    back = unidl.load(model.save(tmp_path / "m"), backend=backend)
    assert back.loss is None and back.seed == 3
    for k, v in model.get_weights().items():
        np.testing.assert_array_equal(back.get_weights()[k], v)


def test_native_export(trained: unidl.Model, tmp_path: Path) -> None:
    fmt = trained.backend.native_formats[0]
    out = trained.export(tmp_path / "native" / f"model.{fmt}")
    assert out.exists() and out.stat().st_size > 0
