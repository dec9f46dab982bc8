"""The order of a layered graph picture, before any coordinate: cycles broken, layers by longest path,
virtual nodes on long edges, and crossings reduced (graph_svg.py draws the result). Also the ancestors
and descendants of a node, for a metric's own lineage."""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

MAX_SWEEPS = 16
TRANSPOSE_PASSES = 4  # per sweep
TRANSPOSE_WORK = 120_000  # node and edge visits for all transposition passes together
PATIENCE = 4  # barycenter sweeps without fewer crossings before giving up


@dataclass
class LayeredGraph:
    """The layered graph: real nodes 0..n_real-1 (in id order), then one virtual node per layer crossed."""

    n_real: int
    layer: list[int]
    succs: list[list[int]]
    preds: list[list[int]]
    chains: list[list[int]]  # per drawn edge: its nodes in layout direction, first and last real
    reversed_: list[bool]  # per drawn edge: laid out against its direction (a cycle's back edge)


class Reach:
    """Ancestors and descendants of any node of one graph; the adjacency is built once for all asks."""

    def __init__(self, edges: Iterable[tuple[str, str]]) -> None:
        self.down: dict[str, list[str]] = {}
        self.up: dict[str, list[str]] = {}
        for source, target in edges:
            self.down.setdefault(source, []).append(target)
            self.up.setdefault(target, []).append(source)

    def around(self, node_id: str) -> set[str]:
        """The node, all its ancestors and all its descendants (what a metric's own lineage shows)."""
        found = {node_id}
        for links in (self.down, self.up):
            queue = deque([node_id])
            seen = {node_id}
            while queue:
                for nxt in links.get(queue.popleft(), ()):
                    if nxt not in seen:
                        seen.add(nxt)
                        queue.append(nxt)
            found |= seen
        return found


def neighbourhood(edges: Iterable[tuple[str, str]], node_id: str) -> set[str]:
    """The node, all its ancestors and all its descendants."""
    return Reach(edges).around(node_id)


# --- layers -----------------------------------------------------------------------------------------------


