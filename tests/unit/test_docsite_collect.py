"""kpiframe.docsite.collect: what the docs site shows, checked against SQL written by hand on the warehouse,
against the project's own files (refs, metric lists, targets) and on projects without a build."""

from __future__ import annotations

import calendar
import dataclasses
import functools
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from ruamel.yaml import YAML

from kpiframe.docsite.collect import collect_site
from kpiframe.errors import KpiframeError
from kpiframe.load.specs import WarehouseSpec
from kpiframe.project import Project
from kpiframe.scaffold import init_project
from kpiframe.sql.calendar import PERIOD_GRAINS, SUBDAY_GRAINS
from kpiframe.sql.metric_query import MetricRequest, compile_request
from tests.conftest import copy_example, hand

SQL_REFS = re.compile(r"\{\{\s*ref\('(\w+)'\)\s*\}\}")
SQL_SOURCES = re.compile(r"\{\{\s*source\('(\w+)',\s*'(\w+)'\)\s*\}\}")


# --- the built example (demo data, seed 3, scale 0.1) ------------------------------------------------------
@pytest.fixture(scope="module")
def example(built_example: Path) -> Project:
    return Project.load(built_example, warehouse=str(built_example / "warehouse.duckdb"))


@pytest.fixture(scope="module")
def site(example: Project) -> Any:
    steps: list[str] = []
    data = collect_site(example, progress=steps.append)
    assert steps[0].startswith("catalog of") and "trends" in steps
    return data


def by(items: list[Any], key: str) -> dict[str, Any]:
    return {item[key]: item for item in items}


def month_end(start: date) -> date:
    return start.replace(day=calendar.monthrange(start.year, start.month)[1])


def test_a_built_project_is_built_with_nothing_left_out(site: Any) -> None:
    assert site["built"] is True and site["not_built_reason"] is None
    assert site["problems"] == []
    assert site["project"] == "acme_revenue"


def test_the_monthly_leads_trend_is_the_hand_count_per_month(example: Project, site: Any) -> None:
    counted = hand(
        example,
        "select date_trunc('month', created_at)::date, count(*) from analytics.stg_leads "
        "where created_at is not null group by 1 order by 1",
    )
    trend = by(site["trends"], "metric")["leads"]
    assert trend["grain"] == "month" and trend["unit"] == "count"
    assert trend["points"] == [(month.isoformat(), float(count)) for month, count in counted]
    # the last month is in progress when the last lead came before its last day
    ((last_day,),) = hand(example, "select max(created_at)::date from analytics.stg_leads")
    last_month = counted[-1][0]
    assert trend["in_progress"] == (last_month.isoformat() if last_day < month_end(last_month) else None)


def test_a_ratio_trend_is_the_hand_ratio_of_its_counts(example: Project, site: Any) -> None:
    rows = hand(
        example,
        "with l as (select date_trunc('month', created_at)::date m, count(*) n from analytics.stg_leads group by 1), "
        "q as (select date_trunc('month', qualified_at)::date m, count(*) n from analytics.mql_v1 group by 1), "
        "months as (select m from l union select m from q) "
        "select m, coalesce(q.n, 0) / nullif(l.n, 0) from months left join l using (m) left join q using (m) "
        "where m is not null order by 1",
    )
    points = by(site["trends"], "metric")["lead_to_mql_rate"]["points"]
    assert [month for month, _ in points] == [month.isoformat() for month, _ in rows]
    assert [rate for _, rate in points] == [pytest.approx(rate) if rate is not None else None for _, rate in rows]


def test_trend_targets_are_the_targets_in_force_on_the_as_of_day(site: Any) -> None:
    targets = dict(by(site["trends"], "metric")["leads"]["targets"])
    # metrics/targets.yml: leads 2026-10 is 480; 2026-11 was 470, lowered to 440 since 2026-10-20
    assert targets["2026-10-01"] == 480 and targets["2026-11-01"] == 440
    assert targets["2026-12-01"] == 380  # a month after the data still shows its plan
    assert by(site["trends"], "metric")["sessions"]["targets"] == []  # no target, no tree node


