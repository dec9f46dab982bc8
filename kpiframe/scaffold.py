"""`kpiframe init`: a new project that compiles and passes its test at once, to grow from.

It holds one source contract (raw.orders), one staging model, one dataset with two metrics and a ratio,
one published table and one metric test whose expected numbers are worked out in its comments. A user
replaces raw.orders with their own table (CSV, Parquet or a database table loaded into the warehouse)
and edits from there.
"""

from __future__ import annotations

import re
from pathlib import Path

from kpiframe.errors import KpiframeError

FILES: dict[str, str] = {
    "kpi_project.yml": """\
# The project: its name, where it builds, and the schemas it writes. See docs/project-format.md.
name: {name}
warehouse:
  type: duckdb
  path: warehouse.duckdb      # --warehouse PATH or $KPIFRAME_WAREHOUSE override this
schemas:
  models: analytics
  metrics: metrics            # the published tables BI tools read
calendar:
  week_start: monday
""",
    "models/sources.yml": """\
# Raw tables: what the build reads, and the columns it relies on (checked before every build).
sources:
  - name: raw
    schema: raw
    tables:
      - name: orders
        description: One row per order, as exported from the shop.
        columns:
          - {{name: order_id, type: VARCHAR}}
          - {{name: ordered_at, type: TIMESTAMP}}
          - {{name: channel, type: VARCHAR}}
          - {{name: amount, type: DECIMAL}}
        expectations:   # warnings: stg_orders leaves such rows out; severity error would stop the build
          - {{not_null: order_id, severity: warn, description: orders exported without an id}}
          # a placeholder date (1900-01-01, 9999-12-31) would make every query start or end there
          - {{dates_between: {{column: ordered_at, min: 2000-01-01, max_days_ahead: 1}}, severity: warn,
             description: orders dated before 2000 or in the future are placeholders}}
""",
    "models/stg_orders.sql": """\
-- One row per order with an id and a real date; the staging layer is where cleaning rules live.
select order_id, ordered_at, channel, amount
from {{{{ source('raw', 'orders') }}}}
where order_id is not null
  and ordered_at >= date '2000-01-01'  -- a placeholder date (1900-01-01) would start every answer there
""",
    "metrics/orders.yml": """\
# A dataset (what a row is, and how to group it) and the metrics computed from it.
datasets:
  - name: orders
    model: stg_orders
    time: ordered_at
    entities:
      - {{name: order, type: primary, expr: order_id}}
    dimensions:
      - {{name: channel}}
    measures:
      - {{name: order_count, agg: count, expr: order_id}}
      - {{name: revenue_sum, agg: sum, expr: amount}}

metrics:
  - {{name: orders, measure: order_count, label: Orders, unit: count, owner: analytics,
     description: Orders placed in the period.}}
  - {{name: revenue, measure: revenue_sum, label: Revenue, unit: currency, owner: analytics,
     description: Sum of order amounts in the period.}}
  - {{name: average_order_value, type: ratio, numerator: revenue, denominator: orders,
     label: Average order value, unit: currency, owner: analytics,
     description: Revenue per order; NULL in a period without orders.}}

tables:
  - name: orders_monthly
    grain: month
    metrics: [orders, revenue, average_order_value]
    dimensions: [order__channel]
    description: Orders and revenue by channel, per month.
""",
    "metrics/tests/orders_tests.yml": """\
# A metric test: rows given by hand, the numbers expected worked out by hand. `kpiframe test --metrics-only`.
metric_tests:
  - name: orders_by_channel
    given:
      raw.orders:
        - {{order_id: o1, ordered_at: 2026-01-05 10:00:00, channel: web, amount: 100.00}}
        - {{order_id: o2, ordered_at: 2026-01-20 12:00:00, channel: web, amount: 50.00}}
        - {{order_id: o3, ordered_at: 2026-01-31 23:59:59, channel: store, amount: 30.00}}
        - {{order_id: null, ordered_at: 2026-01-15 09:00:00, channel: web, amount: 999.00}}
    expect:
      - metrics: [orders, revenue, average_order_value]
        dimensions: [order__channel]
        grain: month
        rows:
          # web: o1 and o2 (the row without an id is dropped by stg_orders); 150.00 / 2 = 75.00
          - {{period_start: 2026-01-01, order__channel: web, orders: 2, revenue: 150.00, average_order_value: 75.00}}
          # store: o3 at 23:59:59 is still January
          - {{period_start: 2026-01-01, order__channel: store, orders: 1, revenue: 30.00, average_order_value: 30.00}}
""",
}


# What a build and a query write beside the project files, kept out of git: the compiled SQL, the parse and
# query caches, the DuckDB warehouse with its write-ahead log, serving snapshots and spill folder.
GITIGNORE = """\
target/
*.duckdb
*.duckdb.wal
*.duckdb.serving/
*.duckdb.tmp/
"""


def init_project(folder: Path, name: str | None = None) -> list[Path]:
    """Write a new project into `folder` (created if need be); refuses to write over an existing one."""
    if (folder / "kpi_project.yml").exists():
        raise KpiframeError(
            f"{folder / 'kpi_project.yml'} exists already: {folder} holds a project",
            code="KF023",
            hint="choose an empty folder, e.g. `kpiframe init my_metrics`",
        )
    taken = [path for path in FILES if (folder / path).exists()]
    if taken:
        raise KpiframeError(
            f"{folder} already has {', '.join(taken)}; kpiframe init writes only into a folder without them",
            code="KF023",
            hint="choose an empty folder, or move those files away",
        )
    project = name or _project_name(folder)
    written = []
    for relative, template in FILES.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(name=project), encoding="utf-8")
        written.append(path)
    ignore = folder / ".gitignore"
    if not ignore.exists():  # a folder inside a repository may have its own: it is the user's to edit
        ignore.write_text(GITIGNORE, encoding="utf-8")
        written.append(ignore)
    return written


def _project_name(folder: Path) -> str:
    """The folder's name as a project name: letters, digits and _, not starting with a digit."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", folder.resolve().name).strip("_").lower() or "metrics"
    return f"project_{name}" if name[0].isdigit() else name
