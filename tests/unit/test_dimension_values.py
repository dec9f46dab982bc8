"""A request without metrics answers the distinct values of its dimensions (MetricFlow's
`mf query --group-by customer__country`): read from the dataset that declares the first dimension when it
reaches the others, else from one that reaches them all through many-to-one joins; `--where` applies;
NULL is a value; no period (a grain, --start/--end, --compare, metric_time: KF415).
Every expected answer comes from SQL written here over the raw tables.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from kpiframe.cli.main import main
from kpiframe.errors import QueryError
from kpiframe.project import Project
from tests.conftest import built_project, hand

FILES = {
    "kpi_project.yml": """
        name: values
        warehouse: {path: values.duckdb}
    """,
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - name: orders
                columns: [order_id, customer_id, status, {name: ordered_at, type: TIMESTAMP}]
              - name: customers
                columns: [customer_id, country, segment, {name: signed_up_at, type: TIMESTAMP}]
              - name: regions
                columns: [region_id, zone]
    """,
    "models/stg_orders.sql": "select * from {{ source('raw', 'orders') }}",
    "models/stg_customers.sql": "select * from {{ source('raw', 'customers') }}",
    "models/stg_regions.sql": "select * from {{ source('raw', 'regions') }}",
    "metrics/values.yml": """
        datasets:
          - name: orders
            model: stg_orders
            time: ordered_at
            entities: [{name: order, type: primary, expr: order_id}, {name: customer, type: foreign, expr: customer_id}]
            dimensions: [{name: status}]
            measures: [{name: order_count, agg: count, expr: order_id}]
          - name: customers
            model: stg_customers
            time: signed_up_at
            entities: [{name: customer, type: primary, expr: customer_id}]
            dimensions: [{name: country}, {name: segment}]
          - name: regions
            model: stg_regions
            time: signed_up_at
            entities: [{name: region, type: primary, expr: region_id}]
            dimensions: [{name: zone}]
        metrics:
          - {name: orders, measure: order_count}
    """,
}

# c4 (FR) has no order: its country is a value of customer__country all the same; c5 has no country
ROWS = """
    create schema raw;
    create table raw.orders (order_id varchar, customer_id varchar, status varchar, ordered_at timestamp);
    create table raw.customers (customer_id varchar, country varchar, segment varchar, signed_up_at timestamp);
    create table raw.regions (region_id varchar, zone varchar);
    insert into raw.customers values
      ('c1', 'DE', 'smb', '2025-12-01'), ('c2', 'DE', 'enterprise', '2025-12-02'),
      ('c3', 'US', 'smb', '2025-12-03'), ('c4', 'FR', 'smb', '2025-12-04'), ('c5', null, 'smb', '2025-12-05');
    insert into raw.orders values
      ('o1', 'c1', 'paid', '2026-01-05'), ('o2', 'c1', 'refunded', '2026-01-06'),
      ('o3', 'c2', 'paid', '2026-02-01'), ('o4', 'c3', 'paid', '2026-02-03'), ('o5', 'c5', null, '2026-03-01');
    insert into raw.regions values ('r1', 'emea'), ('r2', 'amer');
"""


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return built_project(tmp_path_factory.mktemp("values"), FILES, "values.duckdb", ROWS)


def test_one_dimension_lists_its_datasets_values_not_only_those_a_fact_row_references(shop):
    result = shop.query(metrics=[], dimensions=["country"])
    assert result.columns == ["country"]
    expected = hand(shop, "select distinct country from raw.customers order by country nulls last")
    assert result.rows == expected == [("DE",), ("FR",), ("US",), (None,)]


def test_two_dimensions_of_one_dataset_are_its_distinct_combinations(shop):
    result = shop.query(metrics=[], dimensions=["customer__country", "customer__segment"])
    assert result.columns == ["customer__country", "customer__segment"]
    expected = hand(
        shop,
        "select distinct country, segment from raw.customers order by country nulls last, segment nulls last",
    )
    assert result.rows == expected
    assert len(result.rows) == 5  # (DE, enterprise), (DE, smb), (FR, smb), (US, smb), (NULL, smb)


@pytest.mark.parametrize("names", [["status", "country"], ["country", "status"]])
def test_dimensions_of_two_datasets_come_from_the_one_that_reaches_both(shop, names):
    # customers cannot reach an order's status: the orders dataset, joined many-to-one to customers
    result = shop.query(metrics=[], dimensions=names)
    assert result.columns == names
    columns = ", ".join(f"{'o' if n == 'status' else 'c'}.{n}" for n in names)
    expected = hand(
        shop,
        f"""
        select distinct {columns}
        from raw.orders o left join raw.customers c on o.customer_id = c.customer_id
        order by 1 nulls last, 2 nulls last
        """,
    )
    assert result.rows == expected
    assert "FR" not in [row[names.index("country")] for row in result.rows]  # c4 has no order


