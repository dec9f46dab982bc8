"""Layered (Sugiyama-style) graph pictures as inline SVG, with no JavaScript: lineage and KPI trees.

The steps are the classic ones, each kept near linear so a 1,000-metric project draws in well under
a second (1-4 are in graph_layout.py, 5-6 here):

1. break cycles (a depth-first search reverses its back edges; the project rejects cycles, this is
   only a guard so a bad graph cannot hang the docs);
2. layers by longest path from the sources;
3. an edge spanning several layers gets one virtual node per layer it crosses, so it runs through the
   gaps between the nodes of those layers instead of through them;
4. crossing reduction: alternate barycenter sweeps down and up, keeping the order with the fewest
   crossings (ties broken by the input's sort order, so the same graph always draws the same);
5. positions across the layers: each layer's nodes are pulled towards their neighbours' mean while
   keeping their order and spacing (an isotonic regression, solved in one linear pass);
6. edges are smooth paths from a port on the upstream node's side to one on the downstream node's.

The SVG carries classes for the site's CSS and just enough presentation attributes to be legible
without it. All text is escaped: labels come from the user's YAML.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from kpiframe.docsite.graph_layout import LayeredGraph, layered_graph, order_layers

LABEL_CHAR_WIDTH = 7.5  # px per character of the bold 12 px label
DETAIL_CHAR_WIDTH = 6.5  # px per character of an 11 px detail line
LINE_HEIGHT = 16.0
PAD_X = 10.0
PAD_Y = 6.0
MIN_WIDTH = 48.0
MARGIN = 12.0
LAYER_GAP = {"LR": 72.0, "TB": 48.0}  # along the edges' direction
NODE_GAP = {"LR": 14.0, "TB": 24.0}  # between neighbours in one layer
VIRTUAL_GAP = 8.0  # between an edge passing through a layer and its neighbours
PLACEMENT_ROUNDS = 4
ARROW = 7.0


@dataclass(frozen=True)
class GraphNode:
    id: str
    label: str  # first line, bold
    detail: tuple[str, ...] = ()  # extra short lines ("520 / 800 (65 %)", "projected 1,085")
    kind: str = ""  # css class kind-<kind>: source, model, dataset, metric, table, kgi, ksf, kpi
    status: str = ""  # css class status-<slug>: on-track, at-risk, off-track, no-target, no-data
    href: str | None = None  # the node is a link when given
    title: str | None = None  # tooltip


def layered_svg(
    nodes: Sequence[GraphNode],
    edges: Sequence[tuple[str, str]],
    direction: str = "LR",
    highlight: str | None = None,
) -> str:
    """The graph as one `<svg>` element; edges point upstream -> downstream (parent -> child in trees)."""
    if direction not in LAYER_GAP:
        raise ValueError(f"direction must be LR or TB, not {direction!r}")
    ordered = _unique_nodes(nodes)
    index = {node.id: i for i, node in enumerate(ordered)}
    if highlight is not None and highlight not in index:
        raise ValueError(f"highlight {highlight!r} is not a node of the graph")
    pairs = _edge_indexes(edges, index)
    graph = layered_graph(len(ordered), pairs)
    layers = order_layers(graph)
    layout = _layout(ordered, graph, layers, direction)
    return _render(ordered, graph, pairs, highlight, layout)


# --- input ------------------------------------------------------------------------------------------------


def _unique_nodes(nodes: Sequence[GraphNode]) -> list[GraphNode]:
    by_id: dict[str, GraphNode] = {}
    for node in nodes:
        if node.id in by_id and by_id[node.id] != node:
            raise ValueError(f"two different nodes have the id {node.id!r}")
        by_id[node.id] = node
    return [by_id[key] for key in sorted(by_id)]  # id order: the output does not depend on input order


def _edge_indexes(edges: Sequence[tuple[str, str]], index: dict[str, int]) -> list[tuple[int, int]]:
    pairs = set()
    for source, target in edges:
        if source not in index or target not in index:
            missing = source if source not in index else target
            raise ValueError(f"edge ({source!r}, {target!r}) names {missing!r}, which is not a node")
        if source != target:  # a self-loop has no layer to go to; the project rejects them anyway
            pairs.add((index[source], index[target]))
    return sorted(pairs)


# --- coordinates ------------------------------------------------------------------------------------------


def _text_width(text: str, per_char: float) -> float:
    units = 0.0
    for char in text:
        if unicodedata.combining(char):
            continue
        units += 2.0 if unicodedata.east_asian_width(char) in "WF" else 1.0
    return units * per_char


def _box(node: GraphNode) -> tuple[float, float]:
    """(width, height) of a node from its text."""
    widths = [_text_width(node.label, LABEL_CHAR_WIDTH)] + [
        _text_width(line, DETAIL_CHAR_WIDTH) for line in node.detail
    ]
    width = max(MIN_WIDTH, max(widths) + 2 * PAD_X)
    return width, 2 * PAD_Y + LINE_HEIGHT * (1 + len(node.detail))


@dataclass
class _Layout:
    """Coordinates as (along the edges' direction, across it): x and y for LR, y and x for TB."""

    direction: str
    along: list[float]  # each node's centre
    across: list[float]
    along_size: list[float]  # each node's size (virtual nodes have none)
    across_size: list[float]
    spans: list[tuple[float, float]]  # each layer's (start, end) along

    def xy(self, along: float, across: float) -> tuple[float, float]:
        return (along, across) if self.direction == "LR" else (across, along)


def _layout(nodes: list[GraphNode], graph: LayeredGraph, layers: list[list[int]], direction: str) -> _Layout:
    boxes = [_box(node) for node in nodes]
    virtual = [0.0] * (len(graph.layer) - len(nodes))
    widths, heights = [w for w, _ in boxes] + virtual, [h for _, h in boxes] + virtual
    along_size, across_size = (widths, heights) if direction == "LR" else (heights, widths)
    across = _place_across(graph, layers, across_size, direction)
    spans = []
    start = MARGIN
    for layer in layers:
        depth = max(along_size[node] for node in layer)
        spans.append((start, start + depth))
        start += depth + LAYER_GAP[direction]
    along = [sum(spans[graph.layer[node]]) / 2 for node in range(len(graph.layer))]
    return _Layout(direction, along, across, along_size, across_size, spans)


def _place_across(graph: LayeredGraph, layers: list[list[int]], size: list[float], direction: str) -> list[float]:
    """Centre of each node across the layers: pulled to its neighbours, never overlapping a neighbour."""
    centre = [0.0] * len(graph.layer)
    for layer in layers:
        offsets = _offsets(layer, size, graph.n_real, direction)
        for node, offset in zip(layer, offsets, strict=True):
            centre[node] = offset - offsets[-1] / 2
    for _ in range(PLACEMENT_ROUNDS):
        for depth in range(1, len(layers)):
            _pull(layers[depth], graph.preds, centre, size, graph.n_real, direction)
        for depth in range(len(layers) - 2, -1, -1):
            _pull(layers[depth], graph.succs, centre, size, graph.n_real, direction)
    low = min((centre[n] - size[n] / 2 for n in range(len(centre))), default=0.0)
    return [c - low + MARGIN for c in centre]


def _offsets(layer: list[int], size: list[float], n_real: int, direction: str) -> list[float]:
    """The least distance of each node's centre from the first one's, in layer order."""
    offsets = [0.0]
    for before, after in zip(layer, layer[1:], strict=False):
        gap = NODE_GAP[direction] if before < n_real and after < n_real else VIRTUAL_GAP
        offsets.append(offsets[-1] + (size[before] + size[after]) / 2 + gap)
    return offsets


def _pull(
    layer: list[int], neighbours: list[list[int]], centre: list[float], size: list[float], n_real: int, direction: str
) -> None:
    """Move the layer's nodes as near the mean of their neighbours as the spacing allows.

    Least squares under `centre[i+1] - centre[i] >= spacing`: subtracting the offsets turns it into an
    isotonic regression, which pool-adjacent-violators solves in one pass."""
    offsets = _offsets(layer, size, n_real, direction)
    blocks: list[list[float]] = []  # [weight, weighted sum, count]
    for node, offset in zip(layer, offsets, strict=True):
        linked = neighbours[node]
        wanted = sum(map(centre.__getitem__, linked)) / len(linked) if linked else centre[node]
        weight = 1.0 if linked else 0.05  # a node with nothing to follow on this side stays roughly put
        blocks.append([weight, weight * (wanted - offset), 1.0])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][0] > blocks[-1][1] / blocks[-1][0]:
            last = blocks.pop()
            blocks[-1] = [blocks[-1][0] + last[0], blocks[-1][1] + last[1], blocks[-1][2] + last[2]]
    i = 0
    for weight, total, count in blocks:
        for _ in range(int(count)):
            centre[layer[i]] = total / weight + offsets[i]
            i += 1


