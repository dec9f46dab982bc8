"""Great Expectations really running against a DuckDB file: passing and failing cases of every kind.

One GX run per table, shared by the module (importing GX alone takes seconds).
"""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from kpiframe.errors import SourceLocation
from kpiframe.quality import (
    Expectation,
    ExpectationResult,
    duckdb_dbapi,
    parse_expectations,
    run_expectations,
)

LEADS_ROWS = """
create schema analytics;
create schema metrics;
create table analytics.stg_leads__kf_new (
    lead_id integer, dup_id integer, email varchar, channel varchar, employee_count integer,
    pipeline double, won double, score double, bad_rate double, created_at timestamp);
insert into analytics.stg_leads__kf_new values
    (1, 1, 'ann@example.com',  'web',   10, 100, 100, 0.5,  0.1,  '2026-03-01 08:00:00'),
    (2, 1, 'bob@example.com',  'ads',   20, 200, 150, null, 0.2,  '2026-03-01 09:00:00'),
    (3, 2, null,               'web',   -5, 300, 300, 0.0,  1.5,  '2026-02-28 10:00:00'),
    (4, 2, 'cy@example.com',   'event', 40, 400, 390, 1.0,  0.3,  '2026-02-27 10:00:00'),
    (5, 3, 'dee@example.com',  'web',   50, 500, 510, 0.7,  -0.1, '2026-03-01 10:00:00'),
    (6, 4, 'not-an-email',     'ads',   60, 600, 0,   0.2,  0.4,  '2026-02-20 10:00:00'),
    (7, 5, null,               'web',   70, 700, 700, 0.9,  0.5,  '2026-02-21 10:00:00'),
    (8, 6, 'flo@example.com',  'event', 80, 800, 10,  0.1,  0.6,  '2026-02-22 10:00:00'),
    (9, 7, 'gus@example.com',  'web',   90, 900, 20,  0.3,  0.7,  '2026-02-23 10:00:00'),
    (10, 8, 'hal@example.com', 'ads',  100, 950, 30,  0.4,  0.8,  '2026-02-24 10:00:00');
create table analytics.stg_activity (activity_id integer, lead_id integer, known_lead_id integer);
insert into analytics.stg_activity values (1, 1, 1), (2, 2, 2), (3, 99, 3), (4, null, 4), (5, 98, null);
create table metrics.marketing_monthly (period_start date, channel varchar, leads integer, mqls integer,
                                        sqls integer);
insert into metrics.marketing_monthly
    select make_date(2025, 8, 1) + to_months(m), c, leads, mqls, sqls from (values
        (0, 'web', 100, 50, 20), (1, 'web', 104, 50, 20), (2, 'web', 98, 50, 20), (3, 'web', 101, 50, 20),
        (4, 'web', 99, 50, 20), (5, 'web', 102, 50, 20), (6, 'web', 500, 50, 60),
        (0, 'ads', 40, 20, 10), (1, 'ads', 60, 20, 10), (2, 'ads', 50, 20, 10), (3, 'ads', 45, 20, 10),
        (4, 'ads', 55, 20, 10), (5, 'ads', 50, 20, 10), (6, 'ads', 52, 20, 5)) as t(m, c, leads, mqls, sqls);
create view analytics.v_leads as select * from analytics.stg_leads__kf_new;
create table analytics."order" ("group" integer, "Rate" double, "we""ird {x} :y" double);
insert into analytics."order" values (1, 0.5, 0.5), (null, 2.0, -1);
create schema "Marts";
create table "Marts"."LeadOrders" as select * from analytics."order";
"""

