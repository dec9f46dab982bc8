"""The example project on Apache Spark (local[2], a Hive metastore in the project) and on DuckDB side by side.

Both get the same raw rows (`kpiframe demo`, plus the acceptance run's edge rows: tests/integration/conftest.py's
spark_example), are built by the CLI, and must publish the same rows. DuckDB's results are the independent
reference: a different engine running the SQL kpiframe renders for it. Spark starts once per test process,
in that fixture, which test_spark_acceptance.py shares (the CLI's commands run in this process and share
its session).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from click.testing import CliRunner
from sqlglot import exp

from kpiframe.cli import main
from kpiframe.engine import connect
from kpiframe.engine.spark import SparkWarehouse
from kpiframe.project import Project
from tests.integration.conftest import SPARK, SparkExample, short_jvm_env

pytestmark = [pytest.mark.slow, pytest.mark.spark]

REPO = Path(__file__).resolve().parents[2]


def copy_example(root: Path) -> Path:
    for item in ("models", "macros", "metrics"):
        if (REPO / item).is_dir():
            shutil.copytree(REPO / item, root / item)
    shutil.copy(REPO / "definitions.lock", root)
    shutil.copy(REPO / "kpi_project.yml", root)
    return root


def cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def built(spark_example: SparkExample) -> tuple[Path, Path]:
    """The example's two copies built over the same raw rows: on DuckDB, on Spark."""
    return spark_example.on_duckdb, spark_example.on_spark


@pytest.fixture(scope="module")
def spark(built: tuple[Path, Path]) -> SparkWarehouse:
    warehouse = connect(Project.load(built[1], warehouse=SPARK).warehouse_spec)
    assert isinstance(warehouse, SparkWarehouse)
    return warehouse


