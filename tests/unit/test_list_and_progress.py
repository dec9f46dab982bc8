"""`kpiframe list` filters and what a query of a metric accepts; `kpiframe query` marking the periods that
have not ended on the last day with data. The CLI runs through click's CliRunner; days of data are counted
from max(ordered_at) / max(created_at) written by hand."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from kpiframe.cli import main
from kpiframe.errors import KpiframeError
from kpiframe.listing import DATE_PARTS_ABOUT
from kpiframe.project import Project
from kpiframe.sql.metric_query import compile_request
from tests.conftest import REPO_ROOT, SHOP_PROJECT, SHOP_ROWS, write_files

SUBDAY = ["hour", "minute", "second", "millisecond"]
GRAINS = ["day", "week", "month", "quarter", "year", "fiscal_quarter", "fiscal_year", *SUBDAY]
SHOP_METRICS = [
    "orders",
    "revenue",
    "paid_orders",
    "paid_share",
    "aov",
    "median_order",
    "revenue_mtd",
    "revenue_ytd",
    "revenue_3d",
    "revenue_growth",
]

# the shop with a label, owners, descriptions and tags: `core` on the metric orders and the model stg_customers
LABELLED = {
    "metrics/shop.yml": SHOP_PROJECT["metrics/shop.yml"]
    .replace(
        "- {name: orders, measure: order_count}",
        "- {name: orders, measure: order_count, label: Order count, owner: sales-ops, tags: [core],\n"
        "             description: Orders placed; test orders left out.}",
    )
    .replace(
        "- {name: revenue, measure: revenue_sum}",
        "- {name: revenue, measure: revenue_sum, owner: finance, description: Sum of order amounts.}",
    ),
    "models/models.yml": """
        models:
          - {name: stg_customers, tags: [core]}
    """,
}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output and "KF999" not in result.output, result.output
    return result.exit_code, result.stdout, result.stderr


def rows_of(out: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(out)))


@pytest.fixture
def labelled(make_project) -> str:
    return str(make_project(LABELLED, rows=False))


def listed(root: str, *filters: str) -> list[tuple[str, str]]:
    """(kind, name) of each row `kpiframe list` prints as CSV."""
    code, out, err = run("list", "--project-dir", root, *filters, "--format", "csv")
    assert code == 0, err
    header, *rows = rows_of(out)
    assert header == ["kind", "name", "type", "file", "description"]
    return [(row[0], row[1]) for row in rows]


# --- kpiframe list: filters -------------------------------------------------------------------------------
def test_kind_keeps_that_kind_and_repeats(labelled):
    assert listed(labelled, "--kind", "metric") == [("metric", name) for name in SHOP_METRICS]
    assert set(listed(labelled, "--kind", "model", "--kind", "table")) == {
        ("model", "stg_orders"),
        ("model", "stg_customers"),
        ("model", "order_cents"),
        ("table", "metrics.shop_monthly"),
    }


def test_search_reads_name_label_and_description_in_any_case(labelled):
    assert listed(labelled, "--search", "ORDER COUNT") == [("metric", "orders")]  # its label only
    assert listed(labelled, "--search", "amounts") == [("metric", "revenue")]  # its description only
    assert listed(labelled, "--search", "Revenue_", "--kind", "metric") == [
        ("metric", name) for name in ("revenue_mtd", "revenue_ytd", "revenue_3d", "revenue_growth")
    ]


def test_owner_and_tag(labelled):
    assert listed(labelled, "--owner", "SALES-OPS") == [("metric", "orders")]
    assert listed(labelled, "--tag", "core") == [("model", "stg_customers"), ("metric", "orders")]
    assert listed(labelled, "--tag", "core", "--kind", "model") == [("model", "stg_customers")]
    assert listed(labelled, "--owner", "finance", "--search", "sum") == [("metric", "revenue")]


def test_an_owner_or_tag_nothing_carries_is_a_typo(labelled):
    code, _, err = run("list", "--project-dir", labelled, "--owner", "sales-op")
    assert code == 1 and "error[KF457]: unknown owner 'sales-op' (did you mean 'sales-ops'?)" in err
    code, _, err = run("list", "--project-dir", labelled, "--tag", "cor")
    assert code == 1 and "error[KF455]: unknown tag 'cor' (did you mean 'core'?)" in err
    with pytest.raises(KpiframeError) as raised:
        Project.load(labelled).catalog(kinds=["metrics"])
    assert raised.value.diagnostic.code == "KF457" and "did you mean 'metric'?" in str(raised.value)


def test_a_filter_that_matches_nothing_says_so_and_exits_0(labelled):
    code, out, _ = run("list", "--project-dir", labelled, "--kind", "dataset", "--owner", "finance")
    assert code == 0 and out == "nothing matches --kind dataset --owner 'finance'\n"
    code, out, _ = run("list", "--project-dir", labelled, "--search", "zebra", "--format", "markdown")
    assert code == 0 and out == "nothing matches --search 'zebra'\n"
    # machines get an empty list on stdout, people the sentence on stderr
    code, out, err = run("list", "--project-dir", labelled, "--search", "zebra", "--format", "json")
    assert code == 0 and json.loads(out) == [] and err == "nothing matches --search 'zebra'\n"
    code, out, err = run("list", "--project-dir", labelled, "--search", "zebra", "--format", "csv")
    assert code == 0 and rows_of(out) == [["kind", "name", "type", "file", "description"]] and "zebra" in err


# --- kpiframe list --metric: its dimensions and grains ------------------------------------------------------
def options(root: str | Path, *metrics: str) -> list[dict[str, str]]:
    """The rows of `kpiframe list --metric ... --format json`."""
    args = [arg for metric in metrics for arg in ("--metric", metric)]
    code, out, err = run("list", "--project-dir", str(root), *args, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def test_a_metric_lists_its_dimensions_by_full_name_and_its_grains(labelled):
    # shop.yml: orders has `status`; customers (region) is reached through the foreign entity customer;
    # the entities order and customer group by their keys
    assert options(labelled, "orders") == [
        {"kind": "dimension", "name": "customer", "type": "entity", "dataset": "orders",
         "description": "the key of entity 'customer'"},
        {"kind": "dimension", "name": "customer__region", "type": "categorical", "dataset": "customers",
         "description": ""},
        {"kind": "dimension", "name": "order", "type": "entity", "dataset": "orders",
         "description": "the key of entity 'order'"},
        {"kind": "dimension", "name": "order__status", "type": "categorical", "dataset": "orders",
         "description": ""},
        *({"kind": "grain", "name": g, "type": "", "dataset": "", "description": ""} for g in GRAINS),
        *({"kind": "date part", "name": f"metric_time__extract_{p}", "type": "", "dataset": "",
           "description": DATE_PARTS_ABOUT[p]} for p in ("year", "quarter", "month", "day", "dow", "doy")),
    ]  # fmt: skip
    grains = {m: [r["name"] for r in options(labelled, m) if r["kind"] == "grain"] for m in SHOP_METRICS}
    assert grains["revenue_3d"] == ["day", *SUBDAY]  # a 3-day window cannot be summed by week or month
    assert grains["revenue_mtd"] == ["day", "week", "month", *SUBDAY]
    assert grains["revenue_growth"] == GRAINS
    # a running total or an offset has no value by a date part (KF428): none is listed for them
    parts = {m: [r["name"] for r in options(labelled, m) if r["kind"] == "date part"] for m in SHOP_METRICS}
    assert parts["revenue_3d"] == parts["revenue_mtd"] == parts["revenue_growth"] == []
    assert len(parts["orders"]) == 6
    code, table, _ = run("list", "--project-dir", labelled, "--metric", "orders")
    assert code == 0 and "what a query of orders accepts" in table and "customer__region" in table


def test_several_metrics_list_what_a_query_of_them_all_accepts():
    # metrics/marketing.yml and sales.yml: leads has lead__channel, country, email_domain, is_fit and
    # created_at; opportunities reach those through its foreign entity lead, and have dimensions of their own
    lead = ["lead", "lead__channel", "lead__country", "lead__created_at", "lead__email_domain", "lead__is_fit"]
    both = options(REPO_ROOT, "leads", "opportunities")
    assert [r["name"] for r in both if r["kind"] == "dimension"] == lead
    alone = [r["name"] for r in options(REPO_ROOT, "opportunities") if r["kind"] == "dimension"]
    assert set(lead) < set(alone) and "opportunity__is_won" in alone and "opportunity" in alone
    assert [r for r in both if r["name"] == "lead__channel"][0]["description"] == "first-touch channel"
    code, out, _ = run("list", "--project-dir", str(REPO_ROOT), "--metric", "leads", "--search", "CHANNEL")
    assert code == 0 and "lead__channel" in out and "lead__country" not in out and "month" not in out


def test_the_listed_dimensions_and_grains_are_exactly_what_a_query_accepts():
    """Every metric of the example against every dimension and grain: listed if and only if the query compiles."""
    from kpiframe.serve.catalog import metric_catalog

    project = Project.load(REPO_ROOT)
    every = sorted({q for dataset in project.layer.datasets for q in project.layer.dimensions_of(dataset)})
    served = {entry["name"]: entry for entry in metric_catalog(project)}
    for metric in project.graph.metrics:
        listed_rows = project.query_options([metric]).as_dicts()
        dimensions = [r["name"] for r in listed_rows if r["kind"] == "dimension"]
        grains = [r["name"] for r in listed_rows if r["kind"] == "grain"]
        accepted = [d for d in every if _compiles(project, metric, dimensions=[d], grain=grains[0])]
        assert dimensions == accepted, metric
        assert grains == [g for g in GRAINS if _compiles(project, metric, grain=g)], metric
        assert (served[metric]["dimensions"], served[metric]["grains"]) == (dimensions, grains)  # HTTP: the same


def _compiles(project: Project, metric: str, **request: object) -> bool:
    """Whether `kpiframe query --metric METRIC` with `request` compiles (what --explain prints, unrendered)."""
    try:
        compile_request(project.layer, project.request([metric], **request))  # type: ignore[arg-type]
    except KpiframeError as error:
        assert error.diagnostic.code in ("KF410", "KF421"), error  # does not apply; window finer than grain
        return False
    return True


def test_an_unknown_metric_is_an_error_with_a_suggestion(labelled):
    code, out, err = run("list", "--project-dir", labelled, "--metric", "ordrs")
    assert code == 1 and out == ""
    assert "error[KF104]: unknown metric 'ordrs' (did you mean 'orders'?)" in err
    code, _, err = run("list", "--project-dir", labelled, "--metric", "zzz")
    assert code == 1 and "error[KF104]: unknown metric 'zzz'" in err and "known metrics: aov, median_order" in err


def test_metric_takes_search_but_not_the_catalog_filters(labelled):
    code, _, err = run("list", "--project-dir", labelled, "--metric", "orders", "--kind", "metric")
    assert code == 2 and "with --search, not --kind, --owner or --tag" in err
    code, out, _ = run("list", "--project-dir", labelled, "--metric", "orders", "--search", "zebra")
    assert code == 0 and out == "no dimension or grain of orders matches --search 'zebra'\n"


# --- kpiframe query: periods in progress --------------------------------------------------------------------
@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shop built once: orders from 2026-01-01 to 2026-04-02 (the last one a test order, left out)."""
    import textwrap

    root = write_files(tmp_path_factory.mktemp("progress") / "shop", SHOP_PROJECT)
    con = duckdb.connect(str(root / "shop.duckdb"))
    con.execute(textwrap.dedent(SHOP_ROWS))
    con.close()
    Project.load(root).build()
    return root


