"""Map a ``SpecError``'s field path onto the line of a YAML (or JSON) document.

A spec error names the field it is about, e.g. ``spec.layers[2].class: unknown layer
'Dnse'`` or, when one validator wraps another, a chain of them: ``spec.layers[1]:
Dense.units: must be ...``. The first name of each path is the object itself (``spec``,
``Sequential``, ``Adam``, ``loss``, ...); the rest is walked through the composed YAML
node tree (``yaml.compose`` keeps each node's position), each link of the chain relative
to the previous one. The line reported is that of the deepest field found, so a path
this module cannot follow all the way still lands on the closest enclosing field.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

import yaml

__all__ = ["Segment", "locate", "parse_path", "path_chain"]

Segment = str | int

_NAME: Final = r"[A-Za-z_][\w-]*"
_PATH: Final = (rf"{_NAME}(?:\.{_NAME}|\[\d+\]|\['[^']*'\]|\[\"[^\"]*\"\])*")
#: one link of the chain at the start of a message: ``path`` or ``path (layer name)``, ": "
_LINK: Final = re.compile(rf"({_PATH})(?: \([^)]*\))?: ")
_SEGMENT: Final = re.compile(rf"\.?({_NAME})|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")
_UNEXPECTED_KEY: Final = re.compile(r"unexpected keyword argument '(\w+)'")


def parse_path(path: str) -> list[Segment]:
    """``"spec.layers[2].units"`` -> ``["spec", "layers", 2, "units"]``."""
    out: list[Segment] = []
    for m in _SEGMENT.finditer(path):
        name, index, quoted, dquoted = m.groups()
        out.append(int(index) if index is not None else
                   name if name is not None else quoted if quoted is not None else dquoted)
    return out


def path_chain(message: str) -> list[list[Segment]]:
    """The field paths a message starts with, outermost first, each without its first name
    (the object it names), e.g. ``"spec.layers[1]: Dense.units: must be ..."`` ->
    ``[["layers", 1], ["units"]]``."""
    chain: list[list[Segment]] = []
    pos = 0
    while (m := _LINK.match(message, pos)) is not None:
        chain.append(parse_path(m.group(1))[1:])
        pos = m.end()
    key = _UNEXPECTED_KEY.search(message, pos)  # Python's wording for an unknown keyword
    if key is not None:
        chain.append([key.group(1)])
    return chain


def _child(node: yaml.Node, segment: Segment) -> tuple[yaml.Node, yaml.Mark] | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(segment):
                return value, key.start_mark
    elif isinstance(node, yaml.SequenceNode):
        items: list[yaml.Node] = node.value
        if isinstance(segment, int):
            if 0 <= segment < len(items):
                return items[segment], items[segment].start_mark
        else:  # a named item, e.g. a layer by its name
            for item in items:
                named = _child(item, "name")
                if named is not None and named[0].value == segment:
                    return item, item.start_mark
    return None


def locate(root: yaml.Node, base: Sequence[Segment], message: str) -> int:
    """The 1-based line of the field ``message`` is about, under ``base`` in ``root``."""
    node, mark = root, root.start_mark
    for segment in base:
        found = _child(node, segment)
        if found is None:
            return mark.line + 1
        node, mark = found
    for path in path_chain(message):
        for segment in path:
            found = _child(node, segment)
            if found is None:
                return mark.line + 1
            node, mark = found
    return mark.line + 1
