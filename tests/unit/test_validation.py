"""Bad project files give located diagnostics with stable codes, all collected before stopping."""

from __future__ import annotations

import pytest

from kpiframe.errors import KpiframeError, ProjectInvalid
from kpiframe.project import Project


def problems(root) -> list[str]:
    with pytest.raises(ProjectInvalid) as caught:
        Project.load(root)
    return [d.render() for d in caught.value.diagnostics]


def test_the_shop_project_is_valid(make_project):
    project = Project.load(make_project(rows=False))
    assert set(project.graph.models) == {"stg_orders", "stg_customers", "order_cents"}
    assert project.graph.order.index("stg_orders") < project.graph.order.index("order_cents")


def test_misspelt_metric_points_at_its_line_with_a_suggestion(make_project):
    root = make_project(
        {
            "metrics/extra.yml": """
        metrics:
          - name: share
            type: ratio
            numerator: revenu
            denominator: orders
    """
        },
        rows=False,
    )
    found = problems(root)
    assert found == ["metrics/extra.yml:4:16: error[KF104]: unknown metric 'revenu' (did you mean 'revenue'?)"]


def test_every_problem_is_collected(make_project):
    root = make_project(
        {
            "metrics/extra.yml": """
        metrics:
          - {name: a, measure: nope}
          - {name: b, type: ratio, numerator: a}
          - {name: c, measure: order_count, colour: red}
    """
        },
        rows=False,
    )
    found = "\n".join(problems(root))
    assert "metrics/extra.yml:2:24: error[KF201]: unknown measure 'nope'" in found
    assert "error[KF014]: metrics.1: a ratio metric needs 'denominator'" in found
    assert "error[KF012]: unknown key 'colour'" in found
    assert found.count("error[") == 3


def test_malformed_yaml_reports_line(make_project):
    root = make_project({"metrics/broken.yml": "metrics:\n  - name: x\n   measure: [\n"}, rows=False)
    found = problems(root)
    assert found[0].startswith("metrics/broken.yml:3:") and "KF003" in found[0]


def test_file_that_is_not_utf8(make_project):
    root = make_project(rows=False)
    (root / "metrics" / "latin1.yml").write_bytes("metrics:\n  - name: caf\xe9\n".encode("latin-1"))
    assert "metrics/latin1.yml: error[KF002]: file is not valid UTF-8" in problems(root)[0]


def test_duplicate_names(make_project):
    root = make_project({"metrics/dup.yml": "metrics:\n  - {name: orders, measure: order_count}\n"}, rows=False)
    found = problems(root)[0]
    assert "error[KF021]: duplicate metric name 'orders'" in found and "first defined at metrics/" in found


def test_unknown_ref_and_cycle(make_project):
    root = make_project(
        {
            "models/a.sql": "select * from {{ ref('b') }}",
            "models/b.sql": "select * from {{ ref('a') }}",
            "models/c.sql": "select * from {{ ref('stg_order') }}",
        },
        rows=False,
    )
    found = "\n".join(problems(root))
    assert "models/c.sql:1:23: error[KF104]: unknown model 'stg_order' (did you mean 'stg_orders'?)" in found
    assert "error[KF106]: dependency cycle: a -> b -> a" in found


def test_sandbox_blocks_python_internals(make_project):
    root = make_project({"models/evil.sql": "select {{ ''.__class__.__mro__[1].__subclasses__() }} as x"}, rows=False)
    found = "\n".join(problems(root))
    assert "KF302" in found and "models/evil.sql" in found


def test_model_must_be_one_select(make_project):
    root = make_project({"models/two.sql": "select 1; drop table raw.orders"}, rows=False)
    assert "error[KF311]: a model must be exactly one SELECT statement" in "\n".join(problems(root))


def test_empty_project(tmp_path):
    (tmp_path / "kpi_project.yml").write_text("name: empty\n")
    assert "error[KF020]: the project is empty" in problems(tmp_path)[0]


def test_missing_project_file(tmp_path):
    with pytest.raises(KpiframeError) as caught:
        Project.load(tmp_path)
    assert caught.value.diagnostic.code == "KF010"


def test_published_table_with_inapplicable_dimension(make_project):
    root = make_project(
        {
            "metrics/t.yml": """
        tables:
          - {name: bad, metrics: [orders], dimensions: [customer__colour]}
    """
        },
        rows=False,
    )
    found = problems(root)[0]
    assert found.startswith("metrics/t.yml:2:5: error[KF140]: published table 'bad'")


def test_metric_filter_that_tries_to_be_a_statement(make_project):
    root = make_project(
        {
            "metrics/evil.yml": """
        metrics:
          - {name: evil, measure: order_count, filter: "1=1; DROP TABLE raw.orders"}
          - {name: sneaky, measure: order_count, filter: "order_id in (select order_id from raw.orders)"}
    """
        },
        rows=False,
    )
    found = "\n".join(problems(root))
    assert "metrics/evil.yml:2:48: error[KF120]: filter: expected one expression, found several statements" in found
    assert "error[KF120]: filter: only an expression is allowed here, not a statement or a subquery" in found


def test_wrong_value_type_in_project_file(tmp_path):
    (tmp_path / "kpi_project.yml").write_text("name: x\ncalendar:\n  fiscal_year_start_month: april\n")
    found = problems(tmp_path)[0]
    assert found.startswith("kpi_project.yml:3:28: error[KF014]: calendar.fiscal_year_start_month:")
