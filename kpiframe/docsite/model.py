"""What the docs site shows, as plain JSON-ready values: collect.py fills it, render.py draws it.

Everything here is also written to `site.json`, so another tool can read what the pages show."""

from __future__ import annotations

from typing import TypedDict


class MetricEntry(TypedDict):
    name: str
    label: str
    description: str
    owner: str | None
    unit: str | None
    direction: str | None  # higher | lower
    timing: str | None  # leading | lagging
    type: str  # simple | ratio | derived | cumulative ...
    formula: str  # how it is computed, in words the YAML uses: "count(lead_id) of leads", "mqls / leads"
    dataset: str | None  # the dataset of a simple metric; None for ratio/derived
    inputs: list[str]  # metrics it is computed from (ratio/derived/cumulative); [] for simple
    dimensions: list[str]  # every dimension it can be grouped by (lead__channel ...)
    grains: list[str]  # day, week, month, quarter, year, fiscal_quarter, fiscal_year
    sql: str  # the compiled SQL of `kpiframe query --metric NAME --grain month` (DuckDB, pretty)
    tables: list[str]  # published tables that show it, qualified: metrics.marketing_monthly
    file: str  # metrics/marketing.yml:14 (path relative to the project, and line)


class LineageNode(TypedDict):
    id: str  # "<kind>:<name>", unique
    kind: str  # source | model | dataset | metric | table
    name: str  # raw.leads, stg_leads, leads, lead_to_mql_rate, metrics.marketing_monthly
    file: str | None


class Lineage(TypedDict):
    nodes: list[LineageNode]
    edges: list[tuple[str, str]]  # (upstream id, downstream id)


class TreeNode(TypedDict):
    node: str  # the tree node's name as `kpiframe status` shows it (its label, and a formula's lag if any)
    metric: str
    role: str  # kgi | kpi | driver
    ksf: str | None
    children: list[str]  # node names whose formula computes this node (tree edges point parent -> child)
    period: str  # the node's own period (a quarterly KGI over monthly KPIs: 2026-Q4 and 2026-11)
    actual: float | None
    target: float | None
    attainment: float | None
    projection: float | None
    projected_attainment: float | None
    status: str  # on track | at risk | off track | no target | no data
    unit: str | None


class TreeView(TypedDict):
    name: str
    label: str
    period: str  # 2026-Q4
    as_of: str  # ISO date of the last day with data
    day: int
    days: int
    nodes: list[TreeNode]


class TrendSeries(TypedDict):
    metric: str
    grain: str  # the grain of the points (month)
    points: list[tuple[str, float | None]]  # (period_start ISO, value), every period with data
    targets: list[tuple[str, float]]  # (period_start ISO, target) where a target exists
    in_progress: str | None  # period_start of the last period when it has not ended on as_of
    projection: float | None  # the in-progress period's projected value at its end
    unit: str | None


class FunnelStage(TypedDict):
    stage: str
    entities: int
    conversion_from_previous: float | None
    conversion_from_first: float | None


class FunnelCohort(TypedDict):
    cohort_start: str
    stages: list[FunnelStage]
    window_closed: bool  # every entity of the cohort had its whole window by the newest entry in the data


class FunnelView(TypedDict):
    name: str
    stages: list[str]
    window_days: int
    cohorts: list[FunnelCohort]
    bottleneck: dict[str, object] | None  # as Project.funnel returns it


class Approval(TypedDict):
    team: str
    by: str
    on: str


class DefinitionVersion(TypedDict):
    version: int
    effective: str
    change_note: str | None
    approvals: list[Approval]
    rule: str  # the version's rule (and its SLA, if any) as YAML text
    current: bool


class Movement(TypedDict):
    from_version: int
    to_version: int
    entrants: int  # qualify under to_version, not under from_version
    leavers: int  # qualify under from_version, not under to_version
    both: int


class DefinitionView(TypedDict):
    name: str
    description: str
    entity: str  # what qualifies: lead
    owners: list[str]
    versions: list[DefinitionVersion]
    movements: list[Movement]  # between consecutive versions; [] before a build


class RunEntry(TypedDict):
    run_id: str
    started_at: str
    finished_at: str | None
    status: str  # success | failed | killed | abandoned | running
    nodes: int | None  # models and tables the run swapped in


class ExpectationResult(TypedDict):
    run_id: str
    checked_at: str
    target: str  # the table or source checked
    expectation: str
    severity: str | None  # error | warn
    success: bool
    observed: str | None


class SiteData(TypedDict):
    project: str
    generated_at: str
    built: bool  # the warehouse holds a build
    not_built_reason: str | None  # why the data pages are empty: "run `kpiframe build` first"
    metrics: list[MetricEntry]
    lineage: Lineage
    trees: list[TreeView]
    trends: list[TrendSeries]
    funnels: list[FunnelView]
    definitions: list[DefinitionView]
    runs: list[RunEntry]  # newest first, at most 50
    expectations: list[ExpectationResult]  # newest last, at most EXPECTATIONS_SHOWN
    problems: list[str]  # what could not be collected, and why (one line each); [] when everything was