LEADS_CHECKS: list[dict[str, Any]] = [
    {"not_null": "lead_id"},  # 0 pass
    {"not_null": "email"},  # 1 fail: 2 nulls
    {"unique": "lead_id"},  # 2 pass
    {"unique": "dup_id"},  # 3 fail: 1,1,2,2
    {"accepted_values": {"column": "channel", "values": ["web", "ads", "event"]}},  # 4 pass
    {"accepted_values": {"column": "channel", "values": ["web", "ads"]}},  # 5 fail: 2 event
    {"between": {"column": "employee_count", "min": 0}, "mostly": 0.8},  # 6 pass: 9 of 10
    {"between": {"column": "employee_count", "min": 0}, "mostly": 0.95},  # 7 fail
    {"row_count_between": {"min": 1, "max": 10}},  # 8 pass
    {"row_count_between": {"min": 11}},  # 9 fail: 10 rows
    {"matches_regex": {"column": "email", "regex": "^[a-z]"}},  # 10 pass (NULLs skipped)
    {"matches_regex": {"column": "email", "regex": r"^[a-z]+@example\.com$"}},  # 11 fail: not-an-email
    {
        "expect_column_pair_values_a_to_be_greater_than_b": {
            "column_A": "pipeline",
            "column_B": "won",
            "or_equal": True,
        },
        "mostly": 0.9,
    },  # 12 pass: 9 of 10
    {
        "expect_column_pair_values_a_to_be_greater_than_b": {
            "column_A": "pipeline",
            "column_B": "won",
            "or_equal": True,
        }
    },  # 13 fail: 500 < 510
    {"freshness": {"column": "created_at", "max_age_hours": 36, "as_of": "2026-03-02 00:00:00"}},  # 14 pass
    {"freshness": {"column": "created_at", "max_age_hours": 12, "as_of": "2026-03-02 00:00:00"}},  # 15 fail
    {"rate_between_0_and_1": "score"},  # 16 pass (NULL allowed)
    {"rate_between_0_and_1": "bad_rate", "severity": "warn"},  # 17 warn: 1.5, -0.1
    {"not_null": "no_such_column"},  # 18 crashes
    {"expect_column_values_to_not_match_regex": {"column": "email", "regex": "example"}},  # 19 fail: 7
    {"expect_column_values_to_match_like_pattern": {"column": "email", "like_pattern": "%@%"}},  # 20 fail: 1
]


def locate(path: tuple[str | int, ...]) -> SourceLocation:
    return SourceLocation("models/leads.yml", 10 + int(path[0]) if path else 1, 5)


def checks(items: list[dict[str, Any]], target: str) -> list[Expectation]:
    expectations, problems = parse_expectations(items, target, locate)
    assert problems == []
    return expectations


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[duckdb.DuckDBPyConnection, str]:
    path = str(tmp_path_factory.mktemp("quality") / "warehouse.duckdb")
    con = duckdb.connect(path)
    con.execute(LEADS_ROWS)
    yield con, path
    con.close()


@pytest.fixture(scope="module")
def leads(warehouse) -> list[ExpectationResult]:
    con, path = warehouse
    expectations = checks(LEADS_CHECKS, "model stg_leads")
    return run_expectations(con, path, "analytics", "stg_leads__kf_new", expectations)


def test_results_come_back_in_order_with_their_expectations(leads):
    assert [r.expectation.kind for r in leads] == [e.kind for e in checks(LEADS_CHECKS, "model stg_leads")]
    assert all(r.expectation.target == "model stg_leads" for r in leads)


@pytest.mark.parametrize(
    ("index", "passes"),
    [
        (0, True),
        (1, False),
        (2, True),
        (3, False),
        (4, True),
        (5, False),
        (6, True),
        (7, False),
        (8, True),
        (9, False),
        (10, True),
        (11, False),
        (12, True),
        (13, False),
        (14, True),
        (15, False),
        (16, True),
        (17, False),
        (19, False),
        (20, False),
    ],
)
def test_each_check_passes_or_fails_as_the_data_says(leads, index, passes):
    result = leads[index]
    assert result.error is None, result.error
    assert result.success is passes, result


