"""The reference pages name everything unidl defines, with the signatures the code has.

Each registry of names (layer kinds, losses, optimizers, activations, metrics, schedules,
callbacks) is read from the code at test time, so a name added to the code without its
documentation fails here. A documented signature (``unidl.Dense(units, activation=None,
...)`` in a code block under the ``## Dense`` heading) must list the same parameters, in
the same order, with the same defaults as the class. Imports unidl only: no framework.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import unidl
from unidl.metrics import _ALIASES as METRIC_ALIASES
from unidl.metrics import METRICS
from unidl.spec import ACTIVATION_KINDS, LAYER_KINDS, LOSS_KINDS, OPTIMIZER_KINDS
from unidl.training import callbacks as cb_module
from unidl.training.schedules import SCHEDULE_TYPES

# The built-in kinds, read from the registries (a user's kinds document themselves).
ACTIVATIONS = ACTIVATION_KINDS.builtins()
ACTIVATION_ALIASES = ACTIVATION_KINDS.aliases()
LAYER_TYPES = {kind: LAYER_KINDS[kind] for kind in LAYER_KINDS.builtins()}
LOSSES = LOSS_KINDS.builtins()
_LOSS_ALIASES = LOSS_KINDS.aliases()
OPTIMIZER_TYPES = {kind: OPTIMIZER_KINDS[kind] for kind in OPTIMIZER_KINDS.builtins()}

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference"

CALLBACK_CLASSES = {
    name: obj for name in cb_module.__all__
    if isinstance(obj := getattr(cb_module, name), type) and issubclass(obj, cb_module.Callback)
}
OPTIMIZER_CLASSES = {cls.kind: cls for cls in OPTIMIZER_TYPES.values()}


def _page(name: str) -> str:
    return (REFERENCE / name).read_text(encoding="utf-8")


def _sections(text: str) -> dict[str, str]:
    """``## Heading`` (backticks dropped) -> the text up to the next ``##`` heading."""
    parts = re.split(r"^## +(.+?) *$", text, flags=re.MULTILINE)
    return {heading.strip("`"): body for heading, body in zip(parts[1::2], parts[2::2],
                                                             strict=True)}


def _call_text(text: str, qualname: str) -> str | None:
    """The argument text of the first ``qualname(...)`` in ``text``, parentheses matched."""
    start = text.find(qualname + "(")
    if start < 0:
        return None
    i = start + len(qualname) + 1
    depth = 1
    for j in range(i, len(text)):
        depth += {"(": 1, ")": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j]
    return None


_REQUIRED = object()


def _documented(args: str) -> list[tuple[str, bool, Any]]:
    """``(name, keyword_only, default)`` of a documented argument list."""
    tree = ast.parse(f"def f({args}): pass").body[0]
    assert isinstance(tree, ast.FunctionDef)
    a = tree.args
    positional = a.args
    defaults = [_REQUIRED] * (len(positional) - len(a.defaults)) + [
        ast.literal_eval(d) for d in a.defaults]
    out = [(p.arg, False, d) for p, d in zip(positional, defaults, strict=True)]
    out += [(p.arg, True, _REQUIRED if d is None else ast.literal_eval(d))
            for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True)]
    return out


def _actual(cls: type) -> list[tuple[str, bool, Any]]:
    out = []
    for p in inspect.signature(cls).parameters.values():
        default = _REQUIRED if p.default is inspect.Parameter.empty else p.default
        out.append((p.name, p.kind is inspect.Parameter.KEYWORD_ONLY, default))
    return out


def _check_section(page: str, kind: str, cls: type) -> None:
    """``## kind`` in ``page`` shows ``unidl.kind(...)`` with ``cls``'s exact signature."""
    assert getattr(unidl, kind, None) is cls, f"unidl.{kind} is not exported"
    sections = _sections(_page(page))
    if kind not in sections:
        pytest.fail(f"docs/reference/{page} has no '## {kind}' section; add one for "
                    f"unidl.{kind}", pytrace=False)
    args = _call_text(sections[kind], f"unidl.{kind}")
    if args is None:
        pytest.fail(f"the '## {kind}' section of docs/reference/{page} does not show the "
                    f"signature unidl.{kind}(...)", pytrace=False)
    if _documented(args) != _actual(cls):
        pytest.fail(f"docs/reference/{page}: the documented signature unidl.{kind}({args}) "
                    f"differs from the code's {inspect.signature(cls)}", pytrace=False)


@pytest.mark.parametrize("kind", sorted(LAYER_TYPES))
def test_every_layer_kind_is_documented(kind: str) -> None:
    _check_section("layers.md", kind, LAYER_TYPES[kind])


@pytest.mark.parametrize("kind", sorted(OPTIMIZER_CLASSES))
def test_every_optimizer_is_documented(kind: str) -> None:
    _check_section("optimizers.md", kind, OPTIMIZER_CLASSES[kind])


@pytest.mark.parametrize("kind", sorted(SCHEDULE_TYPES))
def test_every_schedule_is_documented(kind: str) -> None:
    _check_section("schedules.md", kind, SCHEDULE_TYPES[kind])


@pytest.mark.parametrize("name", sorted(CALLBACK_CLASSES))
def test_every_callback_is_documented(name: str) -> None:
    _check_section("callbacks.md", name, CALLBACK_CLASSES[name])


def test_the_callback_registry_is_what_unidl_exports() -> None:
    exported = {n for n in unidl.__all__ if isinstance(getattr(unidl, n), type)
                and issubclass(getattr(unidl, n), cb_module.Callback)}
    assert exported == set(CALLBACK_CLASSES)


@pytest.mark.parametrize("name", LOSSES)
def test_every_loss_is_documented(name: str) -> None:
    assert name in _sections(_page("losses.md")), (
        f"docs/reference/losses.md has no '## {name}' section")


def test_the_loss_spec_and_aliases_are_documented() -> None:
    text = _page("losses.md")
    args = _call_text(text, "unidl.Loss")
    assert args is not None and _documented(args) == _actual(unidl.Loss)
    for alias in _LOSS_ALIASES:
        assert f"`{alias}`" in text, f"loss alias {alias!r} is not in docs/reference/losses.md"


@pytest.mark.parametrize("name", [*ACTIVATIONS, *ACTIVATION_ALIASES])
def test_every_activation_is_documented(name: str) -> None:
    assert f"`{name}`" in _page("activations.md") or f'`"{name}"`' in _page("activations.md")


@pytest.mark.parametrize("name", [*METRICS, *METRIC_ALIASES, "top_<k>_accuracy"])
def test_every_metric_name_is_documented(name: str) -> None:
    assert f"`{name}`" in _page("metrics.md"), (
        f"metric {name!r} is not in docs/reference/metrics.md")


def _nav_pages(nav: Any) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [p for item in nav for p in _nav_pages(item)]
    if isinstance(nav, dict):
        return [p for value in nav.values() for p in _nav_pages(value)]
    return []


def test_the_site_navigation_lists_every_page_once() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    pages = _nav_pages(config["nav"])
    on_disk = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    missing = sorted(set(on_disk) - set(pages))
    assert not missing, f"pages not in the nav of mkdocs.yml: {missing}"
    assert sorted(pages) == on_disk, "mkdocs.yml's nav names a missing page or one page twice"