def test_the_in_progress_projection_is_the_status_projection(site: Any) -> None:
    trend = by(site["trends"], "metric")["leads"]
    node = by(site["trees"][0]["nodes"], "metric")["leads"]
    assert trend["in_progress"] is not None and node["period"] == trend["in_progress"][:7]
    assert trend["projection"] == pytest.approx(node["projection"])
    assert by(site["trends"], "metric")["sessions"]["projection"] is None  # not tracked by status


def test_metrics_without_a_monthly_query_have_no_trend(site: Any) -> None:
    metrics = by(site["metrics"], "name")
    assert metrics["sessions_7d"]["grains"] == ["day", *SUBDAY_GRAINS]  # a 7-day window refuses coarser grains
    assert "sessions_7d" not in by(site["trends"], "metric")


def test_the_tree_shows_the_status_of_the_current_period(example: Project, site: Any) -> None:
    (tree,) = site["trees"]
    assert tree["name"] == "marketing_pipeline" and tree["label"] == "Marketing pipeline"
    as_of = date.fromisoformat(tree["as_of"])
    quarter_start = date(as_of.year, (as_of.month - 1) // 3 * 3 + 1, 1)
    assert tree["period"] == f"{as_of.year}-Q{(as_of.month - 1) // 3 + 1}"
    assert tree["day"] == (as_of - quarter_start).days + 1
    ((pipeline,),) = hand(
        example,
        "select coalesce(sum(amount), 0) from analytics.stg_opportunities where is_marketing_sourced "
        f"and created_at >= '{quarter_start}' and created_at < '{as_of + timedelta(days=1)}'",
    )
    nodes = by(tree["nodes"], "metric")
    assert nodes["pipeline"]["role"] == "kgi" and nodes["pipeline"]["actual"] == pytest.approx(float(pipeline))
    assert nodes["pipeline"]["target"] == 3_000_000  # metrics/targets.yml, plan 2026-Q4
    # the formula pipeline = opportunities * avg_opportunity_amount gives the KGI its children, by node name
    names = {n["node"]: n["metric"] for n in tree["nodes"]}
    assert {names[c] for c in nodes["pipeline"]["children"]} == {"opportunities", "avg_opportunity_amount"}
    assert {names[c] for c in nodes["mqls"]["children"]} == {"leads", "lead_to_mql_rate"}
    assert {n["role"] for n in tree["nodes"]} == {"kgi", "kpi", "driver"}  # no benchmark or per-channel rows


def test_a_past_period_shows_that_period_whole(example: Project) -> None:
    (tree,) = collect_site(example, "2026-Q3")["trees"]
    assert (tree["period"], tree["as_of"], tree["day"], tree["days"]) == ("2026-Q3", "2026-09-30", 92, 92)
    ((pipeline,), (leads,)) = hand(
        example,
        "select coalesce(sum(amount), 0) from analytics.stg_opportunities where is_marketing_sourced "
        "and created_at >= '2026-07-01' and created_at < '2026-10-01' union all "
        "select count(*) from analytics.stg_leads where created_at >= '2026-09-01' and created_at < '2026-10-01'",
    )
    nodes = by(tree["nodes"], "metric")
    assert nodes["pipeline"]["actual"] == pytest.approx(float(pipeline))
    assert nodes["leads"]["period"] == "2026-09" and nodes["leads"]["actual"] == leads
    assert nodes["leads"]["projection"] == nodes["leads"]["actual"]  # a finished period is not projected


def test_a_period_that_is_not_one_is_refused(unbuilt: Project) -> None:
    with pytest.raises(KpiframeError) as caught:
        collect_site(unbuilt, "2026-13")
    assert caught.value.diagnostic.code == "KF855"


def test_the_funnel_first_stage_is_the_hand_count_of_leads_per_cohort(example: Project, site: Any) -> None:
    (funnel,) = site["funnels"]
    assert funnel["name"] == "lead_funnel" and funnel["window_days"] == 180
    assert funnel["stages"] == ["lead", "mql", "sales_accepted", "sales_qualified", "opportunity", "won"]
    counted = hand(
        example,
        "select date_trunc('month', created_at)::date, count(*) from analytics.stg_leads "
        "where created_at is not null group by 1 order by 1",
    )
    cohorts = funnel["cohorts"]
    assert [(c["cohort_start"], c["stages"][0]["stage"], c["stages"][0]["entities"]) for c in cohorts] == [
        (month.isoformat(), "lead", count) for month, count in counted
    ]
    assert all(c["stages"][0]["conversion_from_first"] == 1 for c in cohorts)
    ((newest,),) = hand(example, "select max(created_at) from analytics.stg_leads")
    for cohort in cohorts:
        start = date.fromisoformat(cohort["cohort_start"])
        closes = month_end(start) + timedelta(days=1 + 180)
        assert cohort["window_closed"] == (closes <= newest.date()), cohort["cohort_start"]
    assert funnel["bottleneck"] is None or set(funnel["bottleneck"]) >= {"cohort_start", "step", "conversion"}


def test_movements_between_mql_versions_are_the_hand_counted_entrants_and_leavers(example: Project, site: Any) -> None:
    ((entrants, leavers, both),) = hand(
        example,
        "select count(*) filter (where v1.lead_id is null), count(*) filter (where v2.lead_id is null), "
        "count(*) filter (where v1.lead_id is not null and v2.lead_id is not null) "
        "from analytics.mql_v1 as v1 full outer join analytics.mql_v2 as v2 on v1.lead_id = v2.lead_id",
    )
    (mql,) = site["definitions"]
    assert mql["movements"] == [
        {"from_version": 1, "to_version": 2, "entrants": entrants, "leavers": leavers, "both": both}
    ]
    assert leavers + entrants > 0  # v2 is stricter: the comparison shows a real movement


def test_definition_versions_come_from_the_definition_file(site: Any) -> None:
    (mql,) = site["definitions"]
    assert (mql["name"], mql["entity"], mql["owners"]) == ("mql", "lead", ["marketing-ops", "sales-development"])
    v1, v2 = mql["versions"]
    assert (v1["version"], v1["effective"], v1["current"]) == (1, "2025-01-01", False)
    assert (v2["version"], v2["effective"], v2["current"]) == (2, "2026-10-01", True)
    assert v2["approvals"][0] == {"team": "marketing-ops", "by": "aiko.tanaka", "on": "2026-09-20"}
    rule = YAML(typ="safe", pure=True).load(v2["rule"])
    assert rule["rule"]["fit"][0] == "employee_count >= 100" and rule["rule"]["threshold"] == 40
    assert rule["rule"]["engagement"]["points"]["webinar_attend"] == 20 and rule["sla"]["hours"] == 24
    assert "    - employee_count >= 100\n" in v2["rule"]  # laid out as the project's files are


def test_runs_and_expectation_results_are_those_of_the_run_log(example: Project, site: Any) -> None:
    runs = hand(
        example,
        "select run_id, status, len(json_keys(rows_per_table::json)) from kpiframe.runs "
        "where status <> 'baseline_reset' order by started_at desc",
    )
    assert [(r["run_id"], r["status"], r["nodes"]) for r in site["runs"]] == [tuple(row) for row in runs]
    ((results, failed),) = hand(
        example, "select count(*), count(*) filter (where not success) from kpiframe.expectation_results"
    )
    assert len(site["expectations"]) == results > 0
    assert sum(not r["success"] for r in site["expectations"]) == failed
    assert {r["severity"] for r in site["expectations"]} <= {"error", "warn"}
    assert [r["checked_at"] for r in site["expectations"]] == sorted(r["checked_at"] for r in site["expectations"])


def test_each_metric_shows_the_sql_of_its_monthly_query(example: Project, site: Any) -> None:
    metrics = by(site["metrics"], "name")
    assert list(metrics) == list(example.graph.metrics)
    for name, entry in metrics.items():
        grain = "month" if "month" in entry["grains"] else entry["grains"][0]
        expected = compile_request(example.layer, MetricRequest((name,), (), grain)).sql(dialect="duckdb", pretty=True)
        if grain == "month":
            assert entry["sql"] == expected, name
        else:
            assert entry["sql"] == f"/* at {grain} grain: {name} cannot be asked for per month */\n{expected}", name
    leads = metrics["leads"]
    assert (leads["type"], leads["dataset"], leads["inputs"], leads["formula"]) == (
        "simple",
        "leads",
        [],
        "count(lead_id) from leads",
    )
    assert "lead__channel" in leads["dimensions"] and leads["grains"] == list(PERIOD_GRAINS)
    assert "metrics.marketing_monthly" in leads["tables"] and leads["file"].startswith("metrics/marketing.yml:")
    ratio = metrics["lead_to_mql_rate"]
    assert (ratio["dataset"], ratio["inputs"]) == (None, ["mqls", "leads"])


def test_grains_are_those_a_query_compiles_at(example: Project, site: Any) -> None:
    for entry in site["metrics"]:
        accepted = []
        for grain in PERIOD_GRAINS:
            try:
                compile_request(example.layer, MetricRequest((entry["name"],), (), grain))
            except KpiframeError:
                continue
            accepted.append(grain)
        assert entry["grains"] == accepted, entry["name"]


# --- projects without a build --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def unbuilt(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The example project, loaded once, with no warehouse file: each test points it where it wants."""
    return Project.load(copy_example(tmp_path_factory.mktemp("unbuilt") / "example"))


@pytest.fixture(scope="module")
def unbuilt_site(unbuilt: Project) -> Any:
    return collect_site(unbuilt)


def with_warehouse(project: Project, path: Path) -> Project:
    return dataclasses.replace(project, warehouse_spec=WarehouseSpec(path=str(path)))


@functools.cache
def example_yaml(root: Path, key: str) -> list[Any]:
    """The items under `key` of the example's metric files, read as plain YAML (metrics/tests/ holds only
    metric tests)."""
    found = []
    for path in sorted((root / "metrics").glob("*.yml")):
        found += YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8")).get(key) or []
    return found


def test_without_a_warehouse_the_catalog_and_lineage_are_complete(unbuilt: Project, unbuilt_site: Any) -> None:
    root, data = unbuilt.root, unbuilt_site
    assert data["built"] is False and "kpiframe build" in (data["not_built_reason"] or "")
    assert "does not exist" in (data["not_built_reason"] or "")
    assert [m["name"] for m in data["metrics"]] == [m["name"] for m in example_yaml(root, "metrics")]
    assert all("WITH " in m["sql"] and m["grains"] for m in data["metrics"])
    assert data["trees"] == data["trends"] == data["funnels"] == data["runs"] == data["expectations"] == []
    assert [d["movements"] for d in data["definitions"]] == [[]]
    lineage_matches_the_project_files(root, data["lineage"])


def lineage_matches_the_project_files(root: Path, lineage: Any) -> None:
    edges = {tuple(edge) for edge in lineage["edges"]}
    ids = {node["id"] for node in lineage["nodes"]}
    assert all(a in ids and b in ids for a, b in edges) and len(ids) == len(lineage["nodes"])
    for path in (root / "models").rglob("*.sql"):
        model = f"model:{path.stem}"
        text = path.read_text(encoding="utf-8")
        written = {f"model:{ref}" for ref in SQL_REFS.findall(text)}
        written |= {f"source:{schema}.{table}" for schema, table in SQL_SOURCES.findall(text)}  # schema = name here
        assert {a for a, b in edges if b == model} == written, path.name
    for dataset in example_yaml(root, "datasets"):
        assert (f"model:{dataset['model']}", f"dataset:{dataset['name']}") in edges
    for table in example_yaml(root, "tables"):
        for metric in table["metrics"]:
            assert (f"metric:{metric}", f"table:metrics.{table['name']}") in edges


def test_example_lineage_runs_from_raw_leads_to_published_tables(unbuilt_site: Any) -> None:
    lineage = unbuilt_site["lineage"]
    edges = {tuple(edge) for edge in lineage["edges"]}
    assert ("source:raw.leads", "model:stg_leads") in edges
    assert ("model:stg_leads", "dataset:leads") in edges
    assert ("dataset:leads", "metric:leads") in edges
    assert {("metric:mqls", "metric:lead_to_mql_rate"), ("metric:leads", "metric:lead_to_mql_rate")} <= edges
    assert ("metric:leads", "table:metrics.marketing_monthly") in edges
    # a definition's generated models are models like any other, and so is a funnel's
    assert ("model:mql_v1", "model:mql_membership") in edges and ("model:stg_leads", "model:mql_v1") in edges
    assert ("model:funnel_lead_funnel", "table:metrics.funnel_lead_funnel_monthly") in edges
    kinds = {node["kind"] for node in lineage["nodes"]}
    assert kinds == {"source", "model", "dataset", "metric", "table"}


def test_a_warehouse_with_raw_data_only_is_not_built(unbuilt: Project, tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("create schema raw; create table raw.leads (lead_id varchar)")
    con.close()
    data = collect_site(with_warehouse(unbuilt, tmp_path / "warehouse.duckdb"))
    assert data["built"] is False and "holds no build of project acme_revenue" in (data["not_built_reason"] or "")
    assert "kpiframe build" in (data["not_built_reason"] or "") and len(data["metrics"]) > 40


def test_a_file_that_is_no_warehouse_is_reported_not_raised(unbuilt: Project, tmp_path: Path) -> None:
    (tmp_path / "warehouse.duckdb").write_bytes(b"SQLite format 3\0" + bytes(100))
    data = collect_site(with_warehouse(unbuilt, tmp_path / "warehouse.duckdb"))
    assert data["built"] is False and "kpiframe build" in (data["not_built_reason"] or "")
    assert data["metrics"] and data["lineage"]["edges"]


def test_a_new_project_from_init_collects_without_a_warehouse(tmp_path: Path) -> None:
    init_project(tmp_path / "shop")
    data = collect_site(Project.load(tmp_path / "shop"))
    assert data["built"] is False
    assert [m["name"] for m in data["metrics"]] == ["orders", "revenue", "average_order_value"]
    assert data["definitions"] == data["trees"] == [] and data["problems"] == []
    assert ("source:raw.orders", "model:stg_orders") in {tuple(e) for e in data["lineage"]["edges"]}


@pytest.mark.slow
def test_a_new_project_from_init_collects_its_trends_once_built(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    init_project(root)
    con = duckdb.connect(str(root / "warehouse.duckdb"))
    con.execute(
        "create schema raw; create table raw.orders (order_id varchar, ordered_at timestamp, channel varchar, "
        "amount decimal(10, 2)); insert into raw.orders values "
        "('a1', '2026-03-02 09:15', 'web', 120.50), ('a2', '2026-03-31 23:59', 'store', 80), "
        "(null, '2026-03-15 12:00', 'web', 500), ('a3', '2026-05-01 00:00', 'web', 60)"
    )
    con.close()
    project = Project.load(root)
    project.build()
    data = collect_site(project)
    assert data["built"] is True and data["problems"] == []
    counted = hand(
        project,
        "select m, count(o.order_id) from (select unnest(generate_series(date '2026-03-01', date '2026-05-01', "
        "interval 1 month))::date m) left join raw.orders o on date_trunc('month', o.ordered_at) = m "
        "and o.order_id is not null group by m order by m",
    )
    trends = by(data["trends"], "metric")
    assert trends["orders"]["points"] == [(month.isoformat(), float(n)) for month, n in counted]
    assert trends["orders"]["targets"] == [] and trends["orders"]["projection"] is None
    assert data["trees"] == data["funnels"] == data["definitions"] == []
    assert [r["status"] for r in data["runs"]] == ["success"]
