"""Choosing which nodes a build runs: by name, tag, upstream (+x), downstream (x+) and state:modified.

`state:modified` compares each node's compiled SQL with a manifest saved earlier (for example the one
production last built), so CI can build only what a pull request changed, plus what depends on it.
"""

from __future__ import annotations

import json
from pathlib import Path

from kpiframe.build.plan import CompiledNode
from kpiframe.errors import KpiframeError
from kpiframe.load.dag import reachable, reverse
from kpiframe.load.loaded import LoadedProject
from kpiframe.load.names import manifest_key, sql_hash
from kpiframe.suggest import unknown


def node_hash(node: CompiledNode) -> str:
    """The same hash the manifest stores: of the node's compiled DuckDB SQL."""
    return sql_hash(node.query)


class NothingSelected(KpiframeError):
    """A valid selection that matches no node (e.g. state:modified when nothing changed): nothing runs.

    Not a failure, so its exit code is 0 and it reads as a note, like dbt's "Nothing to do"; a
    misspelt name or tag is a KpiframeError instead (KF450, KF455).
    """

    exit_code = 0

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("nothing to build: " + "; ".join(reasons), code="KF456")

    def render(self) -> str:
        return self.diagnostic.message


def select_nodes(
    nodes: list[CompiledNode], graph: LoadedProject, selectors: list[str], state: Path | None = None
) -> list[CompiledNode]:
    """The nodes the selectors name, in build order; no selector means every node.

    Raises NothingSelected when every selector is valid but none matches a node.
    """
    if not selectors:
        return nodes
    upstream: dict[str, set[str]] = {n.name: set() for n in nodes}
    for node in nodes:
        upstream[node.name] |= {dep for dep in node.depends_on if dep in upstream}
    downstream = reverse(upstream)
    chosen: set[str] = set()
    empty: list[str] = []
    for selector in selectors:
        with_up, with_down = selector.startswith("+"), selector.endswith("+")
        core = selector.strip("+")
        found = _match(core, nodes, graph, state)
        if not found:
            empty.append(f"'{selector}' {_why_empty(core, state)}")
        if with_up:
            found = reachable(found, upstream)
        if with_down:
            found = reachable(found, downstream)
        chosen |= found
    if not chosen:
        raise NothingSelected(empty)
    return [n for n in nodes if n.name in chosen]


def _why_empty(core: str, state: Path | None) -> str:
    if core.startswith("state:"):
        return f"matches no node: none changed since {state}"
    if core.startswith("tag:"):
        return "matches no model and no published table (its metrics are in none)"
    return "is a metric that no published table shows"


def _match(core: str, nodes: list[CompiledNode], graph: LoadedProject, state: Path | None) -> set[str]:
    names = {n.name for n in nodes}
    if core.startswith("tag:"):
        tag = core.removeprefix("tag:")
        _require_tag(tag, graph)
        found = {m.name for m in graph.models.values() if tag in m.spec.tags}
        found |= {
            t
            for t, located in graph.tables.items()
            if any(
                tag in getattr(graph.metrics[m].spec, "tags", []) for m in located.spec.metrics if m in graph.metrics
            )
        }
        return found & names
    if core.startswith("state:"):
        if core != "state:modified":
            raise KpiframeError(f"unknown state selector '{core}'", code="KF451", hint="use state:modified")
        return _modified(nodes, state)
    if core in names:
        return {core}
    if core in graph.metrics:  # a metric selects the published tables that show it
        return {t for t, located in graph.tables.items() if core in located.spec.metrics}
    message, hint = unknown("node", core, names | set(graph.metrics))
    raise KpiframeError(message, code="KF450", hint=hint or "select models, tables, metrics, tag:X or state:modified")


def _require_tag(tag: str, graph: LoadedProject) -> None:
    """A tag no model or metric carries is a typo, not an empty selection."""
    known = {t for m in graph.models.values() for t in m.spec.tags}
    known |= {t for located in graph.metrics.values() for t in getattr(located.spec, "tags", [])}
    if tag not in known:
        message, hint = unknown("tag", tag, known)
        raise KpiframeError(message, code="KF455", hint=hint)


def _modified(nodes: list[CompiledNode], state: Path | None) -> set[str]:
    if state is None:
        raise KpiframeError(
            "state:modified needs --state PATH, a manifest.json saved from a previous compile",
            code="KF452",
            hint="e.g. keep production's target/manifest.json and pass it here",
        )
    try:
        saved = json.loads(Path(state).read_text(encoding="utf-8"))["nodes"]
    except (OSError, ValueError, KeyError) as exc:
        raise KpiframeError(f"cannot read state manifest {state}: {exc}", code="KF453") from None
    return {n.name for n in nodes if saved.get(manifest_key(n.kind, n.name), {}).get("hash") != node_hash(n)}
