"""unidl's pytest plugin (registered through the ``pytest11`` entry point).

- ``backend`` fixture: every test that takes it runs once per installed backend (the test
  id shows which, e.g. ``test_fit[torch]``). ``--unidl-backend NAME`` (repeatable, or
  comma-separated) restricts the run; a test may also ``@pytest.mark.parametrize("backend",
  [...])`` itself, which takes precedence.
- ``backend_pair`` fixture: every ordered pair of distinct selected backends, for tests that
  compare backends; skipped with a reason when fewer than two are installed.
- ``@pytest.mark.unidl_requires(layers=[...], activations=[...], losses=[...],
  optimizers=[...], features=[...], device_kinds=[...])``: skip, with the reason, on a
  backend whose ``capabilities`` do not declare them.
- A backend object may carry ``expected_failures = {"test id substring": "reason"}``; the
  matching tests become strict xfails on that backend (an unexpected pass fails the run).

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
    selected_backends(config)  # an unknown --unidl-backend is a usage error, reported once
    config.addinivalue_line(
        "markers", "unidl_requires(**capabilities): skip on backends that do not declare the "
        "given layers, activations, losses, optimizers, features or device_kinds")


def _backend_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    name = callspec.params.get("backend") if callspec is not None else None
    return name if isinstance(name, str) else None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Apply capability requirements and a backend's declared expected failures.

    Runs at setup, not collection, so collecting never imports a framework.
    """
    name = _backend_of(item)
    if name is None or name not in backend_names():  # e.g. a test's own parametrize values
        return
    from ..registry import get_backend

    backend = get_backend(name)
    for mark in item.iter_markers("unidl_requires"):
        caps = backend.capabilities
        for field, wanted in mark.kwargs.items():
            declared = getattr(caps, field)
            missing = sorted(set(wanted) - set(declared))
            if missing:
                pytest.skip(f"backend {name!r} does not declare {field} {', '.join(missing)}")
    expected: dict[str, str] = dict(getattr(backend, "expected_failures", None) or {})
    for pattern, reason in expected.items():
        if pattern in item.nodeid:
            item.add_marker(pytest.mark.xfail(reason=f"{name}: {reason}", strict=True))


def pytest_report_header(config: pytest.Config) -> str:
    from .conformance import SUITE_VERSION

    eps = _entry_points()
    parts = []
    for name in selected_backends(config):
        dist = getattr(eps[name][0], "dist", None)
        parts.append(f"{name} ({dist.name} {dist.version})" if dist else name)
    return (f"unidl backends: {', '.join(parts) or 'none installed'}; "
            f"conformance suite {SUITE_VERSION}")


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
