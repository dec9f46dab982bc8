"""An entity groups and filters by its key, and a primary (or unique) key joins one-to-one.

`--by customer` is each row's customer key (MetricFlow's group-by of an entity); `customer__manager` the
manager key of the customer's profile, reached through the entity customer. A dataset whose primary
entity is primary in another dataset too (customers and customer_profiles, one row per customer each)
reaches that dataset's dimensions and, through its foreign entities, further ones: one row per key on
both sides, so no row is multiplied. MetricFlow names such a dimension by its path of entities
(`customer__manager__manager_name`); kpiframe by the dimension's dataset (`manager__manager_name`), and
takes either. Every number is checked against SQL written by hand over raw.*.
"""

from __future__ import annotations

import pytest

from kpiframe.errors import QueryError
from kpiframe.imports.metricflow_filters import group_by_item
from kpiframe.project import Project
from tests.conftest import built_project, hand

FILES = {
    "kpi_project.yml": "name: crm\nwarehouse: {path: crm.duckdb}\n",
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - {name: orders, columns: [order_id, customer_id, {name: ordered_at, type: TIMESTAMP}, amount]}
              - {name: customers, columns: [customer_id, region, {name: signed_up_at, type: TIMESTAMP}]}
              - {name: profiles, columns: [customer_id, manager_id, tier]}
              - {name: managers, columns: [manager_id, manager_name]}
    """,
    "models/stg_orders.sql": "select * from {{ source('raw', 'orders') }}",
    "models/stg_customers.sql": "select * from {{ source('raw', 'customers') }}",
    "models/stg_profiles.sql": "select * from {{ source('raw', 'profiles') }}",
    "models/stg_managers.sql": "select * from {{ source('raw', 'managers') }}",
    "metrics/crm.yml": """
        datasets:
          - name: orders
            model: stg_orders
            time: ordered_at
            entities:
              - {name: order, type: primary, expr: order_id}
              - {name: customer, type: foreign, expr: customer_id}
            measures:
              - {name: revenue_sum, agg: sum, expr: amount}
          - name: customers
            model: stg_customers
            time: signed_up_at
            entities: [{name: customer, type: primary, expr: customer_id}]
            dimensions: [{name: region}]
            measures: [{name: customer_count, agg: count, expr: customer_id}]
          - name: customer_profiles
            model: stg_profiles
            primary_entity: profile
            entities:
              - {name: customer, type: primary, expr: customer_id}
              - {name: manager, type: foreign, expr: manager_id}
            dimensions: [{name: tier}]
          - name: managers
            model: stg_managers
            entities: [{name: manager, type: primary, expr: manager_id}]
            dimensions: [{name: manager_name}]
        metrics:
          - {name: revenue, measure: revenue_sum}
          - {name: customers, measure: customer_count}
    """,
}
ROWS = """
    create schema raw;
    create table raw.orders (order_id varchar, customer_id varchar, ordered_at timestamp, amount double);
    insert into raw.orders values
      ('o1', 'c1', '2026-01-02', 100), ('o2', 'c1', '2026-01-09', 50), ('o3', 'c2', '2026-01-20', 30),
      ('o4', 'c3', '2026-02-01', 70), ('o5', null, '2026-02-03', 20), ('o6', 'cX', '2026-02-04', 5);
    create table raw.customers (customer_id varchar, region varchar, signed_up_at timestamp);
    insert into raw.customers values
      ('c1', 'emea', '2025-11-01'), ('c2', 'amer', '2025-12-01'), ('c3', 'emea', '2026-01-15'),
      ('c4', null, '2026-01-20');
    create table raw.profiles (customer_id varchar, manager_id varchar, tier varchar);
    insert into raw.profiles values ('c1', 'm1', 'gold'), ('c2', 'm2', 'silver'), ('c4', 'm1', null);
    create table raw.managers (manager_id varchar, manager_name varchar);
    insert into raw.managers values ('m1', 'Ana'), ('m2', 'Ben');
"""


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return built_project(tmp_path_factory.mktemp("entities"), FILES, "crm.duckdb", ROWS)


def answer(project: Project, metric: str, by: list[str], where: str | None = None) -> list[tuple]:
    result = project.query(metrics=[metric], dimensions=by, grain="all", where=where)
    return sorted((tuple(row) for row in result.rows), key=repr)


def by_hand(project: Project, sql: str) -> list[tuple]:
    return sorted((tuple(row) for row in hand(project, sql)), key=repr)


def test_an_entity_groups_by_its_key(crm):
    expected = by_hand(crm, "select customer_id, sum(amount) from raw.orders group by 1")
    assert answer(crm, "revenue", ["customer"]) == expected
    assert (None, 20.0) in expected and ("cX", 5.0) in expected  # a NULL key and one no customer has


def test_an_entity_reached_through_a_join_is_named_by_its_path(crm):
    expected = by_hand(
        crm,
        """select p.manager_id, sum(o.amount) from raw.orders o left join raw.profiles p using (customer_id)
           group by 1""",
    )
    assert answer(crm, "revenue", ["customer__manager"]) == expected


def test_an_entity_filters_by_its_key(crm):
    expected = by_hand(crm, "select sum(amount) from raw.orders where customer_id in ('c1', 'c3')")
    assert answer(crm, "revenue", [], where="customer in ('c1', 'c3')") == expected
    where = "{{ Entity('customer') }} in ('c1', 'c3')"  # MetricFlow's form
    assert answer(crm, "revenue", [], where=where) == expected


def test_a_primary_key_joins_one_to_one_and_further(crm):
    # customers -> customer_profiles (both one row per customer) -> managers (through the foreign manager)
    expected = by_hand(
        crm,
        """select p.tier, m.manager_name, count(c.customer_id) from raw.customers c
           left join raw.profiles p using (customer_id) left join raw.managers m using (manager_id)
           group by 1, 2""",
    )
    assert answer(crm, "customers", ["profile__tier", "manager__manager_name"]) == expected
    assert sum(row[-1] for row in expected) == 4  # every customer once: no row multiplied


def test_metricflows_path_of_entities_names_the_same_dimension(crm):
    expected = by_hand(
        crm,
        """select m.manager_name, sum(o.amount) from raw.orders o left join raw.profiles p using (customer_id)
           left join raw.managers m using (manager_id) group by 1""",
    )
    assert answer(crm, "revenue", ["manager__manager_name"]) == expected
    assert answer(crm, "revenue", ["customer__manager__manager_name"]) == expected


def test_the_entities_are_listed_with_the_dimensions(crm):
    rows = crm.query_options(["revenue"]).rows
    entities = {row[1]: row[3] for row in rows if row[2] == "entity"}
    assert entities == {"order": "orders", "customer": "orders", "customer__manager": "customer_profiles"}


def test_an_entity_the_metric_cannot_reach_is_refused_with_a_hint(crm):
    with pytest.raises(QueryError) as raised:
        crm.query(metrics=["customers"], dimensions=["order"], grain="all")
    assert raised.value.diagnostic.code == "KF410"
    assert "customer" in (raised.value.diagnostic.message + (raised.value.diagnostic.hint or ""))


def test_a_published_table_groups_by_an_entity(tmp_path):
    table = (
        "        tables:\n          - {name: by_customer, grain: month, metrics: [revenue], dimensions: [customer]}\n"
    )
    files = {**FILES, "metrics/crm.yml": FILES["metrics/crm.yml"].rstrip(" ") + table}
    project = built_project(tmp_path, files, "crm.duckdb", ROWS)
    published = hand(project, "select period_start, customer, revenue from metrics.by_customer where revenue <> 0")
    expected = hand(
        project,
        "select cast(date_trunc('month', ordered_at) as date), customer_id, sum(amount) from raw.orders group by 1, 2",
    )
    assert sorted(published, key=repr) == sorted(expected, key=repr)


def test_a_saved_querys_entity_group_by_is_imported_as_a_dimension():
    assert group_by_item("Entity('customer')") == ("dimension", "customer")
    assert group_by_item("{{ Entity('listing__host') }}") == ("dimension", "listing__host")
