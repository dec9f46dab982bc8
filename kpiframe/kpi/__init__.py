"""KPI trees, targets, pacing, goal seeking and attribution, on top of the metric layer.

A project declares, in any metrics/*.yml file:

```yaml
trees:
  - name: marketing_pipeline
    kgi: {metric: pipeline, owner: revenue-ops, direction: higher, timing: lagging, cadence: monthly,
          grain: quarter}
    ksfs:
      - name: more_qualified_leads
        label: More qualified leads
        description: ...
        kpis:
          - {metric: leads, owner: marketing-ops, direction: higher, timing: leading, cadence: weekly,
             grain: month}
    formulas:                      # node = arithmetic of its children, checked against the data
      - {metric: pipeline, expr: opportunities * avg_opportunity_amount}
      - {metric: opportunities, expr: mqls * mql_to_opportunity_rate, lag: {mqls: 1}}
targets:
  - metric: pipeline
    scenario: plan                 # plan | stretch | reforecast | ...; other scenarios fall back to plan
    dimension: {lead__channel: paid_search}   # optional
    since: 2026-10-06              # optional: a new version of a target, in force from that day
    reason: why it was set or changed
    values:
      2026-Q4: 3000000                                   # a number
      2026-11: {baseline: {periods: 3, factor: 1.1}}     # trailing complete periods × factor
      2026-12: {benchmark: email_open, point: low}       # a range of the benchmark library
      2027-01: derived                                   # walked down from the KGI's target
benchmarks:
  - {metric: email_open_rate, use: email_open}           # or {metric: x, low: 0.1, high: 0.2}
```

and settings in kpi_project.yml under `kpi:` (see `specs.KpiSettings`). `load_kpi` validates it all
(KF8xx diagnostics); `session.KpiSession` wires the computations that the CLI commands status,
plan-targets, explain and lint print.
"""

from kpiframe.kpi.model import KpiModel, load_kpi

__all__ = ["KpiModel", "load_kpi"]
