"""Draw the collected SiteData as static HTML: Jinja templates, graphs as inline SVG, charts as
plotly.js figures. Every file a page needs is written next to it, so the site opens offline."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from kpiframe.docsite import charts
from kpiframe.docsite.graph_layout import Reach
from kpiframe.docsite.graph_svg import GraphNode, layered_svg
from kpiframe.docsite.model import LineageNode, MetricEntry, SiteData, TreeView
from kpiframe.errors import KpiframeError

ASSETS = ("site.css", "site.js")
SECTIONS = (  # (page, title) of the navigation bar, in its order
    ("index.html", "Overview"),
    ("metrics.html", "Metrics"),
    ("lineage.html", "Lineage"),
    ("trees.html", "KPI trees"),
    ("funnels.html", "Funnels"),
    ("definitions.html", "Definitions"),
    ("quality.html", "Quality and runs"),
)
STATUS_SLUGS = {"on track": "on-track", "at risk": "at-risk", "off track": "off-track", "no target": "no-target"}


def write_site(data: SiteData, output: Path) -> list[Path]:
    """Write every page, the assets and site.json into `output`; returns the pages written."""
    _prepare(output)
    _copy_assets(output / "assets")
    env = _environment()
    site = _Site(data)
    written = [_write(env, output, page, site.context(page, title)) for page, title in SECTIONS]
    written.append(_write(env, output, "objects.html", site.context("objects.html", "Models and tables")))
    (output / "metrics").mkdir(exist_ok=True)
    for metric in data["metrics"]:
        page = f"metrics/{metric_file(metric['name'])}"
        written.append(_write(env, output, page, site.metric_context(metric), template="metric.html"))
    (output / "site.json").write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    return written


def metric_file(name: str) -> str:
    """The page of a metric; names are identifiers, but a page name must never leave its folder."""
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in name) + ".html"


def status_slug(status: str) -> str:
    return STATUS_SLUGS.get(status, "no-data")


def _prepare(output: Path) -> None:
    try:
        output.mkdir(parents=True, exist_ok=True)
        probe = output / ".kpiframe-write-check"
        probe.write_text("", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        raise KpiframeError(
            f"cannot write the docs site to {output}: {exc.strerror or exc}",
            code="KF981",
            hint="pass --output with a folder kpiframe may write (default target/docs)",
        ) from None


def _copy_assets(folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    own = resources.files("kpiframe.docsite") / "assets"
    for name in ASSETS:
        (folder / name).write_bytes((own / name).read_bytes())
    # plotly.js ships inside the plotly wheel: the site carries its own copy, no CDN
    plotly_js = resources.files("plotly") / "package_data" / "plotly.min.js"
    target = folder / "plotly.min.js"
    if not target.exists() or target.stat().st_size != len(plotly_js.read_bytes()):
        with resources.as_file(plotly_js) as source:
            shutil.copyfile(source, target)


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("kpiframe.docsite", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = format_value
    env.filters["pct"] = lambda v: "–" if v is None else f"{100 * v:,.1f} %"
    env.filters["status_slug"] = status_slug
    env.filters["metric_file"] = metric_file
    env.filters["json_script"] = json_script
    env.filters["anchor"] = anchor
    return env


def _write(env: Environment, output: Path, page: str, context: dict[str, Any], template: str | None = None) -> Path:
    path = output / page
    html = env.get_template(template or page).render(**context)
    path.write_text(html, encoding="utf-8")
    return path


def format_value(value: object, unit: str | None = None) -> str:
    """6.9 % for a percent, 1,085 for a count, 12,345.68 for money: what people read in a report."""
    if value is None or isinstance(value, bool):
        return "–"
    if not isinstance(value, (int, float)):
        return str(value)
    if value != value:  # NaN
        return "–"
    if unit == "percent":
        return f"{100 * value:,.1f} %"
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def json_script(value: object) -> Markup:
    """JSON safe inside <script type="application/json">: no `</script>` can end it early."""
    text = json.dumps(value, default=str).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


class _Site:
    """The page contexts: what each template needs, worked out once from the SiteData."""

    def __init__(self, data: SiteData) -> None:
        self.data = data
        self.trends = {t["metric"]: t for t in data["trends"]}
        self.lineage_nodes = {n["id"]: n for n in data["lineage"]["nodes"]}
        self.reach = Reach(data["lineage"]["edges"])
        self.upstream: dict[str, list[str]] = {}
        self.downstream: dict[str, list[str]] = {}
        for up, down in data["lineage"]["edges"]:
            self.downstream.setdefault(up, []).append(down)
            self.upstream.setdefault(down, []).append(up)

    def base(self, page: str, title: str) -> dict[str, Any]:
        root = "../" * page.count("/")
        return {"site": self.data, "root": root, "page": page, "title": title, "sections": SECTIONS}

    def context(self, page: str, title: str) -> dict[str, Any]:
        context = self.base(page, title)
        if page == "lineage.html":
            lineage = self.data["lineage"]
            context["svg"] = Markup(lineage_svg(lineage["nodes"], lineage["edges"], root=""))
        elif page == "trees.html":
            context["trees"] = [(tree, Markup(tree_svg(tree))) for tree in self.data["trees"]]
        elif page == "funnels.html":
            context["funnels"] = [(funnel, charts.funnel_chart(funnel)) for funnel in self.data["funnels"]]
            context["charts_used"] = any(figure for _, figure in context["funnels"])
        elif page == "quality.html":
            context["quality_chart"] = charts.quality_chart(self.data["expectations"])
            context["charts_used"] = context["quality_chart"] is not None
            context["latest_results"] = _latest_results(self.data)
        elif page == "objects.html":
            context["objects"] = [
                (node, self.upstream.get(node["id"], []), self.downstream.get(node["id"], []))
                for node in self.data["lineage"]["nodes"]
                if node["kind"] != "metric"
            ]
            context["names"] = {i: n["name"] for i, n in self.lineage_nodes.items()}
        elif page == "index.html":
            context["status_counts"] = _status_counts(self.data["trees"])
        return context

    def metric_context(self, metric: MetricEntry) -> dict[str, Any]:
        context = self.base(f"metrics/{metric_file(metric['name'])}", metric["label"] or metric["name"])
        node_id = f"metric:{metric['name']}"
        keep = self.reach.around(node_id) if node_id in self.lineage_nodes else set()
        context["metric"] = metric
        nodes = [self.lineage_nodes[i] for i in sorted(keep)]
        edges = [(a, b) for a in sorted(keep) for b in self.reach.down.get(a, ()) if b in keep]
        context["svg"] = Markup(lineage_svg(nodes, edges, root="../", highlight=node_id if keep else None))
        trend = self.trends.get(metric["name"])
        context["trend"] = trend
        context["trend_figure"] = charts.trend_chart(trend) if trend else None
        context["charts_used"] = context["trend_figure"] is not None
        return context


def lineage_svg(
    nodes: Iterable[LineageNode], edges: Iterable[tuple[str, str]], root: str, highlight: str | None = None
) -> str:
    """The lineage picture of these nodes and the edges between them."""
    graph_nodes = [
        GraphNode(
            id=n["id"],
            label=n["name"],
            kind=n["kind"],
            href=_lineage_href(n["kind"], n["name"], n["id"], root),
            title=f"{n['kind']} {n['name']}" + (f" ({n['file']})" if n["file"] else ""),
        )
        for n in nodes
    ]
    return layered_svg(graph_nodes, list(edges), direction="LR", highlight=highlight)


def _lineage_href(kind: str, name: str, node_id: str, root: str) -> str:
    if kind == "metric":
        return f"{root}metrics/{metric_file(name)}"
    return f"{root}objects.html#{anchor(node_id)}"


def anchor(node_id: str) -> str:
    return "node-" + "".join(c if c.isalnum() or c in "_-." else "-" for c in node_id)


def tree_svg(tree: TreeView) -> str:
    """KGI -> KSF -> KPI, and each formula's drivers under the node they compute; coloured by status."""
    by_name = {n["node"]: n for n in tree["nodes"]}
    nodes: list[GraphNode] = []
    edges: list[tuple[str, str]] = []
    kgi = next((n for n in tree["nodes"] if n["role"] == "kgi"), None)
    ksfs = list(dict.fromkeys(n["ksf"] for n in tree["nodes"] if n["ksf"] and n["role"] != "kgi"))
    for ksf in ksfs:
        nodes.append(GraphNode(id=f"ksf:{ksf}", label=ksf, detail=("key success factor",), kind="ksf"))
        if kgi:
            edges.append((f"node:{kgi['node']}", f"ksf:{ksf}"))
    for node in tree["nodes"]:
        nodes.append(_tree_node(node, tree))
        if node["role"] == "kpi" and node["ksf"]:
            edges.append((f"ksf:{node['ksf']}", f"node:{node['node']}"))
        for child in node["children"]:
            if child in by_name and (by_name[child]["role"] == "driver" or not by_name[child]["ksf"]):
                edges.append((f"node:{node['node']}", f"node:{child}"))
    return layered_svg(nodes, list(dict.fromkeys(edges)), direction="TB")


def _tree_node(node: Any, tree: TreeView) -> GraphNode:
    unit = node["unit"]
    detail = [f"{format_value(node['actual'], unit)} / {format_value(node['target'], unit)}"]
    if node["attainment"] is not None:
        detail.append(f"attained {100 * node['attainment']:.0f} %")
    if node["projection"] is not None:
        detail.append(f"projected {format_value(node['projection'], unit)}")
    detail.append(node["status"])
    return GraphNode(
        id=f"node:{node['node']}",
        label=node["node"],
        detail=tuple(detail),
        kind=node["role"],
        status=status_slug(node["status"]),
        href=f"metrics/{metric_file(node['metric'])}",
        title=f"{node['metric']}: {node['status']} in {tree['period']}",
    )


def _status_counts(trees: Iterable[TreeView]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for tree in trees:
        for node in tree["nodes"]:
            counts[node["status"]] = counts.get(node["status"], 0) + 1
    return counts


def _latest_results(data: SiteData) -> list[Any]:
    if not data["expectations"]:
        return []
    latest = data["expectations"][-1]["run_id"]
    return sorted((r for r in data["expectations"] if r["run_id"] == latest), key=lambda r: r["success"])