def plain(value: Any) -> Any:
    """One spelling per value, whichever driver returned it."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def sorted_rows(fetched: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    # numbers rounded for the sort only: the two engines' floats may differ in the last digits
    def key(row: tuple[Any, ...]) -> str:
        return repr(tuple(round(v, 6) if isinstance(v, float) else v for v in row))

    return sorted((tuple(plain(v) for v in row) for row in fetched), key=key)


def same(actual: list[tuple[Any, ...]], expected: list[tuple[Any, ...]]) -> bool:
    def equal(a: Any, b: Any) -> bool:
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
            return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
        return bool(a == b)

    return len(actual) == len(expected) and all(
        len(x) == len(y) and all(equal(a, b) for a, b in zip(x, y, strict=True))
        for x, y in zip(actual, expected, strict=True)
    )


def test_every_published_table_has_the_same_rows_on_spark_and_duckdb(
    built: tuple[Path, Path], spark: SparkWarehouse
) -> None:
    on_duckdb, _ = built
    duck = duckdb.connect(str(on_duckdb / "warehouse.duckdb"), read_only=True)
    try:
        tables = [
            str(r[0])
            for r in duck.execute(
                "select table_name from information_schema.tables where table_schema = 'metrics' order by 1"
            ).fetchall()
        ]
        published = sorted(name for schema, name, _ in spark.list_objects({"metrics"}))
        assert published == tables
        assert len(tables) >= 10
        for table in tables:
            expected = duck.execute(f'select * from metrics."{table}"')
            columns = [d[0] for d in expected.description or []]
            wanted = sorted_rows(expected.fetchall())
            got = spark.query(exp.select("*").from_(exp.table_(table, db="metrics", quoted=True)))
            assert got.columns == columns, table
            assert (table, len(got.rows)) == (table, len(wanted))
            assert same(sorted_rows(got.rows), wanted), table
    finally:
        duck.close()


# two days by the hour: timestamp truncation, a spine of hours, a distinct count over a window of hours
HOURS = {
    "metrics": ["leads", "sessions_7d"],
    "grain": "hour",
    "start_time": "2026-02-02",
    "end_time": "2026-02-03T23:00",
}


@pytest.mark.parametrize(
    "request_",
    [
        {"metrics": ["leads", "mqls", "lead_to_mql_rate"], "grain": "month"},
        {"metrics": ["ad_spend", "ctr", "cpc"], "dimensions": ["channel"], "grain": "quarter"},
        {"metrics": ["sessions_7d"], "grain": "day"},
        {"metrics": ["leads_growth"], "grain": "month"},
        {"metrics": ["leads"], "grain": "fiscal_quarter"},
        {"metrics": ["leads", "sessions"], "grain": "week", "compare": "previous"},
        {"metrics": ["leads", "lead_to_mql_rate"], "dimensions": ["metric_time__extract_dow", "channel"]},
        {
            "metrics": ["leads", "sessions_7d"],
            "grain": "hour",
            "start_time": "2026-02-02",
            "end_time": "2026-02-03T23:00",
        },
        # weeks labelled by quarter: the spine's (week, quarter) pairs of its days, a cumulative metric's days
        {"metrics": ["leads", "sessions", "sessions_7d"], "dimensions": ["metric_time__week", "metric_time__quarter"]},
        # a metric per entity in a filter: a request of its own, nested in the scan
        {"metrics": ["leads"], "where": "lead__opportunities > 0", "grain": "quarter"},
    ],
    ids=[
        "ratio",
        "by-channel",
        "cumulative",
        "derived-offset",
        "fiscal-quarter",
        "compare",
        "date-parts",
        "hours",
        "two-grains",
        "metric-per-entity",
    ],
)
def test_a_query_answers_the_same_on_spark_and_duckdb(built: tuple[Path, Path], request_: dict[str, Any]) -> None:
    on_duckdb, on_spark = built
    expected = Project.load(on_duckdb).query(**request_)
    got = Project.load(on_spark, warehouse=SPARK).query(**request_)
    assert got.columns == expected.columns
    assert len(expected.rows) > 0
    assert same(sorted_rows(got.rows), sorted_rows(expected.rows))


def test_the_spark_build_is_recorded_and_leaves_no_staging_tables(spark: SparkWarehouse) -> None:
    runs = spark.query(exp.select("status").from_(exp.table_("runs", db="kpiframe", quoted=True)))
    # the demo's baseline reset, then the build: both ended (UPDATE rewritten for Parquet tables)
    assert sorted(r[0] for r in runs.rows) == ["baseline_reset", "success"]
    schemas = {"analytics", "metrics", "raw"}
    assert [name for _, name, _ in spark.list_objects(schemas) if name.endswith(("__kf_new", "__kf_rewrite"))] == []
    # every published name (the demo's raw tables too) is a view over exactly one version, shown as a table
    catalog = spark._catalog_objects(schemas)
    views = sorted((s, n) for s, n, kind in catalog if kind == "view" and spark._published(s, n))
    versions = sorted((s, n.split("__kf_v")[0]) for s, n, kind in catalog if kind == "table" and "__kf_v" in n)
    assert views == versions and len(views) >= 20
    assert {kind for s, n, kind in spark.list_objects(schemas) if (s, n) in set(views)} == {"table"}


def test_the_expectations_give_the_same_verdicts_on_spark_as_on_duckdb(
    built: tuple[Path, Path], spark: SparkWarehouse
) -> None:
    """On Spark the expectations run as kpiframe's own counting SQL, on DuckDB through Great Expectations:
    the example's build records the same verdicts and the same counts of unexpected rows on both."""
    columns = ("target", "expectation", "severity", "success", "unexpected_count", "error")
    listed = f"select {', '.join(columns)} from kpiframe.expectation_results"
    duck = duckdb.connect(str(built[0] / "warehouse.duckdb"), read_only=True)
    try:
        expected = sorted(duck.execute(listed).fetchall(), key=repr)
    finally:
        duck.close()
    got = sorted(spark.query(exp.select(*columns).from_("kpiframe.expectation_results")).rows, key=repr)
    assert len(expected) >= 40
    assert [r for r in got if r[5] is not None] == []  # every check ran on Spark
    # some fail on the demo data (duplicated leads, stale sessions: all warn), most pass
    assert {r[3] for r in expected} == {True, False}
    assert got == expected