def last_order_day(root: Path) -> date:
    """The last day with data, by hand: stg_orders keeps every order but the test ones."""
    con = duckdb.connect(str(root / "shop.duckdb"), read_only=True)
    try:
        return con.execute("select max(ordered_at)::date from raw.orders where status <> 'test'").fetchone()[0]
    finally:
        con.close()


def query(root: Path, *args: str) -> str:
    code, out, err = run("query", "--project-dir", str(root), "--metric", "orders", *args)
    assert code == 0, err
    return out


def test_machines_get_a_period_complete_column(shop):
    last = last_order_day(shop)
    assert last == date(2026, 4, 1)
    header, *rows = rows_of(query(shop, "--grain", "quarter", "--format", "csv"))
    assert header == ["period_start", "orders", "period_complete"]
    # Q1 ends on 31 March, before the last day with data; Q2 ends on 30 June, after it
    assert rows == [["2026-01-01", "6", "True"], ["2026-04-01", "1", "False"]]
    answer = json.loads(query(shop, "--grain", "month", "--format", "json"))
    assert [(r["period_start"], r["period_complete"]) for r in answer] == [
        ("2026-01-01", True),
        ("2026-02-01", True),
        ("2026-03-01", True),  # ends on 31 March: complete, although its last order is of that day
        ("2026-04-01", False),
    ]


