"""A metric per entity in a filter: `customer__revenue > 100` keeps the rows whose customer's revenue over
all time is above 100 (MetricFlow's `{{ Metric('revenue', group_by=['customer']) }} > 100`).

Every number is checked against SQL written by hand over raw.* (the CRM project of
test_entities_as_dimensions: orders with a customer, customers, their profiles and managers).
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from kpiframe.diff.changes import edges
from kpiframe.diff.states import ProjectState
from kpiframe.errors import ProjectInvalid, QueryError
from kpiframe.load.names import NodeKey
from kpiframe.project import Project
from tests.conftest import built_project, hand, write_files
from tests.unit.test_entities_as_dimensions import FILES, ROWS

MORE_METRICS = """\
          - {name: orders, measure: order_count}
          - {name: average_order, type: derived, expr: revenue / orders}
          - {name: big_customers, measure: customer_count, filter: "customer__revenue >= 100"}
          - {name: repeat_revenue, measure: revenue_sum, filter: "customer__orders > 1"}
"""


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Project:
    text = FILES["metrics/crm.yml"].rstrip(" ")
    text = text.replace(
        "              - {name: revenue_sum, agg: sum, expr: amount}\n",
        "              - {name: revenue_sum, agg: sum, expr: amount}\n"
        "              - {name: order_count, agg: count, expr: order_id}\n",
    )
    files = {**FILES, "metrics/crm.yml": text + MORE_METRICS}
    return built_project(tmp_path_factory.mktemp("metric_filters"), files, "crm.duckdb", ROWS)


def total(project: Project, metric: str, where: str | None = None, by: tuple[str, ...] = ()) -> list[tuple]:
    rows = project.query(metrics=[metric], dimensions=list(by), grain="all", where=where).rows
    return sorted((tuple(row) for row in rows), key=repr)


def by_hand(project: Project, sql: str) -> list[tuple]:
    return sorted((tuple(row) for row in hand(project, sql)), key=repr)


REVENUE_PER_CUSTOMER = "(select customer_id, sum(amount) as revenue from raw.orders group by 1)"


def test_a_request_filters_by_a_metric_per_entity(crm):
    expected = by_hand(
        crm,
        f"""select count(c.customer_id) from raw.customers c left join {REVENUE_PER_CUSTOMER} r using (customer_id)
            where r.revenue > 60""",
    )
    assert expected == [(2,)]  # c1 (150) and c3 (70); c4 has no orders: NULL, not kept
    assert total(crm, "customers", "customer__revenue > 60") == expected
    template = "{{ Metric('revenue', group_by=['customer']) }} > 60"  # MetricFlow's form, translated
    assert total(crm, "customers", template) == expected
    # MetricFlow's local entity with its dataset's prefix: customer of the orders (whose entity is `order`)
    prefixed = "{{ Metric('revenue', group_by=['order__customer']) }} > 60"
    assert total(crm, "customers", prefixed) == expected
    with pytest.raises(QueryError) as raised:
        total(crm, "customers", "{{ Metric('revenue', group_by=['metric_time__month']) }} > 60")
    assert raised.value.diagnostic.code == "KF413" and "taken per an entity" in raised.value.diagnostic.message


def test_a_metric_per_entity_of_a_fact_filters_the_facts(crm):
    # orders of customers with more than one order, by region (a join the filter does not disturb)
    expected = by_hand(
        crm,
        """select c.region, sum(o.amount) from raw.orders o left join raw.customers c using (customer_id)
           where o.customer_id in (select customer_id from raw.orders group by 1 having count(*) > 1)
           group by 1""",
    )
    assert total(crm, "revenue", "customer__orders > 1", by=("customer__region",)) == expected
    assert total(crm, "repeat_revenue", by=("customer__region",)) == expected  # the same, as a metric's filter


def test_a_derived_metric_per_entity(crm):
    expected = by_hand(
        crm,
        """select sum(o.amount) from raw.orders o where o.customer_id in
           (select customer_id from raw.orders group by 1 having sum(amount) / count(*) > 40)""",
    )
    assert total(crm, "revenue", "customer__average_order > 40") == expected


def test_a_metrics_own_filter_reads_a_metric_per_entity(crm):
    expected = by_hand(
        crm,
        f"""select count(*) from raw.customers c join {REVENUE_PER_CUSTOMER} r using (customer_id)
            where r.revenue >= 100""",
    )
    assert total(crm, "big_customers") == expected == [(1,)]


def test_values_of_an_entity_filtered_by_a_metric(crm):
    rows = crm.query(metrics=[], dimensions=["customer"], where="customer__revenue >= 50").rows
    expected = by_hand(
        crm,
        f"""select c.customer_id from raw.customers c join {REVENUE_PER_CUSTOMER} r using (customer_id)
            where r.revenue >= 50""",
    )
    assert sorted((tuple(row) for row in rows), key=repr) == expected == [("c1",), ("c3",)]


def test_metrics_whose_filters_read_each_other_are_a_cycle_at_load(tmp_path):
    loop = (
        '          - {name: pinged, measure: order_count, filter: "customer__ponged > 0"}\n'
        '          - {name: ponged, measure: order_count, filter: "customer__pinged > 0"}\n'
    )
    text = (
        FILES["metrics/crm.yml"]
        .rstrip(" ")
        .replace(
            "              - {name: revenue_sum, agg: sum, expr: amount}\n",
            "              - {name: revenue_sum, agg: sum, expr: amount}\n"
            "              - {name: order_count, agg: count, expr: order_id}\n",
        )
    )
    write_files(tmp_path, {**FILES, "metrics/crm.yml": text + loop})
    with pytest.raises(ProjectInvalid) as caught:
        Project.load(tmp_path)
    cycle = [d for d in caught.value.diagnostics if d.code == "KF107"]
    assert cycle and "pinged" in cycle[0].message and "ponged" in cycle[0].message
    assert cycle[0].location is not None and cycle[0].location.path.endswith("crm.yml")


def test_the_manifest_and_the_impact_graph_know_what_a_filter_reads(crm):
    # a change to `orders` changes what repeat_revenue keeps: a reviewer is shown it as impacted
    manifest = json.loads(crm.compile().read_text(encoding="utf-8"))
    assert manifest["nodes"]["metric.repeat_revenue"]["depends_on"] == ["revenue_sum", "orders"]
    graph = edges(ProjectState("working tree", None, None, crm, crm.nodes()))
    assert NodeKey("metric", "repeat_revenue") in graph[NodeKey("metric", "orders")]
    assert NodeKey("metric", "big_customers") in graph[NodeKey("metric", "revenue")]


def test_a_metric_per_an_entity_the_rows_lack_is_refused_with_a_hint(crm):
    with pytest.raises(QueryError) as raised:
        crm.query(metrics=["customers"], grain="all", where="order__revenue > 1")
    found = raised.value.diagnostic
    assert found.code == "KF410" and "no entity 'order'" in found.message
    assert "customer" in (found.hint or "")


def test_a_name_that_is_no_metric_stays_an_unknown_dimension(crm):
    # a misspelt metric per entity is suggested as the metric of that entity, in a query and in values
    for asked in ({"metrics": ["customers"], "grain": "all"}, {"metrics": [], "dimensions": ["customer"]}):
        with pytest.raises(QueryError) as raised:
            crm.query(**asked, where="customer__revenu > 1")
        assert raised.value.diagnostic.code == "KF410"
        assert "is not a dimension" in raised.value.diagnostic.message
        assert "did you mean 'customer__revenue'?" in raised.value.diagnostic.message


def test_an_empty_load_of_the_filtering_metrics_table_keeps_no_row_and_loses_none(tmp_path):
    # the orders arrive empty: every customer's revenue is NULL, so a comparison keeps none of them and IS NULL
    # keeps all; a series whose filter keeps no row has no period of data, and the periods asked are 0
    project = built_project(tmp_path / "empty", FILES, "crm.duckdb", ROWS + "delete from raw.orders;")
    revenue = "(select customer_id, sum(amount) as revenue from raw.orders group by 1)"
    kept = by_hand(
        project,
        f"select count(c.customer_id) from raw.customers c left join {revenue} r using (customer_id) "
        "where r.revenue > 60",
    )
    assert total(project, "customers", "customer__revenue > 60") == kept == [(0,)]
    every = by_hand(
        project,
        f"select count(c.customer_id) from raw.customers c left join {revenue} r using (customer_id) "
        "where r.revenue is null",
    )
    assert total(project, "customers", "customer__revenue is null") == every == [(4,)]
    asked = {"metrics": ["customers"], "grain": "month", "where": "customer__revenue > 60"}
    assert project.query(**asked).rows == []
    bounded = project.query(**asked, start=date(2025, 12, 1), end=date(2026, 1, 1)).rows
    assert bounded == [(date(2025, 12, 1), 0), (date(2026, 1, 1), 0)]