def test_the_next_build_cleans_up_after_a_killed_one(spark: SparkWarehouse) -> None:
    """What a killed build leaves on Spark (a run marked running, a staging table) is cleaned up by the
    next build: the run is marked abandoned (an UPDATE, rewritten for Parquet) and the table dropped."""
    from kpiframe.build.runs import BuildResult, clean_up_abandoned, record_start

    now = datetime(2026, 1, 1, 12, 0)
    record_start(spark, BuildResult("killedrun001", now, now), "hash", "all", None, "acme_revenue")
    spark.execute(
        exp.Create(
            this=exp.table_("sales_monthly__kf_new", db="metrics", quoted=True),
            kind="TABLE",
            expression=exp.select(exp.Literal.number(1).as_("x")),
        )
    )
    said = clean_up_abandoned(spark, "acme_revenue", {"metrics"})
    assert said is not None and "killedrun001" in said and "metrics.sales_monthly__kf_new" in said
    status = spark.query(
        exp.select("status")
        .from_(exp.table_("runs", db="kpiframe", quoted=True))
        .where(exp.column("run_id").eq(exp.Literal.string("killedrun001")))
    )
    assert status.rows == [("abandoned",)]
    assert not spark.table_exists("metrics", "sales_monthly__kf_new")


def test_spark_gets_divisions_percentiles_and_quarters_it_can_run() -> None:
    """The three rewrites of kpiframe.engine.spark.spark_tree, spelled out; DuckDB's tree is unchanged."""
    from kpiframe.engine.spark import spark_tree
    from kpiframe.sql.calendar import interval

    tree = exp.select(
        exp.Div(this=exp.column("a"), expression=exp.column("b"), safe=True),
        exp.Div(this=exp.column("seconds"), expression=exp.Literal.number(3600.0)),
        exp.PercentileCont(this=exp.column("h"), expression=exp.Literal.number(0.9)),
        exp.PercentileDisc(this=exp.column("h"), expression=exp.Literal.number(0.9)),
        exp.Add(this=exp.column("d"), expression=interval(2, "QUARTER")),
    ).from_("t")
    before = tree.sql(dialect="duckdb")
    assert spark_tree(tree).sql(dialect="spark") == (
        "SELECT CAST(a AS DOUBLE) / NULLIF(b, 0), CAST(seconds AS DOUBLE) / 3600.0, PERCENTILE(h, 0.9), "
        "PERCENTILE_DISC(0.9) WITHIN GROUP (ORDER BY h NULLS LAST), d + INTERVAL '6' MONTH FROM t"
    )
    assert tree.sql(dialect="duckdb") == before


def test_spark_computes_percentiles_as_duckdb_does(spark: SparkWarehouse) -> None:
    # agg: percentile (continuous, and discrete: a row's value), exact on both engines
    tree = sqlglot.parse_one(
        "select quantile_cont(x, 0.9), quantile_disc(x, 0.9), quantile_disc(x, 0.5) "
        "from (values (1.0), (2.0), (10.0), (11.0), (null)) as t(x)",
        read="duckdb",
    )
    on_duckdb = [tuple(float(v) for v in row) for row in duckdb.sql(tree.sql(dialect="duckdb")).fetchall()]
    assert on_duckdb == [(pytest.approx(10.7), 11.0, 2.0)]
    assert [tuple(float(v) for v in row) for row in spark.query(tree).rows] == on_duckdb


