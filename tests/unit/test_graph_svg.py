"""The docs site's graph pictures: a layered layout drawn as inline SVG (kpiframe/docsite/graph_svg.py).

Each picture is parsed back with xml.etree and checked for what a reader relies on: every node once,
with its classes and link; no node over another; every edge running from its upstream node's box to
its downstream node's, through the gaps and not across other nodes; escaped text; the same picture
for the same graph."""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import pytest

from kpiframe.docsite.graph_layout import neighbourhood
from kpiframe.docsite.graph_svg import GraphNode, layered_svg

SVG = "{http://www.w3.org/2000/svg}"
TOLERANCE = 0.2  # coordinates are written to 0.1 px


@dataclass
class Box:
    left: float
    top: float
    right: float
    bottom: float

    def contains(self, x: float, y: float, inset: float = 0.5) -> bool:
        return self.left + inset < x < self.right - inset and self.top + inset < y < self.bottom - inset

    def on_border(self, x: float, y: float) -> bool:
        inside = (
            self.left - TOLERANCE <= x <= self.right + TOLERANCE
            and self.top - TOLERANCE <= y <= self.bottom + TOLERANCE
        )
        return inside and not self.contains(x, y, TOLERANCE)


@dataclass
class Picture:
    root: ET.Element
    nodes: dict[str, ET.Element]  # data-id -> <g>
    boxes: dict[str, Box]
    edges: dict[tuple[str, str], ET.Element]  # (data-from, data-to) -> <path>


def parse(svg: str) -> Picture:
    root = ET.fromstring(svg)
    nodes: dict[str, ET.Element] = {}
    boxes: dict[str, Box] = {}
    for group in root.iter(f"{SVG}g"):
        if "node" not in group.get("class", "").split():
            continue
        node_id = group.get("data-id")
        assert node_id is not None and node_id not in nodes, f"node {node_id!r} drawn twice"
        nodes[node_id] = group
        rects = list(group.iter(f"{SVG}rect"))
        assert len(rects) == 1
        x, y, w, h = (float(rects[0].get(name, "nan")) for name in ("x", "y", "width", "height"))
        boxes[node_id] = Box(x, y, x + w, y + h)
    edges = {}
    for path in root.iter(f"{SVG}path"):
        if "edge" in path.get("class", "").split():
            key = (path.get("data-from", ""), path.get("data-to", ""))
            assert key not in edges, f"edge {key} drawn twice"
            edges[key] = path
    return Picture(root, nodes, boxes, edges)


def path_points(d: str, steps: int = 12) -> list[tuple[float, float]]:
    """Points along an SVG path made of absolute M, L and C commands (curves sampled)."""
    points: list[tuple[float, float]] = []
    for command, args in re.findall(r"([MLC])([^MLC]*)", d):
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", args)]
        pairs = list(zip(numbers[0::2], numbers[1::2], strict=True))
        if command in "ML":
            points.extend(pairs)
            continue
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = points[-1], *pairs
        for i in range(1, steps + 1):
            t = i / steps
            a, b, c, e = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3
            points.append((a * x0 + b * x1 + c * x2 + e * x3, a * y0 + b * y1 + c * y2 + e * y3))
    return points


def ends(path: ET.Element) -> tuple[tuple[float, float], tuple[float, float]]:
    points = path_points(path.get("d", ""), steps=1)
    return points[0], points[-1]


def overlap(a: Box, b: Box) -> bool:
    return a.left < b.right and b.left < a.right and a.top < b.bottom and b.top < a.bottom


def random_dag(seed: int, size: int) -> tuple[list[GraphNode], list[tuple[str, str]]]:
    """Nodes with labels of varied length and some details; edges often spanning several layers."""
    rng = random.Random(seed)
    nodes = [
        GraphNode(
            f"n{i:03d}", "x" * rng.randint(1, 30), tuple("d" * rng.randint(3, 20) for _ in range(rng.randint(0, 2)))
        )
        for i in range(size)
    ]
    edges = set()
    for target in range(1, size):
        for _ in range(rng.choice([1, 1, 2, 3])):
            source = rng.randrange(max(0, target - 12), target)
            edges.add((f"n{source:03d}", f"n{target:03d}"))
    return nodes, sorted(edges)