def test_counts_and_samples_of_column_checks(leads):
    nulls, duplicates, outside_set, negative = leads[1], leads[3], leads[5], leads[7]
    assert (nulls.element_count, nulls.unexpected_count, nulls.unexpected_percent) == (10, 2, 20.0)
    assert nulls.sample == []  # five NULLs would say nothing
    assert duplicates.unexpected_count == 4 and sorted(duplicates.sample) == [1, 1, 2, 2]
    assert outside_set.unexpected_count == 2 and outside_set.sample == ["event", "event"]
    assert negative.unexpected_count == 1 and negative.sample == [-5]
    assert leads[11].unexpected_count == 1 and leads[11].sample == ["not-an-email"]
    assert leads[13].unexpected_count == 1 and [list(s) for s in leads[13].sample] == [[500.0, 510.0]]
    assert leads[9].observed_value == 10
    # regexes are partial matches (as in GX's pandas engine) on every DuckDB version; LIKE works too
    assert leads[19].unexpected_count == 7 and "ann@example.com" in leads[19].sample
    assert leads[20].unexpected_count == 1 and leads[20].sample == ["not-an-email"]


def test_kpi_checks_report_their_offending_rows(leads):
    stale, rates = leads[15], leads[17]
    assert stale.unexpected_count == 1
    assert stale.sample[0]["age_hours"] == pytest.approx(14.0) and stale.sample[0]["max_age_hours"] == 12
    assert rates.status == "warn" and rates.unexpected_count == 2
    assert sorted(row["bad_rate"] for row in rates.sample) == [-0.1, 1.5]


def test_a_crashing_expectation_is_a_failed_result_with_its_error(leads):
    crashed = leads[18]
    assert crashed.success is False and crashed.status == "error"
    assert "no_such_column" in crashed.error and "does not exist" in crashed.error
    assert leads[0].success  # the others of the same suite still ran


def test_arguments_gx_refuses_fail_only_that_expectation(warehouse):
    con, path = warehouse
    bad = Expectation(
        "expect_column_values_to_be_between", {"column": "lead_id", "minimum": 1}, "error", "model stg_leads", None
    )
    good = checks([{"unique": "lead_id"}], "model stg_leads")[0]
    crashed, fine = run_expectations(con, path, "analytics", "stg_leads__kf_new", [bad, good])
    assert crashed.success is False and "minimum" in crashed.error
    assert fine.success is True and fine.error is None


def test_a_missing_table_fails_every_check_with_the_reason(warehouse):
    con, path = warehouse
    expectations = checks([{"not_null": "a"}, {"unique": "b"}], "model nope")
    results = run_expectations(con, path, "analytics", "nope", expectations)
    assert [r.success for r in results] == [False, False]
    assert all("analytics.nope" in r.error for r in results)


def test_views_are_checked_too(warehouse):
    con, path = warehouse
    [result] = run_expectations(con, path, "analytics", "v_leads", checks([{"not_null": "email"}], "model v"))
    assert result.error is None and result.unexpected_count == 2


OLD_DUCKDB = tuple(int(part) for part in duckdb.__version__.split(".")[:2]) < (1, 5)


@pytest.mark.parametrize(
    ("schema", "table"),
    [
        pytest.param(
            "analytics",
            "order",
            marks=pytest.mark.skipif(
                OLD_DUCKDB, reason="DuckDB 1.4 lacks pg_collation, so GX falls back to an unquoted table name"
            ),
        ),
        ("Marts", "LeadOrders"),
    ],
)
def test_reserved_words_and_mixed_case_names_are_quoted(warehouse, schema, table):
    con, path = warehouse
    expectations = checks([{"not_null": "group"}, {"rate_between_0_and_1": "Rate"}], "model order")
    nulls, rates = run_expectations(con, path, schema, table, expectations)
    assert (nulls.error, nulls.unexpected_count) == (None, 1)
    assert (rates.error, rates.sample) == (None, [{"Rate": 2.0}])