# --- a build killed while it switches the published views --------------------------------------------
PAUSED = "KF-PAUSED"
SHOP_RAW = [
    "CREATE DATABASE raw",
    "CREATE TABLE raw.customers (customer_id STRING, region STRING) USING parquet",
    "INSERT INTO raw.customers VALUES ('c1', 'emea'), ('c2', 'amer'), ('c3', NULL)",
    "CREATE TABLE raw.orders (order_id STRING, customer_id STRING, ordered_at TIMESTAMP, amount DECIMAL(10,2), "
    "status STRING) USING parquet",
    "INSERT INTO raw.orders VALUES ('o1', 'c1', TIMESTAMP'2026-01-01 10:00:00', 100.00, 'paid'), "
    "('o2', 'c1', TIMESTAMP'2026-01-02 11:00:00', 50.00, 'refunded'), "
    "('o3', 'c2', TIMESTAMP'2026-01-05 09:00:00', 30.00, 'paid'), "
    "('o4', 'c3', TIMESTAMP'2026-02-01 00:00:00', 70.00, 'refunded'), "
    "('o5', 'cX', TIMESTAMP'2026-02-03 08:00:00', 20.00, 'paid'), "
    "('o6', 'c2', TIMESTAMP'2026-03-31 23:59:00', 10.00, 'paid'), "
    "('o7', 'c1', TIMESTAMP'2026-04-01 00:00:00', 40.00, 'paid'), "
    "('o8', 'c1', TIMESTAMP'2026-04-02 00:00:00', 99.00, 'test')",
]
SHOP_MORE = [  # what the second build publishes: one more customer, one more order
    "INSERT INTO raw.customers VALUES ('c4', 'apac')",
    "INSERT INTO raw.orders VALUES ('o9', 'c4', TIMESTAMP'2026-05-02 10:00:00', 5.00, 'paid')",
]
# each published table summed by hand: (old build, new build); 'test' orders are dropped by stg_orders
SHOP_SUMS = {
    "analytics.stg_customers": ("SELECT count(*) FROM analytics.stg_customers", [[3], [4]]),
    "analytics.stg_orders": ("SELECT count(*), sum(amount) FROM analytics.stg_orders", [[7, 320.0], [8, 325.0]]),
    "analytics.order_cents": ("SELECT count(*), sum(cents) FROM analytics.order_cents", [[7, 32000.0], [8, 32500.0]]),
    "metrics.shop_monthly": (
        "SELECT sum(orders), sum(revenue) FROM metrics.shop_monthly",
        [[7, 320.0], [8, 325.0]],
    ),
}
_SHOP_SCRIPT = textwrap.dedent(f"""
    import json, sys
    from kpiframe.engine.spark import SparkWarehouse
    from kpiframe.project import Project

    project = Project.load(sys.argv[2])
    warehouse = project.connect()

    def sums():
        return {{t: [float(v) if v is not None and not isinstance(v, int) else v for v in
                    warehouse.session.sql(sql).collect()[0]] for t, (sql, _) in {SHOP_SUMS!r}.items()}}

    def pause():
        print({PAUSED!r}, flush=True)
        sys.stdin.readline()

    if sys.argv[1].startswith("kill"):
        for statement in {SHOP_RAW!r}:
            warehouse.session.sql(statement)
        project.build()
        for statement in {SHOP_MORE!r}:
            warehouse.session.sql(statement)
        publish, execute, published = SparkWarehouse.publish_table, SparkWarehouse.execute, []

        def publish_and_pause(self, schema, name, physical):  # kill-gating: two of four tables gated
            publish(self, schema, name, physical)
            published.append(name)
            if len(published) == 2:
                pause()

        def execute_and_pause(self, statement):  # kill-switched: the pointer names the new run, nothing settled
            execute(self, statement)
            pointer = statement.key == "create" and statement.this.name == "kf_published_run"
            if pointer and "none" not in statement.sql():
                pause()

        if sys.argv[1] == "kill-gating":
            SparkWarehouse.publish_table = publish_and_pause
        else:
            SparkWarehouse.execute = execute_and_pause
        project.build()
    else:
        after_kill = sums()
        notices = []
        project.build(on_notice=notices.append)
        objects = [f"{{s}}.{{n}}" for s, n, _ in warehouse._catalog_objects({{"analytics", "metrics"}})]
        print(json.dumps({{"after_kill": after_kill, "after_next": sums(), "notices": notices, "objects": objects}}))
""")


KILL_MOMENTS = {"kill-gating": 0, "kill-switched": 1}  # the build readers must see after the kill: old, new