# --- edges ------------------------------------------------------------------------------------------------


def _ports(graph: LayeredGraph, layout: _Layout) -> tuple[dict[int, float], dict[int, float]]:
    """Where each edge leaves its first node and enters its last (across), spread along the side in order."""
    leaving: dict[int, list[tuple[float, int]]] = {}
    entering: dict[int, list[tuple[float, int]]] = {}
    for edge, chain in enumerate(graph.chains):
        leaving.setdefault(chain[0], []).append((layout.across[chain[1]], edge))
        entering.setdefault(chain[-1], []).append((layout.across[chain[-2]], edge))
    ports: tuple[dict[int, float], dict[int, float]] = ({}, {})
    for found, side in zip((leaving, entering), ports, strict=True):
        for node, items in found.items():
            span = layout.across_size[node] * 0.8
            for i, (_, edge) in enumerate(sorted(items)):
                side[edge] = layout.across[node] - span / 2 + span * (i + 0.5) / len(items)
    return ports


def _edge_path(
    graph: LayeredGraph, edge: int, layout: _Layout, ports: tuple[dict[int, float], dict[int, float]]
) -> str:
    """Straight inside a layer (beside its nodes), a curve across the gap between two layers."""
    chain = graph.chains[edge]
    first, last = chain[0], chain[-1]
    spans = layout.spans
    # (along, across) points, in pairs (enter a layer, leave it): a line within the pair, a curve between
    points = [(layout.along[first] + layout.along_size[first] / 2, ports[0][edge])]
    points.append((spans[graph.layer[first]][1], ports[0][edge]))
    for node in chain[1:-1]:
        points.append((spans[graph.layer[node]][0], layout.across[node]))
        points.append((spans[graph.layer[node]][1], layout.across[node]))
    points.append((spans[graph.layer[last]][0], ports[1][edge]))
    points.append((layout.along[last] - layout.along_size[last] / 2, ports[1][edge]))
    if graph.reversed_[edge]:  # a cycle's back edge was laid out backwards: draw it from its source
        points.reverse()
    parts = [f"M{_pair(layout, points[0])}"]
    for i in range(1, len(points)):
        (a0, c0), (a1, c1) = points[i - 1], points[i]
        if abs(a1 - a0) < 0.05 and abs(c1 - c0) < 0.05:
            continue  # zero length: the arrow would lose its direction
        if i % 2 == 1:
            parts.append(f"L{_pair(layout, (a1, c1))}")
        else:  # tangents along the layers' direction at both ends
            mid = (a0 + a1) / 2
            parts.append(f"C{_pair(layout, (mid, c0))} {_pair(layout, (mid, c1))} {_pair(layout, (a1, c1))}")
    return " ".join(parts)


