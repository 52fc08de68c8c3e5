"""Reading YAML spec documents within bounds: PyYAML's safe loader, watched while it composes.

PyYAML composes an alias (``*name``) as the very node its anchor made, so a 400-byte
document can stand for billions of values ("billion laughs"), and its composer recurses
once per nesting level. :class:`SpecLoader` counts aliases and nesting depth as it goes and
stops at :data:`~unidl.spec.bounds.MAX_ALIASES` / ``MAX_DEPTH``; :func:`check_nodes` then
counts the values the node graph expands to, in time linear in its distinct nodes, before
anything walks the expansion. Only the safe loader's tags exist: no Python object is ever
built from a file.
"""

from __future__ import annotations

from typing import Any

import yaml

from ..errors import SpecError
from .bounds import MAX_ALIASES, MAX_DEPTH, MAX_VALUES

__all__ = ["SpecLoader", "check_nodes", "load_yaml"]


class SpecLoader(yaml.SafeLoader):
    """The safe loader, refusing documents with too many aliases or too deep nesting."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise SpecError(f"the document uses more than {MAX_ALIASES} YAML aliases "
                                f"(line {self.peek_event().start_mark.line + 1}); a spec needs "
                                "few or none", "spec")
            return super().compose_node(parent, index)  # type: ignore[no-untyped-call]
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise SpecError(f"the document nests deeper than {MAX_DEPTH} levels (line "
                            f"{self.peek_event().start_mark.line + 1}); a spec needs a few",
                            "spec")
        try:
            return super().compose_node(parent, index)  # type: ignore[no-untyped-call]
        finally:
            self._depth -= 1


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


def load_yaml(text: str, loader: type[SpecLoader] = SpecLoader) -> tuple[Any, yaml.Node | None]:
    """The data of the single YAML document ``text`` and its node tree (None if empty).
    Raises SpecError for a bound exceeded and for YAML the safe loader refuses."""
    reader = loader(text)
    try:
        root = reader.get_single_node()
        if root is None:
            return None, None
        check_nodes(root)
        return reader.construct_document(root), root
    finally:
        reader.dispose()