@pytest.fixture(scope="module")
def paused_shop_builds(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, tuple[Path, subprocess.Popen[str]]]]:
    """The shop project built on Spark in a process of its own, then built again and paused: once after two
    of its four tables were gated, once right after the pointer switched. Their own processes, because
    this process's Spark holds the example's metastore."""
    from tests.conftest import SHOP_PROJECT, write_files

    files = {**SHOP_PROJECT, "kpi_project.yml": "name: shop\nwarehouse: {type: spark, warehouse_dir: wh}\n"}
    builds = {}
    for moment in KILL_MOMENTS:
        root = write_files(tmp_path_factory.mktemp(moment), files)
        builds[moment] = (
            root,
            subprocess.Popen(
                [sys.executable, "-c", _SHOP_SCRIPT, moment, str(root)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=short_jvm_env(),
            ),
        )
    yield builds
    for _, build in builds.values():
        if build.poll() is None:
            build.kill()
            build.communicate()


@pytest.mark.spark_extended  # two more Spark processes, four builds: outside the default run (CI time)
@pytest.mark.parametrize("moment", list(KILL_MOMENTS))
def test_a_killed_build_leaves_every_table_of_one_build_and_the_next_build_cleans_up(
    paused_shop_builds: dict[str, tuple[Path, subprocess.Popen[str]]], moment: str
) -> None:
    """kill -9 while the swap of the shop project's four tables is under way: before the pointer switched
    (two tables gated, two not) every published table is still the old build's, complete; after it, every
    one is the new build's. Then the next build publishes all and drops the versions nothing reads."""
    root, build = paused_shop_builds[moment]
    assert build.stdout is not None
    marker = build.stdout.readline().strip()
    build.kill()  # SIGKILL: no clean-up code runs
    _, err = build.communicate()
    assert marker == PAUSED, err
    after = subprocess.run(
        [sys.executable, "-c", _SHOP_SCRIPT, "after", str(root)],
        capture_output=True,
        text=True,
        timeout=600,
        env=short_jvm_env(),
    )
    assert after.returncode == 0, after.stderr
    seen = json.loads(after.stdout.strip().splitlines()[-1])
    expected = KILL_MOMENTS[moment]
    assert all(seen["after_kill"][table] == sums[expected] for table, (_, sums) in SHOP_SUMS.items()), seen
    assert all(seen["after_next"][table] == sums[1] for table, (_, sums) in SHOP_SUMS.items()), seen["after_next"]
    [notice] = seen["notices"]
    assert "abandoned" in notice and "__kf_v" in notice
    # one version per published table is left, read by its view; no staging table
    versions = sorted(name.split("__kf_v")[0] for name in seen["objects"] if "__kf_" in name)
    assert versions == sorted(SHOP_SUMS)


def close_enough(got: Any, expected: Any) -> bool:
    """The same JSON answer, numbers within 1e-9."""
    if isinstance(expected, dict):
        return (
            isinstance(got, dict)
            and got.keys() == expected.keys()
            and all(close_enough(got[k], v) for k, v in expected.items())
        )
    if isinstance(expected, list):
        return isinstance(got, list) and len(got) == len(expected) and all(map(close_enough, got, expected))
    return same([(got,)], [(expected,)])


def verdicts(output: str) -> list[str]:
    """What `kpiframe test` said of each expectation and how many rows it found unexpected (no samples:
    Spark's checks return counts only), sorted: a table's checks are listed in the order they ran, which
    differs (one query per table on Spark)."""
    said: list[str] = []
    for line in (line.strip() for line in output.splitlines()):
        if line.startswith(("PASS ", "WARN ", "FAIL ", "ERROR ")) or "passed," in line:
            said.append(line)
        elif line.startswith("unexpected:"):  # the count only: Spark adds "of <rows> (<share>)" where GX may not
            said[-1] += f" | {line.split(' of ')[0]}"
    return sorted(said)


@pytest.mark.parametrize(
    "command",
    [
        ("status", "--format", "json"),
        ("funnel", "--format", "json"),
        ("explain", "mqls", "--period", "2026-10", "--format", "json"),
        ("explain", "pipeline", "--period", "2026-Q3", "--vs", "year", "--format", "json"),
        # the example's 56 metric-test cases on Spark take ~1.5 minutes: outside the default run (CI time)
        pytest.param(("test",), marks=pytest.mark.spark_extended),
    ],
    ids=["status", "funnel", "explain", "explain-vs-year", "test"],
)
def test_status_funnel_explain_and_test_answer_the_same_on_spark_and_duckdb(
    built: tuple[Path, Path], command: tuple[str, ...]
) -> None:
    on_duckdb, on_spark = built
    expected = cli(*command, "--project-dir", str(on_duckdb))
    got = cli(*command, "--project-dir", str(on_spark), "--warehouse", SPARK)
    assert expected.exit_code == 0, expected.output
    assert got.exit_code == 0, got.output
    if command[0] == "test":
        assert len(verdicts(expected.output)) >= 40
        assert verdicts(got.output) == verdicts(expected.output)
        return
    assert close_enough(json.loads(got.output), json.loads(expected.output))


def _diff_json(root: Path, *warehouse: str) -> dict[str, Any]:
    result = cli("diff", "--project-dir", str(root), "--base", "HEAD", "--format", "json", *warehouse)
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] = json.loads(result.output)
    return parsed