def project_graph(metrics: int = 1000) -> tuple[list[GraphNode], list[tuple[str, str]]]:
    """The lineage of a big project: 20 raw tables, 50 models, 50 datasets, metrics, 6 published tables."""
    rng = random.Random(7)
    sources = [f"source:raw.t{i}" for i in range(20)]
    models = [f"model:stg_{i}" for i in range(50)]
    datasets = [f"dataset:ds_{i}" for i in range(50)]
    names = [f"metric:m_{i:04d}" for i in range(metrics)]
    tables = [f"table:metrics.t{i}" for i in range(6)]
    nodes = [GraphNode(n, n.split(":")[1], kind=n.split(":")[0]) for n in sources + models + datasets + tables]
    nodes += [GraphNode(n, n[7:], ("520 / 800 (65 %)",), "metric", "on track", f"m/{n[7:]}.html") for n in names]
    edges = [(sources[i % 20], m) for i, m in enumerate(models)] + [(models[i], d) for i, d in enumerate(datasets)]
    edges += [(models[(3 * i + 1) % 50], d) for i, d in enumerate(datasets) if i % 4 == 0]
    for i, metric in enumerate(names):
        if i < metrics * 0.8:
            edges.append((datasets[i % 50], metric))
        else:  # ratio and derived metrics: two inputs among the metrics before
            edges += [(inp, metric) for inp in rng.sample(names[:i], 2)]
        edges += [(metric, tables[i % 6])] + ([(metric, tables[(i + 3) % 6])] if i % 2 == 0 else [])
    return nodes, edges


LINEAGE_NODES = [
    GraphNode("source:raw.leads", "raw.leads", kind="source", title="raw.leads (source)"),
    GraphNode("model:stg_leads", "stg_leads", kind="model", href="models/stg_leads.html"),
    GraphNode("dataset:leads", "leads", kind="dataset"),
    GraphNode("metric:leads", "leads", ("1,204",), kind="metric", status="on track", href="metrics/leads.html"),
    GraphNode("metric:mqls", "mqls", kind="metric", status="at-risk"),
    GraphNode("metric:rate", "lead_to_mql_rate", ("31 %",), kind="metric", status="no data"),
    GraphNode("table:metrics.marketing_monthly", "metrics.marketing_monthly", kind="table"),
]
LINEAGE_EDGES = [
    ("source:raw.leads", "model:stg_leads"),
    ("model:stg_leads", "dataset:leads"),
    ("dataset:leads", "metric:leads"),
    ("dataset:leads", "metric:mqls"),
    ("metric:leads", "metric:rate"),
    ("metric:mqls", "metric:rate"),
    ("metric:leads", "table:metrics.marketing_monthly"),  # spans two layers: routed past metric:rate
    ("metric:rate", "table:metrics.marketing_monthly"),
]
TREE_NODES = [
    GraphNode("revenue", "Revenue", ("1.2M / 1.5M (80 %)", "projected 1.45M"), "kgi", "at risk"),
    GraphNode("pipeline", "Pipeline", ("3.1M",), "ksf", "on track"),
    GraphNode("win_rate", "Win rate", ("22 %",), "ksf", "off track"),
    GraphNode("leads", "Leads", ("520 / 800 (65 %)",), "kpi", "off track"),
    GraphNode("mql_rate", "MQL rate", (), "kpi", "on track"),
    GraphNode("deal_size", "Avg deal size", ("12,400",), "kpi", "no target"),
    GraphNode("calls", "Calls", (), "kpi", "no data"),
    GraphNode("demos", "Demos", ("140",), "kpi", "on track"),
]
TREE_EDGES = [
    ("revenue", "pipeline"),
    ("revenue", "win_rate"),
    ("revenue", "deal_size"),
    ("pipeline", "leads"),
    ("pipeline", "mql_rate"),
    ("pipeline", "deal_size"),
    ("win_rate", "calls"),
    ("win_rate", "demos"),
]


