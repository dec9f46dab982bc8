"""Four versions of a small project, committed to a temporary git repository (project in a sub-folder).

    main     v1  the shop project plus leads, lead activities and the MQL definition (v1)
    feature  v2  paid_orders' filter, stg_orders' SQL, a description, a metric added to a published table,
                 definition version 2 (not current), and a formatting-only edit of stg_customers
             v3  aov removed from shop_monthly
             v4  a label and a description (the working tree)

Raw rows: SHOP_ROWS (orders and customers) and the leads below. By hand, MQL v1 (fit: 50+ employees;
demo 40, click 10; 30 days; threshold 40) and v2 (fit: 100+ employees; click 15) per month:
    Feb  v1 {L1}          v2 {L2}        L1 leaves (60 employees), L2 enters (3 clicks = 45)
    Mar  v1 {L3}          v2 {L3}
    Apr  v1 {L5, L6, L8}  v2 {L6, L8}    L5 leaves (80 employees)
L4 is never fit, L7's demo falls outside the 30-day window.
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import duckdb
import pytest

from tests.conftest import SHOP_PROJECT, SHOP_ROWS, write_files

SUBDIR = "analytics"

LEAD_ROWS = """
    create table raw.leads (lead_id varchar, created_at timestamp, channel varchar, employee_count integer);
    insert into raw.leads values
      ('L1', '2026-02-01 09:00', 'web', 60), ('L2', '2026-02-10 09:00', 'ads', 200),
      ('L3', '2026-03-05 09:00', 'web', 150), ('L4', '2026-03-20 09:00', 'ads', 10),
      ('L5', '2026-04-01 09:00', 'web', 80), ('L6', '2026-04-03 09:00', 'web', 120),
      ('L7', '2026-01-15 09:00', 'ads', 500), ('L8', '2026-03-30 09:00', 'ads', 300);
    create table raw.lead_activities (activity_id varchar, lead_id varchar, occurred_at timestamp,
                                      activity_type varchar);
    insert into raw.lead_activities values
      ('a1', 'L1', '2026-02-03 10:00', 'demo'),
      ('a2', 'L2', '2026-02-11 10:00', 'click'), ('a3', 'L2', '2026-02-12 10:00', 'click'),
      ('a4', 'L2', '2026-02-13 10:00', 'click'),
      ('a5', 'L3', '2026-03-06 10:00', 'demo'), ('a6', 'L4', '2026-03-21 10:00', 'demo'),
      ('a7', 'L5', '2026-04-02 10:00', 'demo'),
      ('a8', 'L6', '2026-04-04 10:00', 'click'), ('a9', 'L6', '2026-04-05 10:00', 'click'),
      ('b1', 'L6', '2026-04-06 10:00', 'click'), ('b2', 'L6', '2026-04-07 10:00', 'click'),
      ('b3', 'L7', '2026-03-01 10:00', 'demo'), ('b4', 'L8', '2026-04-02 10:00', 'demo');
"""

SOURCES = """
    sources:
      - name: raw
        schema: raw
        tables:
          - name: orders
            columns: [order_id, customer_id, {name: ordered_at, type: TIMESTAMP},
                      {name: amount, type: "DECIMAL(10,2)"}, status]
          - {name: customers, columns: [customer_id, region]}
          - {name: leads, columns: [lead_id, {name: created_at, type: TIMESTAMP}, channel,
                                    {name: employee_count, type: INTEGER}]}
          - {name: lead_activities, columns: [activity_id, lead_id, {name: occurred_at, type: TIMESTAMP},
                                              activity_type]}
"""

VERSION_1 = """
        versions:
          - version: 1
            effective: 2026-01-01
            approvals: [{team: marketing, by: ann, on: 2025-12-01}]
            rule:
              fit: [employee_count >= 50]
              engagement: {dataset: lead_activities, type_column: activity_type, points: {demo: 40, click: 10},
                           window_days: 30}
              threshold: 40
"""

VERSION_2 = """
          - version: 2
            effective: 2026-06-01
            change_note: Sales asked for bigger companies; clicks weigh more.
            rule:
              fit: [employee_count >= 100]
              engagement: {dataset: lead_activities, type_column: activity_type, points: {demo: 40, click: 15},
                           window_days: 30}
              threshold: 40