def _committed_then_changed(root: Path) -> dict[Path, str]:
    """Commit the project as built, then change, in the working tree, a metric's filter (webinar
    registrations count attendances instead); the original texts, to put back. (A changed model, and the
    definition members it moves, are compared on DuckDB in tests/diff; on Spark it would rebuild the whole
    MQL chain twice, minutes of CI for the same code path.)"""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "models", "macros", "metrics", "definitions.lock", "kpi_project.yml"], cwd=root)
    subprocess.run([*git, "commit", "-q", "-m", "built"], cwd=root, check=True)
    edits = {
        root / "metrics/marketing.yml": (
            "filter: \"activity_type = 'webinar_register'\"",
            "filter: \"activity_type = 'webinar_attend'\"",
        ),
    }
    originals = {}
    for path, (old, new) in edits.items():
        originals[path] = path.read_text(encoding="utf-8")
        assert old in originals[path]
        path.write_text(originals[path].replace(old, new), encoding="utf-8")
    return originals


@pytest.mark.spark_extended  # ~1-3 minutes of Spark: outside the default run (CI time)
def test_diff_value_impact_on_spark_equals_duckdb_and_hand_sql(built: tuple[Path, Path]) -> None:
    """`kpiframe diff` runs both versions on Spark in temporary views of the session (nothing written to the
    warehouse) and finds the same values per period as on DuckDB; the changed metric's values are those of
    SQL written here over the built staging table."""
    on_duckdb, on_spark = built
    changed = [_committed_then_changed(on_duckdb), _committed_then_changed(on_spark)]
    try:
        spark_before = sorted(
            connect(Project.load(on_spark, warehouse=SPARK).warehouse_spec).list_objects(
                {"raw", "analytics", "metrics", "kpiframe"}
            )
        )
        expected, got = _diff_json(on_duckdb), _diff_json(on_spark, "--warehouse", SPARK)
        spark_after = sorted(
            connect(Project.load(on_spark, warehouse=SPARK).warehouse_spec).list_objects(
                {"raw", "analytics", "metrics", "kpiframe"}
            )
        )
    finally:
        for originals in changed:
            for path, text in originals.items():
                path.write_text(text, encoding="utf-8")
    assert not [n for n in got["notes"] if "value impact skipped" in n], got["notes"]
    assert spark_after == spark_before  # the diff wrote nothing to the Spark warehouse
    assert {"webinar_registrations", "webinar_attendance_rate"} <= set(expected["series"])
    assert set(got["series"]) == set(expected["series"])
    for name, series in expected["series"].items():
        mine = got["series"][name]
        assert series["error"] is None and mine["error"] is None, (name, series["error"], mine["error"])
        assert len(series["periods"]) == 3
        assert close_enough(mine["periods"], series["periods"]), name

    duck = duckdb.connect(str(on_duckdb / "warehouse.duckdb"), read_only=True)
    try:
        by_hand = """select strftime(date_trunc('month', occurred_at), '%Y-%m-%d'), count(activity_id)
                     from analytics.stg_lead_activities where activity_type = ? group by 1"""
        registered = dict(duck.execute(by_hand, ["webinar_register"]).fetchall())
        attended = dict(duck.execute(by_hand, ["webinar_attend"]).fetchall())
    finally:
        duck.close()
    periods = got["series"]["webinar_registrations"]["periods"]
    assert [(p["old"], p["new"]) for p in periods] == [
        (registered.get(p["period"], 0), attended.get(p["period"], 0)) for p in periods
    ]
    assert any(p["old"] != p["new"] for p in periods)