# --- output -----------------------------------------------------------------------------------------------

_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: str) -> str:
    """Escaped for XML text and attributes; characters XML cannot carry become U+FFFD."""
    return escape(_INVALID_XML.sub("\ufffd", value), quote=True)


def _slug(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")


def _num(value: float) -> str:
    text = f"{round(value, 1) + 0.0:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _pair(layout: _Layout, point: tuple[float, float]) -> str:
    x, y = layout.xy(*point)
    return f"{_num(x)},{_num(y)}"


def _render(
    nodes: list[GraphNode], graph: LayeredGraph, pairs: list[tuple[int, int]], highlight: str | None, layout: _Layout
) -> str:
    along_end = (layout.spans[-1][1] if layout.spans else 0.0) + MARGIN
    across_end = max((layout.across[n] + layout.across_size[n] / 2 for n in range(graph.n_real)), default=0.0)
    width, height = layout.xy(along_end, across_end + MARGIN)
    size = f'width="{_num(width)}" height="{_num(height)}" viewBox="0 0 {_num(width)} {_num(height)}"'
    marker = "kf-arrow-" + _fingerprint(nodes, pairs, layout.direction)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="graph graph-{layout.direction.lower()}" {size} '
        'font-family="sans-serif" font-size="12">',
        f"<defs>{_marker(marker, 'arrow', '#888')}",
        _marker(f"{marker}-highlight", "arrow highlight", "#333") if highlight is not None else "",
        '</defs><g class="edges">',
    ]
    ports = _ports(graph, layout)
    for edge, (source, target) in enumerate(pairs):
        lit = highlight is not None and highlight in (nodes[source].id, nodes[target].id)
        classes = "edge" + (" back" if graph.reversed_[edge] else "") + (" highlight" if lit else "")
        out.append(
            f'<path class="{classes}" data-from="{_text(nodes[source].id)}" data-to="{_text(nodes[target].id)}" '
            f'd="{_edge_path(graph, edge, layout, ports)}" fill="none" stroke="{"#333" if lit else "#888"}" '
            f'stroke-width="1.2" marker-end="url(#{marker}{"-highlight" if lit else ""})"/>'
        )
    out.append('</g><g class="nodes">')
    for i, node in enumerate(nodes):
        centre = layout.xy(layout.along[i], layout.across[i])
        box = layout.xy(layout.along_size[i], layout.across_size[i])
        out.append(_node_svg(node, centre, box, node.id == highlight))
    out.append("</g></svg>")
    return "".join(out)


