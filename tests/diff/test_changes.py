"""What changed, what it reaches, and whether it breaks readers: v1 (main) against v2 (the pull request)."""

from __future__ import annotations

import pytest

from kpiframe.diff import diff_project
from kpiframe.diff.changes import breaks_readers, column_changes
from kpiframe.diff.model import ColumnChange, DiffReport, ObjectChange
from tests.conftest import write_files
from tests.diff.conftest import SUBDIR, V2, git


@pytest.fixture(scope="session")
def pr(project_dir) -> DiffReport:
    return diff_project(project_dir, base="main", head="HEAD~2")


def changes(report: DiffReport) -> dict[str, ObjectChange]:
    return {c.key: c for c in report.changes}


def test_objects_added_and_changed_and_nothing_else(pr):
    assert {key: c.status for key, c in changes(pr).items()} == {
        "model:stg_orders": "changed",
        "dataset:orders": "changed",
        "definition:mql": "changed",
        "metric:leads": "changed",
        "metric:mqls_v2": "added",
        "metric:paid_orders": "changed",
        "table:leads_monthly": "changed",
        "table:shop_monthly": "affected",  # its spec did not change; what it shows did
    }
    # stg_customers was only re-formatted and commented: the same SQL, so not a change


def test_yaml_fields_old_and_new(pr):
    found = changes(pr)
    assert [(f.path, f.old, f.new) for f in found["metric:paid_orders"].fields] == [
        ("filter", "status = 'paid'", "status = 'paid' and amount >= 30")
    ]
    assert [(f.path, f.old, f.new) for f in found["metric:leads"].fields] == [
        ("description", "Leads created.", "Leads created in the period.")
    ]
    assert [(f.path, f.old, f.new) for f in found["table:leads_monthly"].fields] == [
        ("metrics", ["leads", "mqls"], ["leads", "mqls", "mqls_v2"])
    ]
    added = found["dataset:orders"].fields
    assert [(f.path, f.old) for f in added] == [("dimensions[amount]", None)] and added[0].new["name"] == "amount"
    version = found["definition:mql"].fields
    assert [(f.path, f.old) for f in version] == [("versions[2]", None)]
    assert version[0].new["rule"]["fit"] == ["employee_count >= 100"]


def test_sql_is_compared_as_trees(pr):
    found = changes(pr)
    assert found["model:stg_orders"].sql == ["WHERE condition: status <> 'test' → NOT status IN ('test', 'refunded')"]
    generated = found["definition:mql"].generated
    assert "model mql_v2 added" in generated and "dataset mql_v2 added" in generated
    membership = [line for line in generated if line.startswith("model mql_membership")]
    assert membership == [
        "model mql_membership: UNION branch added: SELECT lead_id, 2 AS version, qualified_at, "
        'score_at_qualification FROM "analytics"."mql_v2"'
    ]


def test_downstream_objects_and_published_tables(pr):
    found = changes(pr)
    model = found["model:stg_orders"]
    assert model.downstream[:2] == ["dataset:orders", "model:order_cents"]  # nearest first
    assert {
        "metric:orders",
        "metric:revenue",
        "metric:paid_orders",
        "metric:paid_share",
        "metric:aov",
        "table:shop_monthly",
    } <= set(model.downstream)
    assert model.tables == ["shop_monthly"]
    assert found["metric:paid_orders"].downstream == ["metric:paid_share"]
    assert found["metric:paid_orders"].tables == []
    assert found["definition:mql"].downstream == [
        "model:mql_membership",
        "model:mql_v2",
        "dataset:mql_v2",
        "metric:mqls_v2",
        "table:leads_monthly",
    ]
    assert found["metric:leads"].downstream == ["table:leads_monthly"]


def test_breaking_or_not_and_why(pr):
    found = changes(pr)
    assert {key for key, c in found.items() if c.breaking} == {
        "model:stg_orders",
        "metric:paid_orders",
        "table:shop_monthly",
    }
    assert "its meaning changed: SQL" in found["model:stg_orders"].reasons
    assert "published tables affected: shop_monthly" in found["model:stg_orders"].reasons
    assert found["metric:paid_orders"].reasons[:2] == [
        "its meaning changed: filter",
        "upstream change: model stg_orders",
    ]
    assert "metric orders changed meaning (upstream: model stg_orders)" in found["table:shop_monthly"].reasons
    # not breaking: documentation, an added metric and column, a new definition version that is not current,
    # a new dimension
    assert found["metric:leads"].reasons == ["documentation only: description"]
    assert found["metric:mqls_v2"].reasons == ["added: nothing read it before"]
    assert found["table:leads_monthly"].columns == [ColumnChange("mqls_v2", "added", None, "BIGINT")]
    assert found["table:leads_monthly"].reasons == ["column mqls_v2 added"]
    assert found["definition:mql"].reasons == ["no metric or published table that existed before reads it"]
    assert found["dataset:orders"].reasons[0] == "adds dimensions[amount]"


def test_a_removed_published_column_is_breaking(project_dir):
    report = diff_project(project_dir, base="HEAD~2", head="HEAD~1", impact=False)
    assert [(c.key, c.breaking) for c in report.changes] == [("table:shop_monthly", True)]
    table = report.changes[0]
    assert table.columns == [ColumnChange("aov", "removed", "DOUBLE", None)]
    assert table.reasons == ["column aov removed"]


def test_labels_and_descriptions_are_not_breaking(project_dir):
    report = diff_project(project_dir, base="HEAD~1", head="HEAD", impact=False)
    assert [(c.key, c.breaking, [f.path for f in c.fields]) for c in report.changes] == [
        ("metric:orders", False, ["label", "description"])
    ]
    assert report.breaking == []


def test_a_retyped_column_breaks_readers_when_its_kind_of_type_changes():
    found = column_changes(
        {"a": "BIGINT", "b": "DECIMAL(10,2)", "c": "VARCHAR", "e": "DATE"},
        {"a": "INTEGER", "b": "DOUBLE", "c": "DATE", "d": "VARCHAR"},
    )
    assert [(c.column, c.change, breaks_readers(c)) for c in found] == [
        ("e", "removed", True),
        ("d", "added", False),
        ("a", "retyped", False),
        ("b", "retyped", False),
        ("c", "retyped", True),
    ]


def test_making_another_version_current_compares_who_qualifies(repo, project_dir, tmp_path):
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    switched = (
        V2["metrics/leads.yml"]
        .replace("current: 1", "current: 2")
        .replace(
            "change_note: Sales asked",
            "approvals: [{team: marketing, by: ann, on: 2026-05-01}]\n            change_note: Sales asked",
        )
    )
    write_files(clone / SUBDIR, {"metrics/leads.yml": switched})
    report = diff_project(clone / SUBDIR, base="HEAD", warehouse=str(project_dir / "shop.duckdb"))
    mql = next(c for c in report.changes if c.key == "definition:mql")
    assert ("current", 1, 2) in [(f.path, f.old, f.new) for f in mql.fields]
    assert "dataset mql: model: mql_v1 → mql_v2" in mql.generated
    assert mql.series == ["mql v2 vs v1"]
    assert [(p.old, p.new, p.left, p.entered) for p in report.series["mql v2 vs v1"].periods] == [
        (1, 1, 1, 1),
        (1, 1, 0, 0),
        (3, 2, 1, 0),
    ]