def assert_no_overlap(picture: Picture) -> None:
    boxes = sorted(picture.boxes.items(), key=lambda item: item[1].left)
    for i, (name, box) in enumerate(boxes):
        for other, other_box in boxes[i + 1 :]:
            if other_box.left >= box.right:
                break
            assert not overlap(box, other_box), f"{name} overlaps {other}"


def check_geometry(picture: Picture, edges: list[tuple[str, str]], direction: str) -> None:
    """No overlap, edges from box side to box side, downstream after upstream, routes clear of nodes."""
    assert_no_overlap(picture)
    assert set(picture.edges) == {(s, t) for s, t in edges if s != t}
    for (source, target), path in picture.edges.items():
        up, down = picture.boxes[source], picture.boxes[target]
        (x0, y0), (x1, y1) = ends(path)
        if direction == "LR":
            assert up.right < down.left, f"{target} is not right of {source}"
            assert abs(x0 - up.right) <= TOLERANCE and up.top <= y0 <= up.bottom
            assert abs(x1 - down.left) <= TOLERANCE and down.top <= y1 <= down.bottom
        else:
            assert up.bottom < down.top, f"{target} is not below {source}"
            assert abs(y0 - up.bottom) <= TOLERANCE and up.left <= x0 <= up.right
            assert abs(y1 - down.top) <= TOLERANCE and down.left <= x1 <= down.right
        for x, y in path_points(path.get("d", "")):
            crossed = [name for name, box in picture.boxes.items() if box.contains(x, y)]
            assert not crossed, f"edge {source} -> {target} runs through {crossed} at {x:.1f},{y:.1f}"


def test_every_node_is_drawn_once_with_its_classes_link_and_tooltip() -> None:
    picture = parse(layered_svg(LINEAGE_NODES, LINEAGE_EDGES, highlight="metric:leads"))
    assert set(picture.nodes) == {node.id for node in LINEAGE_NODES}
    leads = picture.nodes["metric:leads"]
    assert leads.get("class") == "node kind-metric status-on-track highlight"
    assert leads.get("data-status") == "on-track"
    link = leads.find(f"{SVG}a")
    assert link is not None and link.get("href") == "metrics/leads.html"
    assert [t.text for t in link.iter(f"{SVG}text")] == ["leads", "1,204"]
    assert picture.nodes["metric:mqls"].get("class") == "node kind-metric status-at-risk"
    assert picture.nodes["metric:rate"].get("data-status") == "no-data"
    source = picture.nodes["source:raw.leads"]
    assert source.get("class") == "node kind-source" and source.get("data-status") is None
    assert source.find(f"{SVG}a") is None
    assert source.findtext(f"{SVG}title") == "raw.leads (source)"
    assert picture.nodes["model:stg_leads"].find(f"{SVG}a") is not None


def test_the_svg_has_a_size_an_arrow_and_holds_every_node() -> None:
    svg = layered_svg(LINEAGE_NODES, LINEAGE_EDGES, highlight="metric:leads")
    picture = parse(svg)
    width, height = float(picture.root.get("width", "0")), float(picture.root.get("height", "0"))
    assert picture.root.get("viewBox") == f"0 0 {picture.root.get('width')} {picture.root.get('height')}"
    for box in picture.boxes.values():
        assert box.left >= 0 and box.top >= 0 and box.right <= width and box.bottom <= height
    markers = [marker.get("id") for marker in picture.root.iter(f"{SVG}marker")]
    assert len(markers) == 2 and markers[1] == f"{markers[0]}-highlight"
    for (source, target), path in picture.edges.items():
        touches = "metric:leads" in (source, target)
        assert ("highlight" in path.get("class", "").split()) == touches
        assert path.get("marker-end") == f"url(#{markers[1] if touches else markers[0]})"
        assert path.get("fill") == "none"
    other = parse(layered_svg(LINEAGE_NODES[:3], LINEAGE_EDGES[:2]))
    assert [marker.get("id") for marker in other.root.iter(f"{SVG}marker")] != markers[:1]


