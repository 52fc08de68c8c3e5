"""Progress output of fit, evaluate and predict (``unidl.training.progress``): the same
``verbose`` rules for all three, a bar only on a terminal wide enough to hold one, and
chunked inference that returns exactly what one call returns; ``plot_history``."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest

import unidl
from unidl.training import progress

X = np.random.default_rng(1).random((300, 4), dtype=np.float32)
Y = X @ np.arange(1, 5, dtype=np.float32)[:, None]
SPEC = unidl.Sequential([unidl.Input((4,)), unidl.Dense(8, activation="relu"),
                         unidl.Dense(1)])


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``terminal(columns)``: stdout claims to be a terminal that wide (0: no width)."""
    def make(columns: int) -> None:
        monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
        monkeypatch.setattr(progress, "terminal_columns", lambda: columns)
        monkeypatch.setattr(progress, "INFERENCE_BAR_DELAY", 0)
    return make


@pytest.fixture
def model(backend: str) -> unidl.Model:
    return unidl.fit(SPEC, (X, Y), backend=backend, loss="mse", epochs=1, seed=0, verbose=0)


def test_evaluate_and_predict_show_a_bar_on_a_terminal(
        model: unidl.Model, terminal: Any, capsys: pytest.CaptureFixture[str]) -> None:
    quiet_pred = model.predict(X, batch_size=4, verbose=0)
    quiet_eval = model.evaluate((X, Y), batch_size=4, verbose=0)
    assert capsys.readouterr() == ("", "")
    terminal(120)
    pred = model.predict(X, batch_size=4)
    np.testing.assert_array_equal(pred, quiet_pred)  # chunks of whole batches: same numbers
    assert model.evaluate((X, Y), batch_size=4) == quiet_eval
    err = capsys.readouterr().err
    assert "predict" in err and "evaluate" in err and "75/75" in err


def test_without_a_terminal_verbose_1_is_silent_and_2_is_one_line(
        model: unidl.Model, capsys: pytest.CaptureFixture[str]) -> None:
    model.predict(X, batch_size=4)
    assert capsys.readouterr() == ("", "")
    model.evaluate((X, Y), batch_size=100, verbose=2)
    assert capsys.readouterr().out == "evaluate: 300 samples in 3 batches\n"
    with pytest.raises(unidl.SpecError, match="verbose: must be 0"):
        model.predict(X, verbose=3)


def test_a_terminal_with_no_width_gets_plain_lines(
        model: unidl.Model, terminal: Any, capsys: pytest.CaptureFixture[str]) -> None:
    terminal(0)  # a pseudo-terminal with no size: a bar would be blank
    model.fit((X, Y), epochs=2, batch_size=32)
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert [line.split(" - ")[0] for line in lines] == ["Epoch 2/3", "Epoch 3/3"]
    assert "loss: " in lines[0] and err == ""
    model.predict(X, batch_size=4)
    assert capsys.readouterr() == ("", "")


def test_a_wide_terminal_gets_the_fit_bar(model: unidl.Model, terminal: Any,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    terminal(100)
    model.fit((X, Y), epochs=1, batch_size=32)
    assert "Epoch 2/2" in capsys.readouterr().err


def test_plot_history(model: unidl.Model, tmp_path: Any) -> None:
    try:
        import matplotlib
    except ImportError:
        with pytest.raises(unidl.MissingDependencyError,
                           match=r'pip install "unidl-core\[plot\]"'):
            model.plot_history()
        assert issubclass(unidl.MissingDependencyError, ImportError)
        return
    matplotlib.use("Agg")
    model.fit((X, Y), epochs=2, validation_split=0.2, verbose=0)
    fig = model.plot_history()
    assert [ax.get_title() for ax in fig.axes] == ["loss"]
    assert [line.get_label() for line in fig.axes[0].lines] == ["train", "validation"]
    fig.savefig(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 0
    with pytest.raises(unidl.SpecError, match="not in the history"):
        model.plot_history(["accuracy"])


def test_plot_history_needs_a_history(backend: str) -> None:
    with pytest.raises(unidl.SpecError, match="no training history"):
        unidl.build(SPEC, backend=backend, seed=0).plot_history()


@pytest.mark.parametrize("keys", [5, [], ["loss", 3], {"loss"}])
def test_plot_history_refuses_keys_that_are_not_history_names(model: unidl.Model,
                                                               keys: Any) -> None:
    with pytest.raises(unidl.SpecError, match="keys: must be a history key"):
        model.plot_history(keys)