def test_people_get_a_marked_period_and_a_footnote_with_its_days_of_data(shop):
    last = last_order_day(shop)
    q2 = date(2026, 4, 1)
    days, with_data = (date(2026, 7, 1) - q2).days, (last - q2).days + 1  # 91 days, 1 of them with data
    out = query(shop, "--grain", "quarter")
    lines = out.splitlines()
    assert any("2026-04-01 *" in line for line in lines) and not any("2026-01-01 *" in line for line in lines)
    assert lines[-1] == f"* 2026-04-01 in progress: {with_data} of {days} days of data (to {last})"
    assert lines[-1] == "* 2026-04-01 in progress: 1 of 91 days of data (to 2026-04-01)"
    markdown = query(shop, "--grain", "quarter", "--format", "markdown").splitlines()
    assert "| 2026-04-01 \\* | 1 |" in markdown and "| 2026-01-01 | 6 |" in markdown
    assert markdown[-2:] == ["", f"\\* 2026-04-01 in progress: {with_data} of {days} days of data (to {last})"]


def test_weeks_and_fiscal_quarters_follow_the_project_calendar(shop):
    last = last_order_day(shop)  # a Wednesday; the shop's weeks start on Sunday
    week = last - timedelta(days=last.isoweekday() % 7)
    assert week == date(2026, 3, 29)
    out = query(shop, "--grain", "week", "--start", "2026-03-22")
    assert out.splitlines()[-1] == f"* {week} in progress: {(last - week).days + 1} of 7 days of data (to {last})"
    # fiscal years start in April: fiscal Q4 (January to March) has ended, fiscal Q1 has one day of 91
    header, *rows = rows_of(query(shop, "--grain", "fiscal_quarter", "--format", "csv"))
    assert rows == [["2026-01-01", "6", "True"], ["2026-04-01", "1", "False"]]


