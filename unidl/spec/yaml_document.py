"""Reading YAML spec documents within bounds: PyYAML's safe loader, watched while it composes.

PyYAML composes an alias (``*name``) as the very node its anchor made, so a 400-byte
document can stand for billions of values ("billion laughs"), and its composer recurses
once per nesting level. :class:`SpecLoader` counts aliases and nesting depth as it goes and
stops at :data:`~unidl.spec.bounds.MAX_ALIASES` / ``MAX_DEPTH``; :func:`check_nodes` then
counts the values the node graph expands to, in time linear in its distinct nodes, before
anything walks the expansion. Only the safe loader's tags exist: no Python object is ever
built from a file. One fix over PyYAML: ``1e-3`` is a float, as in YAML 1.2 and JSON.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from ..errors import SpecError
from .bounds import MAX_ALIASES, MAX_DEPTH, MAX_VALUES

__all__ = ["SpecLoader", "check_nodes", "load_yaml"]


class _Resolver(Resolver):
    """PyYAML's resolver, plus one fix: ``1e-3`` is a float, as in YAML 1.2 and JSON (YAML
    1.1 reads it as the string "1e-3", a classic trap for learning rates)."""


_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


class _BoundedComposer(Composer):
    """PyYAML's composer, counting aliases and nesting depth as it goes."""

    _depth = 0
    _aliases = 0
    # provided by the parser each loader class mixes in
    check_event: Callable[..., bool]
    peek_event: Callable[[], yaml.Event]

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise SpecError(f"the document uses more than {MAX_ALIASES} YAML aliases "
                                f"(line {_line(self.peek_event())}); a spec needs few or none",
                                "spec")
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise SpecError(f"the document nests deeper than {MAX_DEPTH} levels (line "
                            f"{_line(self.peek_event())}); a spec needs a few", "spec")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _line(event: yaml.Event | None) -> int | str:
    mark = getattr(event, "start_mark", None)
    line = getattr(mark, "line", None)
    return line + 1 if isinstance(line, int) else "?"


class _PythonLoader(_BoundedComposer, Reader, Scanner, Parser, SafeConstructor, _Resolver):
    """The bounded safe loader on PyYAML's pure-Python scanner and parser."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        _BoundedComposer.__init__(self)
        SafeConstructor.__init__(self)
        _Resolver.__init__(self)


SpecLoader: type[_PythonLoader] = _PythonLoader
try:  # libyaml scans and parses ~3x faster; the composing (and bounding) stays in Python
    from yaml._yaml import CParser

    class _LibyamlLoader(_BoundedComposer, CParser, SafeConstructor, _Resolver):
        """The bounded safe loader on libyaml's scanner and parser."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _BoundedComposer.__init__(self)
            SafeConstructor.__init__(self)
            _Resolver.__init__(self)

    SpecLoader = _LibyamlLoader  # type: ignore[assignment]
except ImportError:  # PyYAML built without libyaml
    pass


def check_nodes(root: yaml.Node) -> None:
    """Refuse a node graph that expands to more than ``MAX_VALUES`` values (aliases counted
    at each use); memoised per distinct node, so it costs what the file holds."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # being counted: meeting one again means a cycle
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        kids = _children(node)
        if not children_done:
            if id(node) in open_nodes:
                raise SpecError(f"the document contains itself (a YAML alias inside its own "
                                f"anchor, line {node.start_mark.line + 1}); a spec cannot",
                                "spec")
            open_nodes.add(id(node))
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in sizes)
            continue
        open_nodes.discard(id(node))
        total = 1 + sum(sizes[id(k)] for k in kids)
        if total > MAX_VALUES:
            raise SpecError(f"the document expands to more than {MAX_VALUES:,} values (YAML "
                            "aliases counted each time they are used); a spec is far smaller",
                            "spec")
        sizes[id(node)] = total


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def load_yaml(text: str) -> tuple[Any, yaml.Node | None]:
    """The data of the single YAML document ``text`` and its node tree (None if empty).
    Raises SpecError for a bound exceeded and YAMLError for YAML the safe loader refuses."""
    reader = SpecLoader(text)
    try:
        root = reader.get_single_node()
        if root is None:
            return None, None
        check_nodes(root)
        return reader.construct_document(root), root
    finally:
        reader.dispose()
