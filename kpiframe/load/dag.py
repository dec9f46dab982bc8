"""Dependency graphs, through the standard library's graphlib: orders, cycles and reachability."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from graphlib import CycleError, TopologicalSorter
from typing import TypeVar

N = TypeVar("N", bound=Hashable)  # a node: a name, or a NodeKey


def dependency_order(depends_on: Mapping[str, Iterable[str]]) -> tuple[list[str], list[str] | None]:
    """Nodes with their dependencies first (ties by name, so the order is stable), and the first
    cycle found as a path `a -> b -> a`, or None. Dependencies that are not nodes are ignored."""
    sorter: TopologicalSorter[str] = TopologicalSorter()
    for node in sorted(depends_on):
        sorter.add(node, *sorted(d for d in depends_on[node] if d in depends_on))
    try:
        sorter.prepare()
    except CycleError as error:
        cycle = list(reversed(error.args[1]))  # graphlib lists it against the dependency direction
        return sorted(depends_on), cycle
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order += ready
        sorter.done(*ready)
    return order, None


def reachable(start: Iterable[N], edges: Mapping[N, Iterable[N]]) -> set[N]:
    """Every node reachable from `start` along `edges`, `start` included."""
    found = set(start)
    pending = list(found)
    while pending:
        for nxt in edges.get(pending.pop(), ()):
            if nxt not in found:
                found.add(nxt)
                pending.append(nxt)
    return found


def reverse(edges: Mapping[N, Iterable[N]]) -> dict[N, set[N]]:
    """Edges turned around: from each node to the nodes that point at it."""
    turned: dict[N, set[N]] = {}
    for node, targets in edges.items():
        for target in targets:
            turned.setdefault(target, set()).add(node)
    return turned
