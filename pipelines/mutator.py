"""Generic traversal of both IRs, derived from the dataclass fields of each node.

After this module: `walk` visits every node reachable through fields, `Mutator` rebuilds a tree
bottom-up with one `visit_<Class>` override per node kind a pass cares about (and returns the
very same object when nothing changed), and `substitute` replaces nodes by structural equality.
Fields holding non-node values (names, dtypes, Funcs) are left alone; tuples are traversed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

from pipelines.expr import Node

_FIELDS: dict[type, tuple[str, ...]] = {}


def node_fields(cls: type) -> tuple[str, ...]:
    """Names of the init fields of a node class (cached)."""
    names = _FIELDS.get(cls)
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(cls) if f.init)
        _FIELDS[cls] = names
    return names


def _children_of(value: Any) -> Iterator[Node]:
    if isinstance(value, Node):
        yield value
    elif isinstance(value, tuple):
        for item in value:
            yield from _children_of(item)


def children(node: Node) -> Iterator[Node]:
    """The nodes directly below `node`, in field order."""
    for name in node_fields(type(node)):
        yield from _children_of(getattr(node, name))


def walk(node: Node) -> Iterator[Node]:
    """Every node of the tree, parents before children (iterative: deep trees are fine)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(list(children(n))))


def _map_value(value: Any, fn: Callable[[Node], Node]) -> Any:
    if isinstance(value, Node):
        return fn(value)
    if isinstance(value, tuple):
        mapped = tuple(_map_value(v, fn) for v in value)
        return value if all(m is v for m, v in zip(mapped, value)) else mapped
    return value


def map_children(node: Node, fn: Callable[[Node], Node]) -> Node:
    """`node` with `fn` applied to each child; the same object if no child changed."""
    changes = {}
    for name in node_fields(type(node)):
        old = getattr(node, name)
        new = _map_value(old, fn)
        if new is not old:
            changes[name] = new
    return dataclasses.replace(node, **changes) if changes else node  # type: ignore[type-var]


class Mutator:
    """Rebuilds a tree bottom-up; override `visit_<ClassName>` for the nodes a pass rewrites."""

    def visit(self, node: Node) -> Node:
        method = getattr(self, "visit_" + type(node).__name__, None)
        if method is not None:
            return method(node)
        return map_children(node, self.visit)

    def generic(self, node: Node) -> Node:
        return map_children(node, self.visit)


class _Substitute(Mutator):
    def __init__(self, mapping: dict[Node, Node]):
        self.mapping = mapping

    def visit(self, node: Node) -> Node:
        hit = self.mapping.get(node)
        if hit is not None:
            return hit
        return map_children(node, self.visit)


def substitute(node: Node, mapping: dict[Any, Any]) -> Any:
    """Replace every subtree equal to a key of `mapping` by its value."""
    if not mapping:
        return node
    return _Substitute(mapping).visit(node)
