"""write_target renders the nodes' trees in place, without sqlglot's copy of each (issue 12, point 8): the
trees the loaded project keeps must come out of a compile exactly as they went in, and every file and
hash must be what sqlglot's copying rendering gives."""

from __future__ import annotations

import json

import pytest
import sqlglot
from sqlglot import exp

from kpiframe.build.plan import CompiledNode, _rendered, compile_nodes
from kpiframe.load.names import sql_hash
from kpiframe.project import Project
from tests.conftest import copy_example


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return Project.load(copy_example(tmp_path_factory.mktemp("owned")))


def loaded_trees(project: Project) -> dict[str, exp.Expr]:
    """Every tree the loaded project keeps: each model's and each published table's planned SELECT."""
    trees: dict[str, exp.Expr] = {f"model.{m.name}": m.tree for m in project.graph.models.values() if m.tree}
    trees.update({f"table.{name}": tree for name, tree in project.graph.table_queries.items()})
    return trees


def test_compile_leaves_the_loaded_trees_unchanged(example: Project) -> None:
    trees = loaded_trees(example)
    before = {key: (tree.copy(), tree.sql(dialect="duckdb", pretty=True)) for key, tree in trees.items()}
    for dialect in ("duckdb", "postgres", "duckdb"):
        example.compile(dialect)
    after = loaded_trees(example)
    assert after.keys() == before.keys()
    for key, (copied, sql) in before.items():
        assert after[key] == copied, key
        assert after[key].sql(dialect="duckdb", pretty=True) == sql, key
        assert after[key].parent is None, key
        for node in after[key].walk():  # no node was moved into a compiled tree: its parent would have changed
            assert node is after[key] or node in node.parent.iter_expressions(), key


def test_compiled_trees_are_the_nodes_own_but_the_planned_tables(example: Project) -> None:
    """A published table's node holds the planned tree (write_target renders it from a copy); every other
    node's tree shares no node with the loaded project (write_target renders it in place)."""
    planned = {id(tree) for tree in example.graph.table_queries.values()}
    kept = {id(node) for tree in loaded_trees(example).values() for node in tree.walk()}
    nodes = compile_nodes(example.graph, example.layer)
    assert {id(n.query) for n in nodes} >= planned
    for node in nodes:
        assert node.query.parent is None, node.name
        if id(node.query) not in planned:
            assert not any(id(part) in kept for part in node.query.walk()), node.name


@pytest.mark.parametrize("dialect", ["duckdb", "postgres"])
def test_target_files_are_the_copying_rendering(example: Project, dialect: str) -> None:
    """Each compiled file and manifest hash is what rendering a copy of the tree gives, compile after compile."""
    expected = {
        n.name: (n.query.sql(dialect=dialect, pretty=True), sql_hash(n.query))
        for n in compile_nodes(example.graph, example.layer)
    }
    for _ in range(2):  # the second compile renders what the first left: nothing shared was changed
        manifest = json.loads(example.compile(dialect).read_text())
        compiled = example.root / "target" / "compiled" / dialect
        for name, (sql, digest) in expected.items():
            node = manifest["nodes"].get(f"model.{name}") or manifest["nodes"][f"table.{name}"]
            assert node["compiled_sql"] == sql, name
            assert node["hash"] == digest, name
            folder = "models" if node["kind"] == "model" else "tables"
            assert (compiled / folder / f"{name}.sql").read_text() == sql + "\n", name


def test_a_tree_under_another_is_rendered_from_a_copy() -> None:
    """A view's query placed in its CREATE (a build does that) still renders as a root would, and stays as
    it was: rendered in place, Spark would leave the nested WITH where it is."""
    query = sqlglot.parse_one("select x from (with c as (select 1 as x) select x from c) as s", dialect="duckdb")
    expected = query.sql(dialect="spark", pretty=True)
    exp.Create(this=exp.to_table("analytics.v"), kind="VIEW", expression=query)
    before = query.copy()
    node = CompiledNode("v", "model", "analytics", query, "view", (), "models/v.sql")
    assert _rendered(node, "spark", own=True) == (expected, sql_hash(before))
    assert expected.startswith("WITH")
    assert query == before
