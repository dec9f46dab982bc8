"""`kpiframe import metricflow`: dbt Semantic Layer projects read into kpiframe projects.

The imported projects are loaded, built on DuckDB over a few hand-written rows, and queried with
`kpiframe query`; every number is compared with SQL written by hand over the raw rows. Fixtures:
tests/fixtures/metricflow/acme_dbt (ours) and two from MetricFlow's repository (see NOTICE.md there).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from kpiframe.cli.main import main
from kpiframe.imports.metricflow import plan_import, write_import
from kpiframe.project import Project

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "metricflow"
ACME = FIXTURES / "acme_dbt"
MF_SAMPLE = FIXTURES / "mf_sample_dbt_models"
MF_MANIFEST = FIXTURES / "mf_simple_manifest"

ORDERS = [  # order_id, customer_id, ordered_at, amount, status, is_first_order
    ("o1", "c1", "2025-03-10 09:00:00", 100, "completed", True),
    ("o2", "c2", "2026-02-03 10:00:00", 50, "completed", True),
    ("o3", "c1", "2026-02-20 11:00:00", 30, "returned", False),
    ("o4", "c3", "2026-03-01 12:00:00", 80, "completed", True),
    ("o5", "c2", "2026-03-05 13:00:00", 20, "pending", False),
    ("o6", "c1", "2026-03-05 14:00:00", 40, "completed", False),
    ("o7", None, "2026-03-09 15:00:00", 10, "completed", False),
    ("o8", "c3", "2026-03-31 16:00:00", -5, "completed", False),  # left out by the model (amount >= 0)
]
CUSTOMERS = [("c1", "EMEA", "2024-01-15"), ("c2", "AMER", "2025-06-01"), ("c3", "EMEA", "2026-02-28")]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def query(root: Path, *args: str) -> list[dict[str, object]]:
    code, out = run("query", "--project-dir", str(root), "--format", "json", *args)
    assert code == 0, out
    return [{k: v for k, v in row.items() if k != "period_complete"} for row in json.loads(out)]


def hand(root: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(root / "handwritten.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def line_of(path: Path, text: str, after: str | None = None) -> int:
    """The 1-based line of the first `text` in the fixture (after the line holding `after`)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    return next(i for i, line in enumerate(lines) if i >= start and text in line) + 1