"""

LEADS = """
    datasets:
      - name: leads
        model: stg_leads
        time: created_at
        entities: [{name: lead, type: primary, expr: lead_id}]
        dimensions: [{name: channel}, {name: employee_count}]
        measures: [{name: lead_count, agg: count, expr: lead_id}]
      - name: lead_activities
        model: stg_lead_activities
        time: occurred_at
        entities: [{name: activity, type: primary, expr: activity_id}, {name: lead, type: foreign, expr: lead_id}]
        dimensions: [{name: activity_type}]
        measures: [{name: activity_count, agg: count, expr: activity_id}]
    definitions:
      - name: mql
        entity: lead
        dataset: leads
        owners: [marketing]
        current: 1
@VERSIONS@
    metrics:
      - {name: leads, measure: lead_count, label: Leads, description: @DESCRIPTION@}
      - {name: mqls, measure: mql_v1_count, label: MQLs}
@METRICS@
    tables:
      - {name: leads_monthly, grain: month, metrics: [@TABLE@], dimensions: [lead__channel]}
"""


def leads_file(
    versions: str = VERSION_1, description: str = "Leads created.", extra: str = "", table: str = "leads, mqls"
) -> str:
    text = LEADS.replace("@VERSIONS@", textwrap.indent(textwrap.dedent(versions).strip("\n"), " " * 8))
    return text.replace("@DESCRIPTION@", description).replace("@METRICS@", extra).replace("@TABLE@", table)


V1 = {
    **SHOP_PROJECT,
    "models/sources.yml": SOURCES,
    "models/stg_leads.sql": "select lead_id, created_at, channel, employee_count from {{ source('raw', 'leads') }}",
    "models/stg_lead_activities.sql": "select * from {{ source('raw', 'lead_activities') }}",
    "metrics/leads.yml": leads_file(),
}
SHOP_METRICS = SHOP_PROJECT["metrics/shop.yml"]
V2 = {
    "metrics/shop.yml": SHOP_METRICS.replace(
        "filter: \"status = 'paid'\"", "filter: \"status = 'paid' and amount >= 30\""
    ).replace("- {name: status}", "- {name: status}\n              - {name: amount}"),
    "models/stg_orders.sql": "select * from {{ source('raw', 'orders') }} where status not in ('test', 'refunded')",
    "models/stg_customers.sql": "-- every customer, as exported\nSELECT *\nFROM {{ source('raw', 'customers') }}\n",
    "metrics/leads.yml": leads_file(
        VERSION_1 + VERSION_2,
        "Leads created in the period.",
        "      - {name: mqls_v2, measure: mql_v2_count, label: MQLs (v2)}",
        "leads, mqls, mqls_v2",
    ),
}
V3 = {
    "metrics/shop.yml": V2["metrics/shop.yml"].replace("metrics: [orders, revenue, aov]", "metrics: [orders, revenue]")
}
V4 = {
    "metrics/shop.yml": V3["metrics/shop.yml"].replace(
        "- {name: orders, measure: order_count}",
        "- {name: orders, measure: order_count, label: Orders, description: Orders that are not tests.}",
    )
}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=kf", "-c", "user.email=kf@example.com", "-c", "commit.gpgsign=false", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def commit(repo: Path, files: dict[str, str], message: str) -> None:
    write_files(repo / SUBDIR, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


@pytest.fixture(scope="session")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository, on branch feature at v4; the project is its `analytics/` folder, with a warehouse."""
    root = tmp_path_factory.mktemp("diffrepo")
    git(root, "init", "-q", "-b", "main")
    (root / ".gitignore").write_text("*.duckdb\n*.duckdb.wal\ntarget/\n", encoding="utf-8")
    commit(root, V1, "v1")
    git(root, "checkout", "-q", "-b", "feature")
    commit(root, V2, "v2: the pull request")
    commit(root, V3, "v3: aov leaves shop_monthly")
    commit(root, V4, "v4: documentation")
    con = duckdb.connect(str(root / SUBDIR / "shop.duckdb"))
    con.execute(textwrap.dedent(SHOP_ROWS))
    con.execute(textwrap.dedent(LEAD_ROWS))
    con.close()
    return root


@pytest.fixture(scope="session")
def project_dir(repo: Path) -> Path:
    return repo / SUBDIR
