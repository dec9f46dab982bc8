"""Names derived once (kpiframe.load.names) and dependency graphs through graphlib (kpiframe.load.dag)."""

from __future__ import annotations

import hashlib
import json
from itertools import pairwise, permutations
from pathlib import Path

import pytest

from kpiframe.build.selection import node_hash
from kpiframe.load.dag import dependency_order, reachable, reverse
from kpiframe.load.names import NODE_KINDS, NodeKey, funnel_model, funnel_table, membership_model, version_model
from kpiframe.project import Project
from tests.conftest import write_files


# --- NodeKey --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "kind", "name"),
    [
        ("model:stg_orders", "model", "stg_orders"),
        ("source:raw.orders", "source", "raw.orders"),
        ("project:kpi_project", "project", "kpi_project"),
        ("target:leads/plan[region=emea]@2026-01-01", "target", "leads/plan[region=emea]@2026-01-01"),
        ("target:a:b", "target", "a:b"),  # only the first colon separates the kind
    ],
)
def test_node_key_round_trip(text: str, kind: str, name: str) -> None:
    key = NodeKey.parse(text)
    assert (key.kind, key.name) == (kind, name)
    assert str(key) == text
    assert NodeKey.parse(str(NodeKey(kind, name))) == NodeKey(kind, name)


@pytest.mark.parametrize("text", ["stg_orders", "widget:stg_orders", "model:", ":stg_orders", "", "Model:orders"])
def test_node_key_refuses_text_without_a_known_kind(text: str) -> None:
    with pytest.raises(ValueError, match="not a node key"):
        NodeKey.parse(text)


def test_a_node_key_is_a_value_not_its_text() -> None:
    assert NodeKey("model", "orders") != "model:orders"
    assert NodeKey("model", "orders") == NodeKey("model", "orders")
    assert len({NodeKey("model", "orders"), NodeKey("dataset", "orders"), NodeKey("model", "orders")}) == 2


def test_node_keys_sort_as_their_text() -> None:
    """kpiframe diff lists keys sorted: the order must not change with the move from text to keys."""
    names = ["orders", "orders_v2", "order", "a.b", "z"]
    for first, second in permutations(NODE_KINDS, 2):
        keys = [NodeKey(kind, name) for kind in (first, second) for name in names]
        assert [str(k) for k in sorted(keys)] == sorted(str(k) for k in keys)


def test_generated_names() -> None:
    assert version_model("mql", 2) == "mql_v2"
    assert membership_model("mql") == "mql_membership"
    assert funnel_model("signup") == "funnel_signup"
    assert funnel_table("signup") == "funnel_signup_monthly"
    assert funnel_table("signup", ("channel",)) == "funnel_signup_monthly_by_channel"


# --- dependency_order -----------------------------------------------------------------------------------
def test_dependency_order_of_a_chain() -> None:
    assert dependency_order({"c": ["b"], "b": ["a"], "a": []}) == (["a", "b", "c"], None)


def test_dependency_order_of_a_diamond() -> None:
    order, cycle = dependency_order({"d": ["c", "b"], "c": ["a"], "b": ["a"], "a": []})
    assert cycle is None
    assert order == ["a", "b", "c", "d"]  # b and c are ready together: by name


def test_dependency_order_reports_a_cycle_as_a_path() -> None:
    depends_on = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"], "e": []}
    order, cycle = dependency_order(depends_on)
    assert cycle is not None
    assert cycle[0] == cycle[-1] and sorted(cycle[:-1]) == ["a", "b", "c"]
    for node, dependency in pairwise(cycle):  # read left to right: `a -> b` means a depends on b
        assert dependency in depends_on[node], (node, dependency, cycle)
    assert sorted(order) == ["a", "b", "c", "d", "e"]


def test_dependency_order_of_a_two_node_cycle() -> None:
    assert dependency_order({"a": ["b"], "b": ["a"]})[1] in (["a", "b", "a"], ["b", "a", "b"])


def test_dependency_order_ignores_dependencies_that_are_not_nodes() -> None:
    assert dependency_order({"b": ["a", "raw.orders"], "a": ["ghost"]}) == (["a", "b"], None)


# --- reachable and reverse ------------------------------------------------------------------------------
EDGES = {"a": {"b", "c"}, "b": {"d"}, "c": {"d"}, "d": set(), "e": {"a"}, "x": {"y"}, "y": {"x"}}


def test_reachable_includes_the_start_and_follows_edges_only_forward() -> None:
    assert reachable({"a"}, EDGES) == {"a", "b", "c", "d"}
    assert reachable({"d"}, EDGES) == {"d"}
    assert reachable({"b", "x"}, EDGES) == {"b", "d", "x", "y"}  # a cycle ends
    assert reachable({"unknown"}, EDGES) == {"unknown"}
    assert reachable(set(), EDGES) == set()


def test_reverse_then_reachable_is_upstream() -> None:
    assert reverse(EDGES)["d"] == {"b", "c"}
    assert "e" not in reverse(EDGES)  # nothing points at e
    assert reachable({"d"}, reverse(EDGES)) == {"a", "b", "c", "d", "e"}


def test_reachable_over_node_keys() -> None:
    model, dataset, metric = NodeKey("model", "m"), NodeKey("dataset", "m"), NodeKey("metric", "n")
    assert reachable([model], {model: [dataset], dataset: [metric]}) == {model, dataset, metric}


# --- the state hash: written by compile, read by state:modified -----------------------------------------
TINY = {
    "kpi_project.yml": """
        name: tiny
        warehouse: {path: tiny.duckdb}
    """,
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - {name: orders, columns: [order_id, status, {name: ordered_at, type: TIMESTAMP}]}
    """,
    "models/paid_orders.sql": """
        select order_id, ordered_at::date as ordered_on
        from {{ source('raw', 'orders') }}
        where status = 'paid'
    """,
}


def test_manifest_hash_is_the_hash_state_modified_compares(tmp_path: Path) -> None:
    root = write_files(tmp_path / "tiny", TINY)
    project = Project.load(root)
    hashes = {}
    for dialect in ("duckdb", "postgres"):
        manifest = json.loads(project.compile(dialect).read_text(encoding="utf-8"))
        hashes[dialect] = manifest["nodes"]["model.paid_orders"]["hash"]
    node = next(n for n in project.nodes() if (n.kind, n.name) == ("model", "paid_orders"))
    written = (root / "target" / "compiled" / "duckdb" / "models" / "paid_orders.sql").read_text(encoding="utf-8")
    by_hand = hashlib.sha256(written.removesuffix("\n").encode()).hexdigest()
    # of the DuckDB SQL whatever the dialect compiled, so a state saved from any dialect compares
    assert hashes["duckdb"] == hashes["postgres"] == by_hand
    assert node_hash(node) == by_hand
