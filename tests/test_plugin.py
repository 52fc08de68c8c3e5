"""unidl's pytest plugin as a third-party library sees it: run in a separate pytest."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import GOOD, Plugin

USER_TESTS = '''
import pytest

def test_runs_on_each_backend(backend):
    assert isinstance(backend, str)

@pytest.mark.unidl_requires(layers=["Conv2D"], losses=["mse"])
def test_needs_convolutions(backend):
    pass

def test_known_bad(backend):
    assert backend != "fake"

@pytest.mark.parametrize("backend", ["chosen"])
def test_explicit_parametrize_wins(backend):
    assert backend == "chosen"

def test_pairs(backend_pair):
    a, b = backend_pair
    assert a != b
'''

FAKE = GOOD + '''
    expected_failures = {{"test_known_bad": "documented limitation"}}
'''


@pytest.fixture
def run(plugin: Plugin, pytester: pytest.Pytester, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    plugin("unidl-fake", "fake", FAKE)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    pytester.makepyfile(test_user=USER_TESTS)
    return pytester


def test_selected_backend_capabilities_and_expected_failures(run: pytest.Pytester) -> None:
    result = run.runpytest_subprocess("--unidl-backend", "fake", "-rsx", "-v")
    result.assert_outcomes(passed=2, skipped=2, xfailed=1)
    for line in ("*unidl backends: fake (unidl-fake 1.0)*",
                 "*test_runs_on_each_backend?fake? PASSED*",
                 "*backend 'fake' does not declare layers Conv2D*",
                 "*XFAIL*test_known_bad?fake?*fake: documented limitation*",
                 "*needs two unidl backends, installed: fake*"):
        result.stdout.fnmatch_lines([line])


def test_every_installed_backend_by_default(run: pytest.Pytester) -> None:
    result = run.runpytest_subprocess("-v", "-k", "runs_on_each")
    result.stdout.fnmatch_lines(["*test_runs_on_each_backend?fake? PASSED*"])
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] >= 2  # fake plus the backends of this environment


def test_unknown_backend_is_a_usage_error(run: pytest.Pytester) -> None:
    result = run.runpytest_subprocess("--unidl-backend", "nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--unidl-backend nope: not installed*fake*"])


@pytest.mark.parametrize("how", ["-p", "pytest_plugins", "-p without autoload"])
def test_the_plugin_loads_whichever_documented_way(run: pytest.Pytester, how: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``pytest11`` entry point loads the plugin; naming it again (``-p``, as the pytest
    docs teach, or ``pytest_plugins`` in a conftest) registers it once, not twice."""
    args = ["--unidl-backend", "fake", "-k", "runs_on_each"]
    if how == "pytest_plugins":
        run.makeconftest('pytest_plugins = ["unidl.testing.plugin"]\n')
    else:
        args = ["-p", "unidl.testing.plugin", *args]
    if how == "-p without autoload":  # entry points off: -p is the only way in
        monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = run.runpytest_subprocess(*args)
    assert "already registered" not in result.stderr.str() + result.stdout.str()
    result.assert_outcomes(passed=1)