def fill_acme(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute("create schema if not exists raw")
    con.execute(
        "create or replace table raw.orders (order_id varchar, customer_id varchar, ordered_at timestamp,"
        " amount decimal(12, 2), status varchar, is_first_order boolean)"
    )
    con.executemany("insert into raw.orders values (?, ?, ?, ?, ?, ?)", ORDERS)
    con.execute("create or replace table raw.customers (customer_id varchar, region varchar, signup_at timestamp)")
    con.executemany("insert into raw.customers values (?, ?, ?)", CUSTOMERS)
    con.close()


@pytest.fixture(scope="module")
def acme(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("acme")
    code, out = run("import", "metricflow", str(ACME), "--project-dir", str(root), "--write")
    assert code == 0, out
    fill_acme(root / "warehouse.duckdb")
    fill_acme(root / "handwritten.duckdb")  # the hand-written SQL reads its own copy of the rows
    code, out = run("build", "--project-dir", str(root))
    assert code == 0, out
    return root


def test_the_imported_project_loads_with_every_mappable_metric(acme):
    project = Project.load(acme)
    assert set(project.graph.metrics) >= {
        "revenue", "completed_revenue", "emea_revenue", "march_revenue", "orders_with_customer", "buyers",
        "first_orders", "order_count", "revenue_per_buyer", "completed_share", "revenue_growth_mom",
        "revenue_yoy", "revenue_mtd", "orders_7d", "revenue_two_weeks_ago", "buyers_7d", "checkout_conversion",
    }  # fmt: skip
    conversion = project.graph.metrics["checkout_conversion"].spec
    assert (conversion.type, conversion.base_measure, conversion.entity) == ("conversion", "order_count", "customer")
    two_weeks = project.graph.metrics["revenue_two_weeks_ago"].spec.inputs
    assert [(i.metric, i.offset) for i in two_weeks] == [("revenue", "2 weeks")]  # offset_window: 2 weeks
    # a Metric(...) filter is a metric per entity: customer__revenue (kpiframe.sql.metric_filters)
    assert project.graph.metrics["big_spender_revenue"].spec.filter == "customer__revenue > 100"
    balance = project.layer.measures["open_balance"].non_additive  # non_additive_dimension, window_choice: max
    assert balance is not None and balance.choose == "last" and "open_balance" in project.graph.metrics


def test_simple_and_filtered_metrics_match_hand_sql(acme):
    rows = query(
        acme,
        *("--metric", "revenue", "--metric", "completed_revenue", "--metric", "emea_revenue"),
        *("--metric", "march_revenue", "--metric", "orders_with_customer", "--metric", "first_orders"),
        *("--grain", "month", "--start", "2026-02-01", "--end", "2026-03-31"),
    )
    expected = hand(
        acme,
        """
        select strftime(date_trunc('month', o.ordered_at), '%Y-%m-%d'),
               sum(amount), sum(amount) filter (where status = 'completed'),
               sum(amount) filter (where c.region = 'EMEA'),
               sum(amount) filter (where date_trunc('month', o.ordered_at) = date '2026-03-01'),
               count(o.customer_id), sum(cast(is_first_order as integer))
        from raw.orders o left join raw.customers c using (customer_id)
        where amount >= 0 and o.ordered_at >= '2026-02-01' group by 1 order by 1""",
    )
    # as in MetricFlow, a metric without fill_nulls_with is NULL where no row is aggregated (march_revenue
    # in February), not 0
    assert rows[0]["march_revenue"] is None
    assert [tuple(r.values()) for r in rows] == [
        tuple(float(v) if i and v is not None else v for i, v in enumerate(r)) for r in expected
    ]


def test_a_metric_filter_keeps_the_orders_of_big_spenders(acme):
    rows = query(acme, "--metric", "big_spender_revenue", "--metric", "share_of_big_spenders", "--grain", "all")
    expected = hand(
        acme,
        """
        with spent as (select customer_id, sum(amount) as total from raw.orders where amount >= 0 group by 1)
        select sum(amount) filter (where s.total > 100), sum(amount) filter (where s.total > 100) / sum(amount)
        from raw.orders o left join spent s using (customer_id) where amount >= 0""",
    )
    assert expected[0][0] is not None and 0 < expected[0][1] < 1  # the data has big and small spenders
    assert [tuple(r.values()) for r in rows] == [(float(expected[0][0]), pytest.approx(float(expected[0][1])))]


def test_a_month_without_orders_is_null_unless_fill_nulls_with_0_as_in_metricflow(acme):
    text = (acme / "metrics/marts/metrics.yml").read_text(encoding="utf-8")
    assert "measure: order_total\n    fill_nulls_with: null\n" in text  # revenue: no fill_nulls_with in dbt
    assert "fill_nulls_with: 0\n" in text  # completed_revenue: fill_nulls_with: 0
    rows = query(acme, "--metric", "revenue", "--metric", "completed_revenue", "--metric", "completed_share",
                 "--grain", "month", "--start", "2025-03-01", "--end", "2026-03-31")  # fmt: skip
    expected = hand(
        acme,
        """
        with months as (select cast(unnest(generate_series(date '2025-03-01', date '2026-03-01', interval 1 month))
                                    as date) as m),
        o as (select cast(date_trunc('month', ordered_at) as date) as m, * from raw.orders where amount >= 0)
        select strftime(months.m, '%Y-%m-%d'), sum(o.amount),
               coalesce(sum(o.amount) filter (where o.status = 'completed'), 0),
               sum(o.amount) filter (where o.status = 'completed') / sum(o.amount)
        from months left join o using (m) group by 1 order by 1""",
    )
    assert len(expected) == 13
    assert [tuple(r.values()) for r in rows] == [
        (m, None if r is None else float(r), float(c), None if s is None else pytest.approx(float(s)))
        for m, r, c, s in expected
    ]
    assert rows[1] == {"period_start": "2025-04-01", "revenue": None, "completed_revenue": 0.0, "completed_share": None}


def test_ratio_with_a_filtered_numerator_and_offsets_match_hand_sql(acme):
    rows = query(
        acme,
        *("--metric", "completed_share", "--metric", "revenue_growth_mom", "--metric", "revenue_yoy"),
        *("--grain", "month", "--start", "2026-03-01", "--end", "2026-03-31"),
    )
    [(share, growth, yoy)] = hand(
        acme,
        """
        with m as (select date_trunc('month', ordered_at) as month, sum(amount) as revenue,
                          sum(amount) filter (where status = 'completed') as completed
                   from raw.orders where amount >= 0 group by 1)
        select now.completed / now.revenue, (now.revenue - prev.revenue) / prev.revenue,
               now.revenue - coalesce(last_year.revenue, 0)
        from m as now left join m as prev on prev.month = now.month - interval 1 month
        left join m as last_year on last_year.month = now.month - interval 1 year
        where now.month = date '2026-03-01'""",
    )
    assert rows == [
        {"period_start": "2026-03-01", "completed_share": pytest.approx(float(share)),
         "revenue_growth_mom": pytest.approx(float(growth)), "revenue_yoy": float(yoy)}
    ]  # fmt: skip
    assert float(yoy) == 150 - 100  # March 2026 against March 2025


def test_ratio_by_a_joined_dimension_matches_hand_sql(acme):
    rows = query(acme, "--metric", "revenue_per_buyer", "--by", "customer__region", "--grain", "month",
                 "--start", "2026-03-01", "--end", "2026-03-31")  # fmt: skip
    expected = hand(
        acme,
        """
        select c.region, sum(o.amount) / nullif(count(distinct o.customer_id), 0)
        from raw.orders o left join raw.customers c using (customer_id)
        where o.amount >= 0 and o.ordered_at >= '2026-03-01' group by 1 order by 1 nulls last""",
    )
    got = [(r["customer__region"], r["revenue_per_buyer"]) for r in rows]
    # the order without a customer has no buyer: MetricFlow and kpiframe both divide by 0 there (NULL)
    assert got == [(region, None if value is None else pytest.approx(float(value))) for region, value in expected]


def test_cumulative_metrics_match_hand_sql(acme):
    rows = query(acme, "--metric", "revenue_mtd", "--metric", "orders_7d", "--grain", "day",
                 "--start", "2026-03-01", "--end", "2026-03-10")  # fmt: skip
    expected = hand(
        acme,
        """
        with days as (select cast(unnest(generate_series(date '2026-03-01', date '2026-03-10', interval 1 day))
                                  as date) as day),
        o as (select cast(ordered_at as date) as day, amount, order_id from raw.orders where amount >= 0)
        select strftime(days.day, '%Y-%m-%d'),
               (select coalesce(sum(amount), 0) from o where o.day between date_trunc('month', days.day) and days.day),
               (select count(order_id) from o where o.day > days.day - 7 and o.day <= days.day)
        from days order by 1""",
    )
    assert [(r["period_start"], r["revenue_mtd"], r["orders_7d"]) for r in rows] == [
        (day, float(mtd), orders) for day, mtd, orders in expected
    ]


def test_a_saved_query_is_published_as_a_table(acme):
    con = duckdb.connect(str(acme / "warehouse.duckdb.serving" / "current.duckdb"), read_only=True)
    try:
        got = con.execute(
            "select period_start, customer__region, revenue from metrics.revenue_by_region_monthly"
            " where revenue <> 0 order by 1, 2 nulls last"
        ).fetchall()
    finally:
        con.close()
    expected = hand(
        acme,
        """
        select cast(date_trunc('month', o.ordered_at) as date), c.region, sum(o.amount)
        from raw.orders o left join raw.customers c using (customer_id)
        where o.amount >= 0 group by 1, 2 order by 1, 2 nulls last""",
    )
    assert [(p, r, float(v)) for p, r, v in got] == [(p, r, float(v)) for p, r, v in expected]


def test_what_cannot_be_mapped_is_reported_with_file_and_line(tmp_path):
    code, out = run("import", "metricflow", str(ACME), "--project-dir", str(tmp_path))
    assert code == 0, out
    metrics = ACME / "models/marts/metrics.yml"
    expected = [
        f"models/marts/metrics.yml:{line_of(metrics, 'offset_window: 2 weeks')}: derived metric "
        "'revenue_two_weeks_ago': offset_window 2 weeks is offset: 2 weeks",
        f"models/marts/saved_queries.yml:{line_of(ACME / 'models/marts/saved_queries.yml', 'where:')}: saved query "
        "'emea_weekly'",
        f"models/sources.yml:{line_of(ACME / 'models/sources.yml', 'loaded_at_field')}: table 'orders'",
        f"models/staging/stg_orders.sql:{line_of(ACME / 'models/staging/stg_orders.sql', 'is_incremental')}:",
        "models/staging/stg_customers.sql:1: model 'stg_customers': materialized='incremental' built as a table",
    ]
    for text in expected:
        assert text in out, text
    assert "not imported (3):" in out
    # join_to_timespine is imported, but the time spine's days are not known: said where it is written
    assert (
        f"models/marts/metrics.yml:{line_of(metrics, 'join_to_timespine')}: simple metric 'completed_revenue': "
        "join_to_timespine: true answers every period of kpi_project.yml's calendar: time_spine"
    ) in out
    assert not (tmp_path / "metrics").exists()  # without --write nothing is written


def test_a_jinja_call_kpiframe_lacks_is_reported_at_its_line(tmp_path):
    dbt = tmp_path / "dbt"
    (dbt / "models").mkdir(parents=True)
    (dbt / "models" / "orders.sql").write_text("select\n  {{ dbt_utils.star(ref('raw_orders')) }}\nfrom t\n")
    (dbt / "models" / "semantic.yml").write_text(
        "semantic_models:\n  - name: orders\n    model: ref('orders')\n    entities: [{name: order, type: primary}]\n"
    )
    code, out = run("import", "metricflow", str(dbt), "--project-dir", str(tmp_path / "out"))
    assert code == 0, out
    assert "models/orders.sql:2: model 'orders': 'dbt_utils.star' is not in kpiframe's Jinja" in out


def test_a_dimension_named_period_start_is_reported_and_the_project_loads(tmp_path):
    # billing exports often have one; kpiframe refuses it (KF113), so the import leaves it out and says where
    dbt = tmp_path / "dbt"
    (dbt / "models").mkdir(parents=True)
    (dbt / "models" / "invoices.sql").write_text("select * from raw.invoices\n")
    (dbt / "models" / "semantic.yml").write_text(
        "semantic_models:\n  - name: invoices\n    model: ref('invoices')\n"
        "    defaults: {agg_time_dimension: billed_at}\n"
        "    entities: [{name: invoice, type: primary, expr: invoice_id}]\n"
        "    dimensions:\n"
        "      - {name: billed_at, type: time, type_params: {time_granularity: day}}\n"
        "      - {name: period_start, type: categorical}\n"
        "    measures: [{name: invoice_count, agg: count, expr: invoice_id}]\n"
    )
    out = tmp_path / "out"
    code, report = run("import", "metricflow", str(dbt), "--project-dir", str(out), "--write")
    assert code == 0, report
    line = line_of(dbt / "models" / "semantic.yml", "name: period_start")
    assert f"models/semantic.yml:{line}: dimension 'period_start' of semantic model 'invoices'" in report
    Project.load(out)  # no KF113: the dimension was left out
    assert "period_start" not in (out / "metrics" / "semantic.yml").read_text()


def test_reimporting_is_byte_identical_and_writes_nothing(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for folder in (first, second):
        folder.mkdir()
        write_import(plan_import(ACME, folder))
    files = sorted(p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second).as_posix() for p in second.rglob("*") if p.is_file())
    assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)
    again = plan_import(ACME, first)
    assert set(again.status.values()) == {"unchanged"} and write_import(again) == []
    code, out = run("import", "metricflow", str(ACME), "--project-dir", str(first), "--write")
    assert code == 0 and "wrote 0 files" in out


def test_a_change_in_the_dbt_project_changes_one_file_by_one_line(tmp_path):
    dbt = tmp_path / "dbt"
    shutil.copytree(ACME, dbt)
    out = tmp_path / "out"
    out.mkdir()
    write_import(plan_import(dbt, out))
    metrics = dbt / "models/marts/metrics.yml"
    metrics.write_text(metrics.read_text().replace("label: Revenue\n", "label: Net revenue\n"))
    before = (out / "metrics/marts/metrics.yml").read_text()
    result = plan_import(dbt, out)
    assert {path for path, status in result.status.items() if status != "unchanged"} == {"metrics/marts/metrics.yml"}
    write_import(result)
    after = (out / "metrics/marts/metrics.yml").read_text()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert changed == [("    label: Revenue", "    label: Net revenue")]


def test_a_generated_file_no_longer_produced_is_listed_not_deleted(tmp_path):
    dbt = tmp_path / "dbt"
    shutil.copytree(ACME, dbt)
    out = tmp_path / "out"
    out.mkdir()
    write_import(plan_import(dbt, out))
    (dbt / "models/marts/saved_queries.yml").unlink()
    result = plan_import(dbt, out)
    assert result.stale == ["metrics/marts/saved_queries.yml"]
    write_import(result)
    assert (out / "metrics/marts/saved_queries.yml").exists()


def test_a_file_the_import_did_not_write_is_never_overwritten(tmp_path):
    mine = tmp_path / "metrics" / "marts" / "metrics.yml"
    mine.parent.mkdir(parents=True)
    mine.write_text("metrics: []\n")
    code, out = run("import", "metricflow", str(ACME), "--project-dir", str(tmp_path), "--write")
    assert code == 1 and "KF062" in out and "metrics/marts/metrics.yml" in out
    assert mine.read_text() == "metrics: []\n"
    assert not (tmp_path / "kpi_project.yml").exists()


def test_a_folder_without_semantic_yaml_is_refused(tmp_path):
    code, out = run("import", "metricflow", str(tmp_path), "--project-dir", str(tmp_path))
    assert code == 1 and "KF060" in out


def test_metricflows_sample_dbt_project_imports_builds_and_answers(tmp_path):
    code, out = run("import", "metricflow", str(MF_SAMPLE), "--project-dir", str(tmp_path), "--write")
    assert code == 0, out
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    for schema in ("seeds", "tutorial"):  # the seeds, and the sources the sample declares
        con.execute(f"create schema {schema}")
        for seed in ("countries_seed", "customers_seed", "transactions_seed"):
            csv = MF_SAMPLE / "seeds" / f"{seed}.csv"
            con.execute(f"create table {schema}.{seed} as select * from read_csv('{csv}')")
    expected = con.execute(
        """
        select strftime(date_trunc('month', t.ds), '%Y-%m-%d'), count(*),
               sum(transaction_amount_usd) filter (where transaction_type_name = 'cancellation')
                 / sum(transaction_amount_usd),
               coalesce(sum(transaction_amount_usd) filter (where transaction_type_name = 'cancellation'
                                                            and c.country = 'MX'), 0),
               coalesce(sum(transaction_amount_usd) filter (where r.region = 'NA'), 0)
        from tutorial.transactions_seed t left join tutorial.customers_seed c using (id_customer)
        left join tutorial.countries_seed r on r.country = c.country group by 1 order by 1"""
    ).fetchall()
    con.close()
    assert run("build", "--project-dir", str(tmp_path))[0] == 0
    rows = query(tmp_path, "--metric", "transactions", "--metric", "cancellation_rate", "--metric", "cancellations_mx",
                 "--metric", "transaction_usd_na", "--grain", "month")  # fmt: skip
    assert [tuple(r.values()) for r in rows] == [
        (month, n, pytest.approx(rate), pytest.approx(float(mx)), pytest.approx(float(na)))
        for month, n, rate, mx, na in expected
    ]


def test_metricflows_own_manifest_format_is_read(tmp_path):
    result = plan_import(MF_MANIFEST, tmp_path)
    write_import(result)
    project = Project.load(tmp_path)
    assert {"bookings_source", "listings_latest"} <= set(project.graph.datasets)
    bookings = MF_MANIFEST / "semantic_models" / "bookings_source.yaml"
    assert result.unmapped() == []  # every percentile is imported (agg: percentile), an approximate one as exact
    approximate = [n for n in result.changed() if "'approximate_continuous_booking_value_p99'" in n.subject]
    assert [(n.path, n.line) for n in approximate] == [
        ("semantic_models/bookings_source.yaml", line_of(bookings, "agg_params:", after="name: approximate_continuous"))
    ]
    measures = {m.name: m for m in project.graph.datasets["bookings_source"].spec.measures}
    p99 = measures["discrete_booking_value_p99"]
    assert (p99.agg, p99.percentile, p99.discrete) == ("percentile", 0.99, True)
    # is_partition is the dataset's partition: its joins to other partitioned datasets equate the partitions
    dataset = project.graph.datasets["bookings_source"]
    assert [d.name for d in dataset.spec.dimensions if d.partition] == ["ds_partitioned"]


def test_a_metrics_time_granularity_is_its_grain_a_sub_day_one_too(tmp_path):
    manifest = FIXTURES / "conformance" / "simple_manifest"
    result = plan_import(manifest, tmp_path)
    for metric, grain in (("largest_listing", "month"), ("simple_subdaily_metric_default_hour", "hour")):
        written = next(text for path, text in result.files.items() if f"- name: {metric}\n" in text)
        entry = written.split(f"- name: {metric}\n", 1)[1].split("\n  - name:", 1)[0]
        assert entry.endswith(f"    grain: {grain}"), entry
    users = manifest / "semantic_models" / "user_sm_source.yaml"
    line = line_of(users, "time_granularity: hour", after="simple_subdaily_metric_default_hour")
    assert not [n for n in result.notes if n.path.endswith("user_sm_source.yaml") and n.line == line]


def with_saved_query(tmp_path: Path, saved_query: str) -> Path:
    """MetricFlow's simple manifest, copied, with one more saved query."""
    manifest = tmp_path / "manifest"
    shutil.copytree(FIXTURES / "conformance" / "simple_manifest", manifest)
    with (manifest / "saved_queries.yaml").open("a", encoding="utf-8") as saved:
        saved.write(saved_query)
    return manifest


def test_a_saved_query_by_two_grains_is_a_table_of_the_finer_labelled_by_the_coarser(tmp_path):
    two_grains = (
        "---\nsaved_query:\n  name: bookings_weekly_by_month\n  query_params:\n    metrics: [bookings]\n"
        "    group_by: [\"TimeDimension('metric_time', 'month')\", \"TimeDimension('metric_time', 'week')\"]\n"
    )
    result = plan_import(with_saved_query(tmp_path, two_grains), tmp_path / "out")
    assert not [n for n in result.notes if n.subject == "saved query 'bookings_weekly_by_month'"]
    [text] = [text for text in result.files.values() if "name: bookings_weekly_by_month" in text]
    table = text.split("name: bookings_weekly_by_month", 1)[1].split("\n- ", 1)[0]
    assert "grain: week" in table and "metric_time__month" in table


def test_a_saved_query_by_the_hour_is_reported_not_published(tmp_path):
    # kpiframe publishes tables by day or coarser: a saved query by metric_time's hour is left out, said so
    hourly = (
        "---\nsaved_query:\n  name: archived_by_hour\n  query_params:\n"
        "    metrics: [subdaily_join_to_time_spine_metric]\n"
        "    group_by: [\"TimeDimension('metric_time', 'hour')\"]\n"
    )
    result = plan_import(with_saved_query(tmp_path, hourly), tmp_path / "out")
    [note] = [n for n in result.notes if n.subject == "saved query 'archived_by_hour'"]
    assert note.kind == "unmapped" and "by day or coarser, not hour" in note.message
    assert not any("name: archived_by_hour" in text for text in result.files.values())