def test_identifiers_are_never_pasted_into_sql(warehouse):
    """Quotes, braces (GX str.formats the query) and `:name` (SQLAlchemy binds) in a column name."""
    con, path = warehouse
    odd = 'we"ird {x} :y'
    [result] = run_expectations(con, path, "analytics", "order", checks([{"rate_between_0_and_1": odd}], "m"))
    assert (result.error, result.sample) == (None, [{odd: -1.0}])


def test_without_a_connection_the_file_is_opened(warehouse):
    _, path = warehouse
    [result] = run_expectations(None, path, "analytics", "v_leads", checks([{"unique": "lead_id"}], "m"))
    assert result.success is True and result.error is None


def test_references_finds_unknown_keys_and_ignores_nulls(warehouse):
    con, path = warehouse
    leads = {"table": "stg_leads__kf_new", "column": "lead_id"}
    items = [
        {"references": {"column": "lead_id", "to": leads}},  # schema defaults to the checked one's
        {"references": {"column": "known_lead_id", "to": {"schema": "analytics", **leads}}},
    ]
    expectations = checks(items, "model stg_activity")
    orphans, known = run_expectations(con, path, "analytics", "stg_activity", expectations)
    assert orphans.success is False and orphans.unexpected_count == 2
    assert sorted(row["lead_id"] for row in orphans.sample) == [98, 99]
    assert known.success is True and known.error is None


@pytest.fixture(scope="module")
def monthly(warehouse) -> list[ExpectationResult]:
    con, path = warehouse
    band = {"column": "leads", "order_by": "period_start", "group_by": ["channel"]}
    items = [
        {"funnel_monotonic": {"columns": ["leads", "mqls", "sqls"]}},  # web 2026-02
        {"funnel_monotonic": {"columns": ["leads", "mqls", "sqls"], "group_by": ["period_start"]}},  # sums ok
        {"funnel_monotonic": {"columns": ["mqls", "leads"], "group_by": "channel"}},  # leads > mqls
        {"within_historical_band": {**band, "window": 6, "tolerance": 3}},  # web jumps
        {"within_historical_band": {**band, "window": 6, "tolerance": 1000}},
        {"within_historical_band": {**band, "window": 12}},  # too little history
    ]
    expectations = checks(items, "table marketing_monthly")
    return run_expectations(con, path, "metrics", "marketing_monthly", expectations)


def test_funnel_monotonic_per_row_and_per_group(monthly):
    per_row, per_period, reversed_stages = monthly[:3]
    assert per_row.success is False and per_row.unexpected_count == 1
    assert per_row.sample == [{"leads": 500, "mqls": 50, "sqls": 60}]
    assert per_period.success is True and per_period.error is None  # 20 + 10 >= ... summed per period
    assert reversed_stages.success is False and reversed_stages.unexpected_count == 2


def test_within_historical_band_flags_only_the_outlying_group(monthly):
    band, wide, short_history = monthly[3:]
    assert band.success is False and band.unexpected_count == 1
    row = band.sample[0]
    assert row["channel"] == "web" and row["leads"] == 500
    assert row["band_mean"] == pytest.approx(100.666, abs=0.01) and row["band_high"] < 500
    assert wide.success is True and wide.error is None
    assert short_history.success is True and short_history.error is None