def test_lineage_left_to_right_geometry() -> None:
    check_geometry(parse(layered_svg(LINEAGE_NODES, LINEAGE_EDGES)), LINEAGE_EDGES, "LR")


def test_kpi_tree_top_to_bottom_geometry() -> None:
    check_geometry(parse(layered_svg(TREE_NODES, TREE_EDGES, "TB")), TREE_EDGES, "TB")


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("direction", ["LR", "TB"])
def test_random_graphs_geometry(seed: int, direction: str) -> None:
    nodes, edges = random_dag(seed, 35)
    check_geometry(parse(layered_svg(nodes, edges, direction)), edges, direction)


def test_layers_follow_the_longest_path_from_the_sources() -> None:
    # raw.leads -> stg_leads -> leads(dataset) -> leads(metric) -> rate -> table: six columns, in that order
    picture = parse(layered_svg(LINEAGE_NODES, LINEAGE_EDGES))
    column = {name: box.left + (box.right - box.left) / 2 for name, box in picture.boxes.items()}
    chain = ["source:raw.leads", "model:stg_leads", "dataset:leads", "metric:leads", "metric:rate"]
    xs = [column[name] for name in [*chain, "table:metrics.marketing_monthly"]]
    assert xs == sorted(xs) and len({round(x) for x in xs}) == 6
    assert column["metric:mqls"] == pytest.approx(column["metric:leads"], abs=TOLERANCE)


def test_node_boxes_fit_their_text() -> None:
    long_label = "a_rather_long_metric_label_of_44_characters_"
    nodes = [GraphNode("a", "a"), GraphNode("b", long_label, ("x" * 60,)), GraphNode("c", "c", ("1", "2", "3"))]
    picture = parse(layered_svg(nodes, [("a", "b"), ("a", "c")]))
    wide, tall, small = picture.boxes["b"], picture.boxes["c"], picture.boxes["a"]
    assert wide.right - wide.left >= 60 * 6  # the 60-character detail line, at ~6.5 px a character
    assert tall.bottom - tall.top > small.bottom - small.top + 3 * 14  # three more lines of ~16 px


def test_crossings_are_removed_when_the_id_order_would_cross() -> None:
    # in id order a over b and y over z, a -> z and b -> y would cross; the sweeps put z over y
    nodes = [GraphNode(name, name) for name in ("a", "b", "y", "z")]
    picture = parse(layered_svg(nodes, [("a", "z"), ("b", "y")]))
    assert picture.boxes["a"].top < picture.boxes["b"].top
    assert picture.boxes["z"].top < picture.boxes["y"].top


def test_a_tree_is_drawn_without_crossings() -> None:
    # the one order without crossings: leads, mql_rate, deal_size | calls, demos (any order within)
    picture = parse(layered_svg(TREE_NODES, TREE_EDGES, "TB"))
    left = {name: picture.boxes[name].left for name in ("leads", "mql_rate", "deal_size", "calls", "demos")}
    assert max(left["leads"], left["mql_rate"]) < left["deal_size"] < min(left["calls"], left["demos"])
    assert picture.boxes["pipeline"].left < picture.boxes["win_rate"].left


def test_the_same_graph_always_draws_the_same_bytes() -> None:
    nodes, edges = random_dag(3, 60)
    first = layered_svg(nodes, edges, highlight="n010")
    assert layered_svg(nodes, edges, highlight="n010") == first
    shuffled_nodes, shuffled_edges = list(nodes), list(edges) + edges[:5]  # and repeated edges
    random.Random(1).shuffle(shuffled_nodes)
    random.Random(2).shuffle(shuffled_edges)
    assert layered_svg(shuffled_nodes, shuffled_edges, highlight="n010") == first


