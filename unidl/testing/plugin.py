"""unidl's pytest plugin (registered through the ``pytest11`` entry point).

- ``backend`` fixture: every test that takes it runs once per installed backend (the test
  id shows which, e.g. ``test_fit[torch]``). ``--unidl-backend NAME`` (repeatable, or
  comma-separated) restricts the run; a test may also ``@pytest.mark.parametrize("backend",
  [...])`` itself, which takes precedence.
- ``backend_pair`` fixture: every ordered pair of distinct selected backends, for tests that
  compare backends; skipped with a reason when fewer than two are installed.

Importing this module is cheap: it reads entry-point metadata and never imports a framework.
"""

from __future__ import annotations

import itertools

import pytest

from ..registry import _entry_points, backend_names

__all__ = ["selected_backends"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("unidl")
    group.addoption(
        "--unidl-backend",
        action="append",
        default=[],
        metavar="NAME",
        help="run backend-parameterized tests only on NAME (repeatable or comma-separated); "
             "default: every installed unidl backend",
    )


def selected_backends(config: pytest.Config) -> list[str]:
    """Backends chosen with ``--unidl-backend``, or every installed one."""
    raw: list[str] = config.getoption("--unidl-backend") or []
    chosen = [n.strip().lower() for item in raw for n in item.split(",") if n.strip()]
    installed = backend_names()
    unknown = [n for n in chosen if n not in installed]
    if unknown:
        raise pytest.UsageError(
            f"--unidl-backend {', '.join(unknown)}: not installed; installed unidl backends: "
            f"{', '.join(installed) or 'none'}")
    return chosen or installed


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "unidl_backend_pair: the test compares two backends (needs two installed)")


def pytest_report_header(config: pytest.Config) -> str:
    eps = _entry_points()
    parts = []
    for name in selected_backends(config):
        dist = getattr(eps[name][0], "dist", None)
        parts.append(f"{name} ({dist.name} {dist.version})" if dist else name)
    return "unidl backends: " + (", ".join(parts) or "none installed")


def _explicitly_parametrized(metafunc: pytest.Metafunc, argname: str) -> bool:
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", "")
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        if argname in names:
            return True
    return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    names = selected_backends(metafunc.config)
    if "backend" in metafunc.fixturenames and not _explicitly_parametrized(metafunc, "backend"):
        if names:
            metafunc.parametrize("backend", names, ids=names, scope="session")
        else:
            metafunc.parametrize("backend", [pytest.param(
                None, marks=pytest.mark.skip(reason="no unidl backend installed"))])
    if "backend_pair" in metafunc.fixturenames:
        pairs = list(itertools.permutations(names, 2))
        if pairs:
            metafunc.parametrize("backend_pair", pairs, ids=[f"{a}->{b}" for a, b in pairs],
                                 scope="session")
        else:
            metafunc.parametrize("backend_pair", [pytest.param(None, marks=pytest.mark.skip(
                reason=f"needs two unidl backends, installed: {', '.join(names) or 'none'}"))])
