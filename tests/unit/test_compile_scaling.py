"""Ratio and derived metrics read their inputs by column: each measure aggregated once, SQL linear in the metrics.

Numbers are compared with SQL written by hand over raw.orders of the shop project (tests/conftest.py).
"""

from __future__ import annotations

import re

import pytest

from kpiframe.build.plan import table_query
from kpiframe.load.specs import TableSpec
from kpiframe.project import Project
from kpiframe.sql.metric_query import MetricRequest, compile_request
from tests.conftest import hand

NESTED = """
    metrics:
      - {name: refunded_orders, measure: order_count, filter: "status = 'refunded'"}
      - {name: aov_per_share, type: ratio, numerator: aov, denominator: paid_share}
      - {name: blend, type: derived, expr: aov_per_share - aov + paid_share * 100}
      - name: aov_change
        type: derived
        expr: aov - aov_before
        inputs: [{metric: aov, alias: aov_before, offset: previous}]
      - {name: nested_division, type: derived, expr: revenue / (orders / refunded_orders)}
"""

# the shop's orders per month (stg_orders drops status 'test'), every formula written out with NULLIF
HAND_MONTHLY = """
    with m as (
        select cast(date_trunc('month', ordered_at) as date) as month, count(*) as orders, sum(amount) as revenue,
               count(*) filter (where status = 'paid') as paid, count(*) filter (where status = 'refunded') as refunded
        from raw.orders where status <> 'test' group by 1),
    v as (select month, orders, revenue, refunded, revenue / orders as aov, paid / orders as paid_share,
                 lag(revenue / orders) over (order by month) as aov_before from m)
    select month, aov / nullif(paid_share, 0),
           aov / nullif(paid_share, 0) - aov + paid_share * 100,
           aov - aov_before,
           revenue / nullif(orders / nullif(refunded, 0), 0)
    from v order by 1"""


def rounded(rows: list[tuple]) -> list[tuple]:
    return [tuple(round(float(v), 9) if v is not None and i else v for i, v in enumerate(r)) for r in rows]


def test_metrics_over_metrics_match_hand_written_sql(make_project) -> None:
    project = Project.load(make_project({"metrics/nested.yml": NESTED}))
    project.build()
    result = project.query(metrics=["aov_per_share", "blend", "aov_change", "nested_division"], grain="month")
    assert rounded(result.rows) == rounded(hand(project, HAND_MONTHLY))
    # January: aov 180 / 3 = 60 over a paid share of 2/3; March has no refund, so the inner division is
    # by zero: NULL, not infinity (or an error on PostgreSQL)
    assert [round(r[1], 6) for r in result.rows] == [90.0, 90.0, 10.0, 40.0]
    assert [r[4] for r in result.rows][2:] == [None, None]


def test_a_compared_derived_metric_is_computed_once(make_project) -> None:
    project = Project.load(make_project({"metrics/nested.yml": NESTED}))
    project.build()
    result = project.query(metrics=["blend"], grain="month", compare="previous")
    blend = [r[2] for r in hand(project, HAND_MONTHLY)]
    assert result.columns == ["period_start", "blend", "blend__previous", "blend__change"]
    assert [round(r[1], 6) for r in result.rows] == [round(v, 6) for v in blend]
    assert [r[2] for r in result.rows][1:] == [r[1] for r in result.rows][:-1]
    sql = compile_request(project.layer, MetricRequest(("blend",), (), "month", compare="previous")).sql("duckdb")
    # in the current series, blend's formula once (as a column read three times); once more in its shifted series
    assert sql.count('- "v_aov" + "v_paid_share" * 100') == 2


def chain(depth: int) -> str:
    """d1 = revenue + orders, then each level adds the previous one to itself: d<n> = 2^(n-1) * d1."""
    lines = ["metrics:", "  - {name: d1, type: derived, expr: revenue + orders}"]
    lines += [f"  - {{name: d{k}, type: derived, expr: d{k - 1} + d{k - 1}}}" for k in range(2, depth + 1)]
    return "\n".join(lines) + "\n"


def test_a_deep_chain_of_derived_metrics_stays_small(make_project) -> None:
    # inlining every input's formula would write d1's formula 2^15 times
    project = Project.load(make_project({"metrics/chain.yml": chain(16)}))
    sql = compile_request(project.layer, MetricRequest(("d16",), (), "month")).sql("duckdb")
    assert len(sql) < 10_000
    assert sql.count('"v_d1"') == 3  # computed once, read twice by d2
    project.build()
    result = project.query(metrics=["d16"], grain="month")
    expected = hand(
        project,
        """select cast(date_trunc('month', ordered_at) as date), (sum(amount) + count(*)) * 32768
           from raw.orders where status <> 'test' group by 1 order by 1""",
    )
    assert rounded(result.rows) == rounded(expected)


def wide(derived: int, simple: int) -> dict[str, str]:
    """The shop with `simple` filtered revenue metrics and `derived` metrics, each over all of them."""
    names = [f"s{k}" for k in range(simple)]
    lines = ["metrics:"]
    lines += [f"  - {{name: {n}, measure: revenue_sum, filter: \"status <> 'x{k}'\"}}" for k, n in enumerate(names)]
    lines += [f"  - {{name: p{k}, type: derived, expr: '({' + '.join(names)}) / {k + 1}'}}" for k in range(derived)]
    metrics = ", ".join(f"p{k}" for k in range(derived))
    lines += ["tables:", f"  - {{name: wide, grain: month, metrics: [{metrics}], dimensions: [status]}}"]
    return {"metrics/wide.yml": "\n".join(lines) + "\n"}


@pytest.mark.parametrize("simple", [5, 10])
def test_each_measure_is_aggregated_once_and_the_sql_grows_linearly(make_project, simple) -> None:
    sizes = []
    for derived in (10, 20, 40):
        root = make_project(wide(derived, simple), rows=False)
        project = Project.load(root)
        spec = project.graph.tables["wide"].spec
        assert isinstance(spec, TableSpec)
        sql = table_query(project.layer, spec).sql("duckdb")
        assert len(re.findall(r'SUM\("t"\."amount"\) FILTER', sql)) == simple
        # each derived metric's formula once, reading the simple metrics by column
        assert len(re.findall(r"\+ \"m\d+_revenue_sum\"\) / NULLIF\(\d+, 0\) AS \"p\d+\"", sql)) == derived
        sizes.append(len(sql))
    # twice the metrics add twice the characters: a linear size, not a quadratic one
    first, second = sizes[1] - sizes[0], sizes[2] - sizes[1]
    assert 1.8 < second / first < 2.2