def test_hostile_text_is_escaped() -> None:
    hostile = "<script>alert(\"x\")</script> & 'quotes'"
    nodes = [
        GraphNode('id"><script>', hostile, (hostile, "bell\x07 nul\x00"), title=hostile, href='x.html" onclick="y'),
        GraphNode("b", "b"),
    ]
    svg = layered_svg(nodes, [('id"><script>', "b")])
    assert "<script" not in svg and 'onclick="' not in svg
    picture = parse(svg)  # well-formed XML
    group = picture.nodes['id"><script>']
    assert [t.text for t in group.iter(f"{SVG}text")] == [hostile, hostile, "bell\ufffd nul\ufffd"]
    assert group.findtext(f"{SVG}title") == hostile
    link = group.find(f"{SVG}a")
    assert link is not None and link.get("href") == 'x.html" onclick="y'
    assert ('id"><script>', "b") in picture.edges


def test_a_cycle_is_drawn_and_does_not_hang() -> None:
    nodes = [GraphNode(name, name) for name in ("a", "b", "c", "d")]
    edges = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "d")]
    picture = parse(layered_svg(nodes, edges))
    assert set(picture.edges) == {("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")}  # a self-loop is left out
    back = [key for key, path in picture.edges.items() if "back" in path.get("class", "").split()]
    assert back == [("c", "a")]
    for (source, target), path in picture.edges.items():
        start, end = ends(path)
        assert picture.boxes[source].on_border(*start) and picture.boxes[target].on_border(*end)


def test_empty_and_single_node_graphs() -> None:
    assert parse(layered_svg([], [])).nodes == {}
    picture = parse(layered_svg([GraphNode("only", "only")], [], "TB"))
    assert list(picture.nodes) == ["only"] and picture.edges == {}


@pytest.mark.parametrize(
    ("nodes", "edges", "direction", "highlight", "message"),
    [
        ([GraphNode("a", "a")], [("a", "b")], "LR", None, "'b', which is not a node"),
        ([GraphNode("a", "a")], [], "RL", None, "direction must be LR or TB"),
        ([GraphNode("a", "a")], [], "LR", "z", "highlight 'z' is not a node"),
        ([GraphNode("a", "a"), GraphNode("a", "A")], [], "LR", None, "two different nodes have the id 'a'"),
    ],
)
def test_mistakes_of_the_caller_are_refused(
    nodes: list[GraphNode], edges: list[tuple[str, str]], direction: str, highlight: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        layered_svg(nodes, edges, direction, highlight)


def test_neighbourhood_is_the_node_its_ancestors_and_descendants() -> None:
    #   r1 -> m1 -> d1 -> k1 -> t1        r2 -> m2 -> d2 -> k3
    #               d1 -> k2 -> t1                    d2 -> k4 -> t1
    #                     k1 -> k5 <- k3   (a derived metric from both sides)
    edges = [
        ("r1", "m1"), ("m1", "d1"), ("d1", "k1"), ("d1", "k2"), ("k1", "t1"), ("k2", "t1"),
        ("r2", "m2"), ("m2", "d2"), ("d2", "k3"), ("d2", "k4"), ("k4", "t1"), ("k1", "k5"), ("k3", "k5"),
    ]  # fmt: skip
    assert neighbourhood(edges, "k1") == {"k1", "d1", "m1", "r1", "t1", "k5"}
    assert neighbourhood(edges, "k5") == {"k5", "k1", "k3", "d1", "m1", "r1", "d2", "m2", "r2"}
    assert neighbourhood(edges, "d2") == {"d2", "m2", "r2", "k3", "k4", "k5", "t1"}
    assert neighbourhood(edges, "t1") == {"t1", "k1", "k2", "k4", "d1", "d2", "m1", "m2", "r1", "r2"}
    assert neighbourhood(edges, "lonely") == {"lonely"}
    assert neighbourhood([("a", "b"), ("b", "a")], "a") == {"a", "b"}  # a cycle ends


def test_a_thousand_metric_project_lays_out_without_overlap() -> None:
    # its speed is measured in bench/bench_docs.py, not here
    nodes, edges = project_graph(1000)
    picture = parse(layered_svg(nodes, edges))
    assert len(picture.nodes) == len(nodes) == 1126
    assert len(picture.edges) == len(set(edges))
    assert_no_overlap(picture)