def test_where_on_a_dimension_of_another_dataset_filters_the_values(shop):
    result = shop.query(metrics=[], dimensions=["status"], where="customer__country = 'DE'")
    expected = hand(
        shop,
        """
        select distinct o.status
        from raw.orders o left join raw.customers c on o.customer_id = c.customer_id
        where c.country = 'DE' order by 1 nulls last
        """,
    )
    assert result.rows == expected == [("paid",), ("refunded",)]


def test_metricflow_syntax_group_by_and_where(shop):
    result = shop.query(
        metrics=[], dimensions=["customer__segment"], where="{{ Dimension('customer__country') }} = 'DE'"
    )
    expected = hand(shop, "select distinct segment from raw.customers where country = 'DE' order by 1")
    assert result.rows == expected == [("enterprise",), ("smb",)]


@pytest.mark.parametrize(
    "request_",
    [
        {"grain": "month"},
        {"start": "2026-01-01"},
        {"end": "2026-01-31"},
        {"compare": "previous"},
        {"dimensions": ["country", "metric_time__month"]},
        {"dimensions": ["metric_time"]},
    ],
)
def test_time_without_a_metric_is_refused(shop, request_):
    asked = {"metrics": [], "dimensions": ["country"], **request_}
    with pytest.raises(QueryError) as raised:
        shop.query(**asked)
    assert raised.value.diagnostic.code == "KF415"


def test_dimensions_no_dataset_reaches_together_are_refused(shop):
    with pytest.raises(QueryError) as raised:
        shop.query(metrics=[], dimensions=["country", "zone"])
    assert raised.value.diagnostic.code == "KF416"
    assert "zone" in raised.value.diagnostic.message


def test_an_unknown_dimension_is_named_with_a_suggestion(shop):
    with pytest.raises(QueryError) as raised:
        shop.query(metrics=[], dimensions=["countyr"])
    assert raised.value.diagnostic.code == "KF410"
    assert "country" in str(raised.value.diagnostic.message) + str(raised.value.diagnostic.hint)


def test_cli_by_without_metric_lists_values_and_neither_is_an_error(shop):
    root = str(shop.root)
    runner = CliRunner()
    listed = runner.invoke(main, ["query", "--project-dir", root, "--by", "segment", "--format", "csv"])
    assert listed.exit_code == 0, listed.output
    expected = hand(shop, "select distinct segment from raw.customers order by 1")
    assert listed.output.split() == ["segment", *[row[0] for row in expected]]
    neither = runner.invoke(main, ["query", "--project-dir", root])
    assert neither.exit_code != 0
    assert "KF401" in neither.output and "--by" in neither.output
    explained = runner.invoke(main, ["query", "--project-dir", root, "--group-by", "segment", "--explain"])
    assert explained.exit_code == 0 and "SELECT DISTINCT" in explained.output


def test_min_max_gives_the_first_and_last_value_of_each(shop):
    # what a BI tool's date picker or a filter's range needs: `kpiframe query --by X --min-max`
    result = shop.query(metrics=[], dimensions=["country", "segment"], min_max=True)
    assert result.columns == ["country__min", "country__max", "segment__min", "segment__max"]
    expected = hand(shop, "select min(country), max(country), min(segment), max(segment) from raw.customers")
    assert result.rows == expected == [("DE", "US", "enterprise", "smb")]  # NULL is no bound
    filtered = shop.query(metrics=[], dimensions=["status"], where="country = 'DE'", min_max=True)
    assert filtered.rows == hand(
        shop,
        "select min(status), max(status) from raw.orders o join raw.customers c using (customer_id) "
        "where c.country = 'DE'",
    )


def test_min_max_from_the_command_line_and_not_with_a_metric(shop):
    root = str(shop.root)
    runner = CliRunner()
    answered = runner.invoke(main, ["query", "--project-dir", root, "--by", "segment", "--min-max", "--format", "csv"])
    assert answered.exit_code == 0, answered.output
    assert answered.output.split() == ["segment__min,segment__max", "enterprise,smb"]
    refused = runner.invoke(main, ["query", "--project-dir", root, "--metric", "orders", "--min-max"])
    assert refused.exit_code != 0 and "KF434" in refused.output and "Traceback" not in refused.output