def test_stock_duckdb_engine_loses_rows_and_ours_keeps_them():
    """GX #10738 in one line: rows fetched after the connection went back to the pool."""
    import duckdb_engine
    import sqlalchemy as sa

    con = duckdb.connect()
    fetched = []
    for make in (
        lambda: duckdb_engine.ConnectionWrapper(con.cursor()),
        lambda: duckdb_dbapi.SharedDuckDBConnection(con),
    ):
        engine = sa.create_engine("duckdb:///:memory:", creator=make, poolclass=sa.pool.StaticPool)
        with engine.connect() as connection:
            result = connection.execute(sa.text("select 42 union all select 43 order by 1"))
        fetched.append(result.fetchall())  # what GX's execute_query does
        engine.dispose()
    assert fetched == [[], [(42,), (43,)]]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_without_the_workaround_gx_fails_with_index_error(warehouse):
    """A canary: when this fails, GX fixed #10738 and SharedDuckDBConnection may be dropped."""
    import duckdb_engine
    import great_expectations as gx
    import sqlalchemy as sa

    from kpiframe.quality.gx_runner import _context

    con, _ = warehouse
    source = _context().data_sources.add_sql(
        name="stock_duckdb_engine",
        connection_string="duckdb:///x",
        kwargs={"creator": lambda: duckdb_engine.ConnectionWrapper(con.cursor()), "poolclass": sa.pool.StaticPool},
    )
    try:
        asset = source.add_table_asset(name="t", table_name="stg_leads__kf_new", schema_name="analytics")
        batch = asset.add_batch_definition_whole_table("all").get_batch()
        result = batch.validate(gx.expectations.ExpectTableRowCountToBeBetween(min_value=1))
    finally:
        _context().data_sources.delete("stock_duckdb_engine")
    assert result.success is False
    assert "list index out of range" in str(result.exception_info)


def test_a_million_rows_are_checked_in_the_warehouse(tmp_path, monkeypatch):
    """Ten checks on 1M rows; every row reaching Python passes a DB-API cursor, so count those."""
    fetched = {"rows": 0}
    for name in ("fetchone", "fetchmany", "fetchall"):
        original = getattr(duckdb_dbapi.IndependentCursor, name)

        def counting(self, *args, _original=original, **kwargs):
            rows = _original(self, *args, **kwargs)
            fetched["rows"] += (rows is not None) if _original.__name__ == "fetchone" else len(rows)
            return rows

        monkeypatch.setattr(duckdb_dbapi.IndependentCursor, name, counting)
    path = str(tmp_path / "big.duckdb")
    con = duckdb.connect(path)
    con.execute("create schema analytics")
    con.execute("""create table analytics.events as select i as event_id, i % 50000 as lead_id,
        case when i % 1000 = 0 then null else 'u' || i || '@example.com' end as email,
        ['web', 'ads', 'event'][1 + i % 3] as channel, (i % 97) / 100.0 as rate,
        timestamp '2026-01-01' + to_seconds(i) as created_at, i % 7 as a, i % 5 as b
        from range(1000000) t(i)""")
    con.execute("create table analytics.leads as select i as lead_id from range(50000) t(i)")
    items = [
        {"not_null": "email"},
        {"unique": "event_id"},
        {"accepted_values": {"column": "channel", "values": ["web", "ads"]}},
        {"between": {"column": "rate", "min": 0, "max": 0.9}, "mostly": 0.95},
        {"row_count_between": {"min": 1}},
        {"matches_regex": {"column": "email", "regex": r"@example\.com$"}},
        {"expect_column_pair_values_a_to_be_greater_than_b": {"column_A": "a", "column_B": "b"}},
        {"rate_between_0_and_1": "rate"},
        {"freshness": {"column": "created_at", "max_age_hours": 24, "as_of": "2026-01-13 00:00:00"}},
        {"references": {"column": "lead_id", "to": {"table": "leads", "column": "lead_id"}}},
    ]
    results = run_expectations(con, path, "analytics", "events", checks(items, "model events"))
    con.close()
    assert [r.error for r in results] == [None] * 10
    assert [r.success for r in results] == [False, True, False, False, True, True, False, True, True, True]
    assert results[0].unexpected_count == 1000 and results[2].unexpected_count == 333_333
    assert results[0].element_count == 1_000_000
    assert fetched["rows"] < 200  # aggregates and a few samples, never the table