def _marker(marker_id: str, css: str, fill: str) -> str:
    return (
        f'<marker id="{marker_id}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="{_num(ARROW)}" '
        f'markerHeight="{_num(ARROW)}" markerUnits="userSpaceOnUse" orient="auto">'
        f'<path class="{css}" d="M0,0 L10,5 L0,10 z" fill="{fill}"/></marker>'
    )


def _fingerprint(nodes: list[GraphNode], pairs: list[tuple[int, int]], direction: str) -> str:
    """A short id from the graph: two different pictures on one page never share a marker (one hidden
    picture's marker can fail to show in the others)."""
    text = direction + "\n" + "\n".join(node.id for node in nodes) + "\n" + repr(pairs)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def _node_svg(node: GraphNode, centre: tuple[float, float], size: tuple[float, float], highlighted: bool) -> str:
    classes = ["node"]
    if node.kind:
        classes.append(f"kind-{_slug(node.kind)}")
    status = _slug(node.status)
    if status:
        classes.append(f"status-{status}")
    if highlighted:
        classes.append("highlight")
    head = f'<g class="{" ".join(classes)}" data-id="{_text(node.id)}"'
    head += f' data-status="{status}">' if status else ">"
    parts = [head]
    if node.title:
        parts.append(f"<title>{_text(node.title)}</title>")
    if node.href is not None:
        parts.append(f'<a href="{_text(node.href)}">')
    (x, y), (width, height) = centre, size
    left, top = x - width / 2, y - height / 2
    parts.append(
        f'<rect x="{_num(left)}" y="{_num(top)}" width="{_num(width)}" height="{_num(height)}" rx="4" '
        f'fill="#fff" stroke="{"#333" if highlighted else "#999"}" stroke-width="{"2" if highlighted else "1"}"/>'
    )
    lines = [(node.label, "label", ' font-weight="bold"')] + [
        (line, "detail", ' font-size="11"') for line in node.detail
    ]
    for j, (text, css, attrs) in enumerate(lines):
        baseline = top + PAD_Y + LINE_HEIGHT * j + 12
        parts.append(
            f'<text class="{css}" x="{_num(x)}" y="{_num(baseline)}" text-anchor="middle"{attrs}>{_text(text)}</text>'
        )
    if node.href is not None:
        parts.append("</a>")
    parts.append("</g>")
    return "".join(parts)
