"""A query-time filter (--where) reaches only the dimensions the semantic layer declares.

Answers are compared with SQL written by hand over raw.*; refusals name the offending part."""

from __future__ import annotations

import textwrap

import duckdb
import pytest

from kpiframe.errors import QueryError
from kpiframe.project import Project
from kpiframe.sql.expressions import parse_expression
from kpiframe.sql.filters import check_query_filter, filter_dimensions, parse_query_filter
from tests.conftest import SHOP_PROJECT, SHOP_ROWS, hand, write_files

# the shop project, with ordered_at declared as a time dimension (so date functions have a column)
# and a metric whose YAML filter uses an entity, which only trusted project code may do
SHOP_YML = (
    SHOP_PROJECT["metrics/shop.yml"]
    .replace("- {name: status}", "- {name: status}\n              - {name: ordered_at, type: time}")
    .replace(
        "- {name: orders, measure: order_count}",
        "- {name: orders, measure: order_count}\n          - {name: c1_orders, measure: order_count, "
        "filter: \"customer = 'c1' and columns('amount') > 60\"}",
    )
)

ORDERS = "from raw.orders o left join raw.customers c using (customer_id) where o.status <> 'test'"


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    root = write_files(tmp_path_factory.mktemp("filters"), {**SHOP_PROJECT, "metrics/shop.yml": SHOP_YML})
    con = duckdb.connect(str(root / "shop.duckdb"))
    con.execute(textwrap.dedent(SHOP_ROWS))
    con.close()
    project = Project.load(root)
    project.build()
    return project


def total(project: Project, where: str, metric: str = "orders") -> int:
    result = project.query(metrics=[metric], grain="year", where=where)
    return sum(row[-1] for row in result.rows)


def refusal(project: Project, where: str) -> QueryError:
    with pytest.raises(QueryError) as caught:
        project.query(metrics=["orders"], where=where)
    return caught.value


# --- the probe of the issue: undeclared columns through DuckDB's COLUMNS and friends -----------------------
def test_columns_star_expression_cannot_filter_on_an_undeclared_column(shop):
    # before the check this answered 2 (orders over 60): amount is no dimension, yet it was filtered on
    error = refusal(shop, "columns('amount') > 60")
    assert error.diagnostic.code == "KF412"
    assert "COLUMNS('amount')" in str(error)
    assert "lower" in (error.diagnostic.hint or "") and "BETWEEN" in (error.diagnostic.hint or "")


@pytest.mark.parametrize(
    ("where", "part"),
    [
        ("columns('amount') > 60", "COLUMNS('amount')"),
        ("columns(c -> c like 'am%') > 60", "COLUMNS("),
        ("columns(*) is not null", "COLUMNS(*)"),
        ("* is not null", "*"),
        ("t.amount > 60", "t.amount"),
        ('"t"."order_id" = \'o1\'', "order_id"),
        ("read_csv('/etc/passwd') is null", "READ_CSV"),
        ("read_parquet('x.parquet') is null", "READ_PARQUET"),
        ("glob('*') is null", "GLOB"),
        ("current_setting('threads') = '1'", "CURRENT_SETTING"),
        ("getenv('HOME') is not null", "GETENV"),
        ("pg_read_file('/etc/passwd') is null", "PG_READ_FILE"),
        ("count(*) > 1", "COUNT(*)"),
        ("row_number() over () = 1", "ROW_NUMBER"),
        ("status = any(['paid'])", "ALL"),
        ("status[1] = 'p'", "status[1]"),
        ("status::varchar[] is null", "[]"),
        ("cast(status as struct(a int)) is null", "STRUCT"),
        ("status = ?", "?"),
        ("status similar to 'p.*'", "SIMILAR"),
        ("regexp_matches(status, 'p')", "REGEXP"),
        ("status collate nocase = 'PAID'", "COLLATE"),
    ],
)
def test_refused_parts_are_named_and_nothing_runs(shop, where, part):
    error = refusal(shop, where)
    assert error.diagnostic.code == "KF412", error.render()
    assert part.lower() in str(error).lower()
    assert "a query filter may use" in (error.diagnostic.hint or "")


@pytest.mark.parametrize("where", ["amount > 60", "order_id = 'o1'", "employee_count > 1"])
def test_undeclared_columns_are_not_dimensions(shop, where):
    # amount and order_id are model columns (order_id the key of entity `order`, named so), not dimensions
    error = refusal(shop, where)
    assert error.diagnostic.code == "KF410"
    name = where.split()[0]
    assert f"'{name}' is not a dimension" in str(error)
    assert "customer__region" in (error.diagnostic.hint or "")