def test_the_catalog_matches_the_installed_great_expectations():
    """catalog.py is what parsing knows without importing GX; an upgrade that changes GX fails here."""
    from great_expectations.expectations.expectation import Expectation as GxExpectation
    from great_expectations.expectations.registry import _registered_expectations

    from kpiframe.quality.catalog import GX_EXPECTATIONS

    base = set(GxExpectation.__fields__) | {"batch_id", "library_metadata"}
    left_out = {"expect_query_results_to_match_comparison"}
    installed = {}
    for name, gx_class in _registered_expectations.items():
        if name.startswith("expect_") and name not in left_out:
            fields = [f for f in gx_class.__fields__.values() if f.name not in base]
            required = {f.alias for f in fields if f.required}
            installed[name] = (required, {f.alias for f in fields} - required)
    assert {name: (set(req), set(opt)) for name, (req, opt) in GX_EXPECTATIONS.items()} == installed


def test_fast_uniqueness_agrees_with_gx_own_check_and_hand_written_sql(tmp_path):
    """kpiframe's sorted-hash `unique` against GX's window-function original (`mostly: 1.0` makes GX run its
    own) and a GROUP BY written by hand, on columns of several types with NULLs and repeated values."""
    con = duckdb.connect(str(tmp_path / "u.duckdb"))
    con.execute("create schema s")
    con.execute("""create table s.t as select
        i as id, i % 7 as small_int, 'v' || (i % 50) as text,
        case when i % 3 = 0 then null else i % 40 end as nullable,
        case when i = 5 then -0.0::double when i = 6 then 0.0::double else i * 1.5 end as real,
        date '2026-01-01' + (i % 90)::integer as day, i % 2 = 0 as flag,
        case when i < 3 then 'same' else null end as mostly_null
        from range(200) t(i)""")
    columns = ["id", "small_int", "text", "nullable", "real", "day", "flag", "mostly_null"]
    fast = run_expectations(con, "u.duckdb", "s", "t", checks([{"unique": c} for c in columns], "model t"))
    stock = run_expectations(
        con, "u.duckdb", "s", "t", checks([{"unique": c, "mostly": 1.0} for c in columns], "model t")
    )
    for column, ours, gx in zip(columns, fast, stock, strict=True):
        by_hand = con.execute(
            f"select coalesce(sum(n), 0) from (select count(*) n from s.t where {column} is not null "
            f"group by {column} having count(*) > 1)"
        ).fetchone()[0]
        assert (column, ours.unexpected_count, ours.success) == (column, by_hand, by_hand == 0)
        assert (column, gx.unexpected_count, gx.success) == (column, by_hand, by_hand == 0)
    assert fast[4].unexpected_count == 3  # rows 0, 5 (-0.0) and 6: one value, as GROUP BY has it
    con.close()


def test_uniqueness_under_a_collation_counts_what_group_by_counts(tmp_path):
    """NOCASE makes 'a' and 'A' one value while their hashes differ: the hash step must not run there."""
    from kpiframe.quality.gx_runner import hash_prefilter_is_exact

    con = duckdb.connect(str(tmp_path / "c.duckdb"))
    con.execute("create schema s")
    con.execute("create table s.plain as select 'v' || (i % 5) as code from range(10) t(i)")
    con.execute(
        "create table s.nocase as select (case when i % 2 = 0 then 'A' else 'a' end) collate nocase "
        "as code from range(4) t(i)"
    )
    assert hash_prefilter_is_exact(con, "s", "plain") and not hash_prefilter_is_exact(con, "s", "nocase")
    [ours] = run_expectations(con, "c.duckdb", "s", "nocase", checks([{"unique": "code"}], "model nocase"))
    [stock] = run_expectations(con, "c.duckdb", "s", "nocase", checks([{"unique": "code", "mostly": 1.0}], "m"))
    by_hand = con.execute(
        "select count(*) from s.nocase where code in (select code from s.nocase group by code having count(*) > 1)"
    ).fetchone()[0]
    assert by_hand == 4 and ours.unexpected_count == stock.unexpected_count == by_hand
    con.close()