def _back_edges(n: int, pairs: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """Edges closing a cycle, found by an iterative depth-first search in id order."""
    succs: list[list[int]] = [[] for _ in range(n)]
    for source, target in pairs:
        succs[source].append(target)
    state = [0] * n  # 0 unseen, 1 on the stack, 2 done
    back = set()
    for root in range(n):
        if state[root]:
            continue
        state[root] = 1
        stack = [(root, iter(succs[root]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state[child] == 1:
                back.add((node, child))
            elif state[child] == 0:
                state[child] = 1
                stack.append((child, iter(succs[child])))
    return back


def _longest_path_layers(n: int, pairs: list[tuple[int, int]]) -> list[int]:
    succs: list[list[int]] = [[] for _ in range(n)]
    indegree = [0] * n
    for source, target in pairs:
        succs[source].append(target)
        indegree[target] += 1
    layer = [0] * n
    queue = deque(i for i in range(n) if indegree[i] == 0)
    while queue:
        node = queue.popleft()
        for child in succs[node]:
            layer[child] = max(layer[child], layer[node] + 1)
            indegree[child] -= 1
            if indegree[child] == 0:
                queue.append(child)
    return layer


def layered_graph(n: int, pairs: list[tuple[int, int]]) -> LayeredGraph:
    back = _back_edges(n, pairs)
    laid = [(t, s) if (s, t) in back else (s, t) for s, t in pairs]
    layer = _longest_path_layers(n, laid)
    graph = LayeredGraph(n, layer, [[] for _ in range(n)], [[] for _ in range(n)], [], [])
    for (source, target), original in zip(laid, pairs, strict=True):
        chain = [source]
        for depth in range(layer[source] + 1, layer[target]):  # a virtual node per layer crossed
            graph.layer.append(depth)
            graph.succs.append([])
            graph.preds.append([])
            chain.append(len(graph.layer) - 1)
        chain.append(target)
        for upper, lower in zip(chain, chain[1:], strict=False):
            graph.succs[upper].append(lower)
            graph.preds[lower].append(upper)
        graph.chains.append(chain)
        graph.reversed_.append((source, target) != original)
    return graph


# --- order within the layers ------------------------------------------------------------------------------


def order_layers(graph: LayeredGraph) -> list[list[int]]:
    """Barycenter sweeps, alternately down and up, keeping the order with the fewest crossings."""
    layers: list[list[int]] = [[] for _ in range(max(graph.layer, default=-1) + 1)]
    for node, depth in enumerate(graph.layer):  # real nodes in id order, virtual ones in edge order
        layers[depth].append(node)
    position = [0] * len(graph.layer)
    for layer in layers:
        for i, node in enumerate(layer):
            position[node] = i
    best = [list(layer) for layer in layers]
    fewest = _crossings(graph, layers, position)
    stale = 0
    # transposition gets a fixed amount of work: all it wants on small graphs, a few passes on huge ones
    pass_cost = len(graph.layer) + 2 * sum(len(succs) for succs in graph.succs)
    passes_left = TRANSPOSE_WORK // max(pass_cost, 1)
    for sweep in range(MAX_SWEEPS):
        if fewest == 0 or stale >= PATIENCE:
            break
        downward = sweep % 2 == 0
        steps = range(1, len(layers)) if downward else range(len(layers) - 2, -1, -1)
        for depth in steps:
            neighbours = graph.preds if downward else graph.succs
            layers[depth] = _barycenter_sorted(layers[depth], neighbours, position)
            for i, node in enumerate(layers[depth]):
                position[node] = i
        passes = min(TRANSPOSE_PASSES, passes_left)
        passes_left -= _transpose(graph, layers, position, passes, equal_swaps=not downward)
        count = _crossings(graph, layers, position)
        if count < fewest:
            fewest, best, stale = count, [list(layer) for layer in layers], 0
        else:
            stale += 1
    return best


def _barycenter_sorted(layer: list[int], neighbours: list[list[int]], position: list[int]) -> list[int]:
    def key(node: int) -> tuple[float, int]:
        linked = neighbours[node]
        # a node with no neighbour on this side keeps its place; equal barycenters keep the id order
        centre = sum(map(position.__getitem__, linked)) / len(linked) if linked else float(position[node])
        return (centre, node)

    return sorted(layer, key=key)


def _transpose(
    graph: LayeredGraph, layers: list[list[int]], position: list[int], passes: int, equal_swaps: bool
) -> int:
    """Swap neighbours in a layer while that removes crossings (what barycenters alone miss, as in dot).

    With `equal_swaps`, crossed neighbours also swap when it changes nothing here: that lets the next
    sweep escape a tie. Returns the passes made."""
    for done in range(passes):
        swapped_any = False
        for layer in layers:
            ends = {
                node: (_sorted_at(graph.preds[node], position), _sorted_at(graph.succs[node], position))
                for node in layer
            }
            for i in range(len(layer) - 1):
                (up_a, down_a), (up_b, down_b) = ends[layer[i]], ends[layer[i + 1]]
                kept = _pair_crossings(up_a, up_b) + _pair_crossings(down_a, down_b)
                swapped = _pair_crossings(up_b, up_a) + _pair_crossings(down_b, down_a)
                if swapped < kept or (equal_swaps and swapped == kept > 0):
                    layer[i], layer[i + 1] = layer[i + 1], layer[i]
                    position[layer[i]], position[layer[i + 1]] = i, i + 1
                    swapped_any = True
        if not swapped_any:
            return done + 1
    return passes


def _sorted_at(nodes: list[int], position: list[int]) -> list[int]:
    return sorted(map(position.__getitem__, nodes))


def _pair_crossings(left: list[int], right: list[int]) -> int:
    """Crossings between the edges of two neighbours, `left` placed first (both lists sorted)."""
    if not left or not right or left[-1] <= right[0]:
        return 0
    return sum(bisect_left(right, end) for end in left)


def _crossings(graph: LayeredGraph, layers: list[list[int]], position: list[int]) -> int:
    """Edge crossings between consecutive layers: inversions of the lower ends, upper ends sorted."""
    total = 0
    for layer in layers:
        lower_ends = sorted((position[node], position[child]) for node in layer for child in graph.succs[node])
        seen: list[int] = []
        for _, lower in lower_ends:
            total += len(seen) - bisect_right(seen, lower)
            insort(seen, lower)
    return total