def test_the_last_day_is_read_over_all_the_data_not_only_the_range(shop):
    # the last order up to February is of 3 February, yet February has ended: there are orders after it
    out = query(shop, "--grain", "month", "--end", "2026-02-01")
    assert "*" not in out and "in progress" not in out
    answer = json.loads(query(shop, "--grain", "month", "--end", "2026-02-01", "--format", "json"))
    assert [r["period_complete"] for r in answer] == [True, True]
    # periods after the data: none of their days has data
    out = query(shop, "--grain", "month", "--start", "2026-03-01", "--end", "2026-05-01")
    assert out.splitlines()[-2:] == [
        "* 2026-04-01 in progress: 1 of 30 days of data (to 2026-04-01)",
        "* 2026-05-01 has no data yet (data to 2026-04-01)",
    ]


def test_the_python_api_keeps_its_columns_and_numbers(shop):
    project = Project.load(shop)
    plain = project.query(metrics=["orders"], grain="quarter", compare="previous")
    assert plain.columns == ["period_start", "orders", "orders__previous", "orders__change"]
    answer = json.loads(query(shop, "--grain", "quarter", "--compare", "previous", "--format", "json"))
    assert [{k: v for k, v in r.items() if k != "period_complete"} for r in answer] == [
        {"period_start": p.isoformat(), "orders": o, "orders__previous": b, "orders__change": c}
        for p, o, b, c in plain.rows
    ]


def test_the_example_marks_the_quarter_in_progress(built_example):
    """Leads and pipeline (opportunities) by quarter, compared with the quarter before: the last day with data
    is the later of the two datasets' last days (in Q4 either way); leads alone, that of the leads."""
    con = duckdb.connect(str(built_example / "warehouse.duckdb"), read_only=True)
    try:
        [(last, both, leads, before)] = con.execute(
            """select max(created_at)::date,
                      greatest(max(created_at), (select max(created_at) from analytics.stg_opportunities))::date,
                      count(*) filter (where created_at >= date '2026-10-01'),
                      count(*) filter (where created_at >= date '2026-07-01' and created_at < date '2026-10-01')
               from analytics.stg_leads"""
        ).fetchall()
    finally:
        con.close()
    assert date(2026, 10, 1) <= last <= both < date(2026, 12, 31)
    code, out, err = run(
        "query", "--project-dir", str(built_example), "--metric", "leads", "--metric", "pipeline",
        "--grain", "quarter", "--compare", "previous", "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    q4 = json.loads(out)[-1]
    assert (q4["period_start"], q4["period_complete"], q4["leads"], q4["leads__previous"]) == (
        "2026-10-01",
        False,
        leads,
        before,
    )
    assert q4["leads__change"] == pytest.approx(leads / before - 1)
    code, out, _ = run("query", "--project-dir", str(built_example), "--metric", "leads", "--grain", "quarter")
    days = (last - date(2026, 10, 1)).days + 1
    assert out.splitlines()[-1] == f"* 2026-10-01 in progress: {days} of 92 days of data (to {last})"


def test_the_readme_names_only_options_list_takes():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## The CLI", 1)[1].split("```", 2)[1]
    lines, keep = [], False
    for line in block.splitlines():  # the `kpiframe list` lines and their continuation lines
        keep = line.startswith("kpiframe list") or (keep and line.startswith(" "))
        if keep:
            lines.append(line)
    usage = "\n".join(lines)
    claimed = set(re.findall(r"--[a-z-]+", " ".join(line.split(" # ")[0] for line in usage.splitlines())))
    takes = {opt for param in main.commands["list"].params for opt in getattr(param, "opts", [])}
    assert {"--kind", "--search", "--owner", "--tag", "--metric", "--format"} <= claimed <= takes
    [kind] = [p for p in main.commands["list"].params if p.name == "kinds"]
    assert "--kind model|dataset|metric|table" in usage
    assert list(kind.type.choices) == ["model", "dataset", "metric", "table"]  # type: ignore[attr-defined]