def test_statements_and_subqueries_stay_refused_as_before(shop):
    for where in ["status in (select status from raw.orders)", "1=1; delete from raw.orders"]:
        assert refusal(shop, where).diagnostic.code == "KF120"
    assert hand(shop, "select count(*) from raw.orders") == [(8,)]


# --- what is allowed, answered exactly -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("where", "hand_where"),
    [
        ("customer__region = 'emea'", "c.region = 'emea'"),
        ("region = 'emea' or status = 'refunded'", "c.region = 'emea' or o.status = 'refunded'"),
        (
            "order__status in ('paid', 'refunded') and not region is null",
            "o.status in ('paid', 'refunded') and c.region is not null",
        ),
        ("lower(upper(trim(status))) like 'p%'", "o.status like 'p%'"),
        ("region ilike 'E%' or region is null", "c.region ilike 'E%' or c.region is null"),
        ("coalesce(region, 'none') <> 'amer'", "coalesce(c.region, 'none') <> 'amer'"),
        (
            "length(status) between 4 and 6 and substr(status, 1, 1) = 'p'",
            "length(o.status) between 4 and 6 and o.status like 'p%'",
        ),
        ("case when status = 'paid' then 1 else 0 end = 1", "o.status = 'paid'"),
        ("extract(month from ordered_at) = 1", "month(o.ordered_at) = 1"),
        ("date_part('month', ordered_at) in (1, 2)", "month(o.ordered_at) in (1, 2)"),
        (
            "date_trunc('month', ordered_at) = date '2026-02-01'",
            "o.ordered_at >= '2026-02-01' and o.ordered_at < '2026-03-01'",
        ),
        ("cast(ordered_at as date) >= date '2026-03-31' - interval 1 day", "o.ordered_at >= '2026-03-30'"),
        ("abs(round(length(status) * 1.5)) = 12 or status || '!' = 'paid!'", "o.status in ('paid', 'refunded')"),
        ("region is not distinct from null", "c.region is null"),
        # an entity is its key: MetricFlow's {{ Entity('customer') }}, through a join `customer__customer`
        ("customer = 'c1'", "o.customer_id = 'c1'"),
        ("customer in ('c1', 'c3') and \"order\" <> 'o1'", "o.customer_id in ('c1', 'c3') and o.order_id <> 'o1'"),
    ],
)
def test_allowed_filters_give_the_hand_written_answer(shop, where, hand_where):
    expected = hand(shop, f"select count(*) {ORDERS} and ({hand_where})")[0][0]
    assert total(shop, where) == expected


def test_yaml_metric_filter_is_trusted_project_code(shop):
    # the same pieces refused in --where (a column not declared, COLUMNS) keep working in a metric's own filter
    expected = hand(shop, f"select count(*) {ORDERS} and o.customer_id = 'c1' and o.amount > 60")[0][0]
    assert expected == 1
    assert total(shop, "status = 'paid'", metric="c1_orders") == 1
    assert refusal(shop, "amount > 60").diagnostic.code == "KF410"


# --- the reusable check -----------------------------------------------------------------------------------
def test_filter_dimensions_are_those_of_the_metrics_asked_for(shop):
    names = filter_dimensions(shop.layer, ["paid_share"])  # a ratio: through its inputs to orders
    dimensions = {"order__status", "status", "order__ordered_at", "ordered_at", "customer__region", "region"}
    assert names == dimensions | {"order", "customer"}  # the entities' keys too
    assert filter_dimensions(shop.layer, ["revenue_3d", "aov"]) == names


def test_check_query_filter_is_usable_on_its_own():
    allowed = {"lead__channel", "channel"}
    tree = parse_expression("lower(channel) = 'ads' and lead__channel is not null")
    assert check_query_filter(tree, allowed) is tree
    with pytest.raises(QueryError) as caught:
        check_query_filter(parse_expression("columns('email') like 'a%'"), allowed, what="filter")
    assert str(caught.value).startswith("filter: ")
    assert caught.value.diagnostic.code == "KF412"


def test_long_or_deep_filters_are_refused_plainly():
    assert parse_query_filter("x" + " or x" * 50, {"x"}) is not None
    for text in ["x" + " or x" * 150, "(" * 600 + "x" + ")" * 600, "x = '" + "a" * 3000 + "'"]:
        with pytest.raises(QueryError) as caught:
            parse_query_filter(text, {"x"})
        assert caught.value.diagnostic.code == "KF412"
