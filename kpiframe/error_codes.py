"""Every error code kpiframe prints, in one registry; docs/errors.md is generated from it.

A code is `KF` and three digits. The hundreds say which part of kpiframe found the problem:

- KF0xx project files and YAML: finding and reading files, YAML syntax, the keys and values of
  kpi_project.yml and the YAML files, names that clash. KF000 and KF001 are the generic codes.
- KF1xx references and the graph: unknown models, sources and metrics, dependency cycles, datasets
  and measures, expressions, published tables.
- KF2xx metric definitions.
- KF3xx Jinja templates and model SQL.
- KF4xx queries and build selection: 40x-42x metric queries and `--where`, 43x output formats,
  45x `--select`.
- KF5xx the warehouse and the build: 50x connecting and running statements, 51x source contracts,
  52x the demo's resources, 53x locks.
- KF6xx data quality: 60x expectations, 61x the volume guard.
- KF7xx metric tests.
- KF8xx KPI trees and targets: 80x-81x the KPI YAML, 82x-83x lint findings, 84x choosing a tree or a
  scenario, 85x explain and plan-targets.
- KF9xx governance and comparison: 90x-91x governed definitions, 92x funnels, 95x `kpiframe diff`,
  96x `kpiframe schema`, 97x `kpiframe serve` (the HTTP API), 98x `kpiframe docs`; KF999 is an internal error.

The code is the stable part of a message: messages and hints may be reworded, a code keeps its
meaning. Code raises the code as a string literal; tests/unit/test_error_codes.py checks that every
code in kpiframe/ is registered here, that every code here is used, and that docs/errors.md is current.

`python -m kpiframe.error_codes` prints docs/errors.md; `--write` writes it.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Area = Literal[
    "load",
    "template",
    "semantic",
    "query",
    "selection",
    "engine",
    "build",
    "demo",
    "quality",
    "metric tests",
    "kpi",
    "governance",
    "funnel",
    "diff",
    "schema",
    "serve",
    "docs",
    "cli",
]

CODE_FORMAT = re.compile(r"KF\d{3}")  # what every code looks like
DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "errors.md"


@dataclass(frozen=True)
class ErrorCode:
    """One code: what went wrong (title), where (area) and what it means and how to fix it."""

    code: str
    title: str
    area: Area
    explanation: str

    @property
    def hundreds(self) -> int:
        return int(self.code[2])


@dataclass(frozen=True)
class CodeRange:
    """The codes KFn00-KFn99 of one part of kpiframe."""

    hundreds: int
    name: str
    summary: str


RANGES: tuple[CodeRange, ...] = (
    CodeRange(
        0,
        "Project files and YAML",
        "Finding and reading the project's files, YAML syntax, the keys and values of kpi_project.yml and "
        "of the YAML files, and names that clash. KF000 and KF001 are the generic codes.",
    ),
    CodeRange(
        1,
        "References and the dependency graph",
        "Names that point at nothing (models, sources, metrics), dependency cycles, measures, SQL "
        "expressions in YAML, and published tables that do not compile.",
    ),
    CodeRange(2, "Metric definitions", "A metric whose definition does not hold together."),
    CodeRange(
        3,
        "Templates and model SQL",
        "Rendering a model's Jinja in the sandbox, and the rule that a model is exactly one read-only SELECT.",
    ),
    CodeRange(
        4,
        "Queries and build selection",
        "KF40x-KF42x: a metric query (`kpiframe query`, published tables) and `--where` filters; KF43x: "
        "output formats; KF45x: `--select` of `kpiframe build`.",
    ),
    CodeRange(
        5,
        "Warehouse and build",
        "KF50x: opening the warehouse and running statements; KF51x: source tables against their contract; "
        "KF52x: resources while writing the demo data; KF53x: locks during a build.",
    ),
    CodeRange(6, "Data quality", "KF60x: expectations (parsing and failures); KF61x: the volume guard."),
    CodeRange(7, "Metric tests", "`metric_tests:` run by `kpiframe test`."),
    CodeRange(
        8,
        "KPI trees and targets",
        "KF80x-KF81x: KPI trees, targets and benchmarks in the YAML; KF82x-KF83x: findings of `kpiframe lint` "
        "(warnings unless listed in `kpi: lint_errors`); KF84x: choosing a tree or a scenario; KF85x: "
        "`kpiframe explain` and `kpiframe plan-targets`.",
    ),
    CodeRange(
        9,
        "Governance, funnels, diff and internal errors",
        "KF90x-KF91x: governed definitions and definitions.lock; KF92x: funnels; KF95x: `kpiframe diff` and "
        "git; KF96x: `kpiframe schema`; KF97x: `kpiframe serve`, the HTTP API; KF98x: `kpiframe docs`; "
        "KF999: a bug in kpiframe.",
    ),
)

CODES: tuple[ErrorCode, ...] = (
    # --- KF0xx project files and YAML ---------------------------------------------------------------------
    ErrorCode(
        "KF000",
        "Unclassified error",
        "cli",
        "The default code of an error raised without a code of its own. Every error kpiframe raises names a "
        "code, so seeing KF000 is a bug: please report it with the command you ran.",
    ),
    ErrorCode(
        "KF001",
        "The project has errors",
        "load",
        "The summary of a project that failed validation: every problem was collected and is printed above "
        "it with its own code and location. Fix those; KF001 goes away with them.",
    ),
    ErrorCode(
        "KF002",
        "A project file cannot be read",
        "load",
        "A file under the project (a model, a YAML file or a macro) is larger than 5 MB, is not valid UTF-8 "
        "(the message names the byte, its line and column), or the operating system refused to read it. "
        "Save the file as UTF-8, split it, or keep data out of project files.",
    ),
    ErrorCode(
        "KF003",
        "Malformed YAML",
        "load",
        "The YAML parser stopped at the reported line: a syntax error, a duplicate key, a list or mapping "
        "used as a key, an alias inside the node it names, or aliases expanding to more than 100,000 values. "
        "Fix the YAML at that line.",
    ),
    ErrorCode(
        "KF010",
        "No kpi_project.yml",
        "load",
        "The project folder has no kpi_project.yml. Run kpiframe from the project folder or pass --project-dir.",
    ),
    ErrorCode(
        "KF011",
        "A project YAML file has the wrong shape",
        "load",
        "kpi_project.yml must be a mapping with at least `name`, and every other project YAML file a mapping "
        "of lists (`models:`, `metrics:`, ...). Rewrite the top level of the file in that shape.",
    ),
    ErrorCode(
        "KF012",
        "Unknown key",
        "load",
        "A YAML mapping has a key kpiframe does not know, often a typo. The hint suggests the closest "
        "allowed key or lists the allowed ones; see docs/project-format.md.",
    ),
    ErrorCode(
        "KF013",
        "Missing required key",
        "load",
        "A YAML item lacks a key it must have (a metric or a source without `name`, ...). Add the key named in "
        "the message.",
    ),
    ErrorCode(
        "KF014",
        "Invalid value",
        "load",
        "A YAML value has the wrong type or breaks a rule of its key (a cumulative `window:` of `0 days`, "
        "a ratio metric without a denominator, ...). The message names the field and the rule; correct the "
        "value.",
    ),
    ErrorCode(
        "KF020",
        "Empty project",
        "load",
        "The project has no models/*.sql and no metrics in metrics/*.yml. Add a first model; see "
        "docs/project-format.md.",
    ),
    ErrorCode(
        "KF021",
        "Duplicate name",
        "load",
        "Two models, source tables, datasets, metrics or measures have the same name, or a definition or "
        "funnel generates a model or dataset whose name is taken. The hint says where the first one is; "
        "rename or remove one of them.",
    ),
    ErrorCode(
        "KF022",
        "Model file name is not a valid model name",
        "load",
        "A model's file name is its table name and its ref() name, so it must be an identifier: ASCII "
        "letters, digits and _, not starting with a digit. Rename the file as the hint suggests.",
    ),
    ErrorCode(
        "KF023",
        "kpiframe init would write over a project",
        "load",
        "`kpiframe init` writes a new project only into a folder without kpi_project.yml or the files it "
        "would create, so nothing of yours is overwritten. Choose an empty or new folder.",
    ),
    ErrorCode(
        "KF060",
        "Nothing to import",
        "load",
        "`kpiframe import metricflow PATH` found no folder at PATH, or no YAML file under it with "
        "`semantic_models:`, `metrics:` or `saved_queries:` (dbt's lists, or MetricFlow's `semantic_model:` "
        "documents). Pass the folder of a dbt project that uses the dbt Semantic Layer.",
    ),
    ErrorCode(
        "KF061",
        "Malformed YAML in the project being imported",
        "load",
        "A YAML file of the dbt project given to `kpiframe import` does not parse at the reported line. Fix "
        "it there (dbt would refuse it too).",
    ),
    ErrorCode(
        "KF062",
        "The import would overwrite a file it did not write",
        "load",
        "`kpiframe import --write` rewrites only files an earlier import generated (their first line says "
        "so). A file of yours is in the way; move it, or import into another folder with --output.",
    ),
    # --- KF1xx references and the graph -------------------------------------------------------------------
    ErrorCode(
        "KF104",
        "Unknown model or metric",
        "semantic",
        "A name points at nothing: a ref() in model SQL, a dataset's `model:`, a metric's `numerator:`, "
        "`denominator:`, `metric:` or `inputs:`, a name in a derived metric's `expr:`, or a `--metric` asked "
        "for. The hint suggests the closest existing name; fix the spelling or define it.",
    ),
    ErrorCode(
        "KF105",
        "Unknown source table",
        "semantic",
        "Model SQL calls source() with a source and table that no `sources:` entry declares. Fix the name, "
        "or declare the table under `sources:`.",
    ),
    ErrorCode(
        "KF106",
        "Model dependency cycle",
        "semantic",
        "Models depend on each other in a circle through ref(); the message lists the cycle. Break it: a "
        "model cannot depend on itself.",
    ),
    ErrorCode(
        "KF107",
        "Metric cycle",
        "semantic",
        "Metrics are computed from each other in a circle (through numerator, denominator, metric or "
        "inputs); the message lists the cycle. Compute one of them from a measure instead.",
    ),
    ErrorCode(
        "KF110",
        "Measure without a time column",
        "semantic",
        "Every measure is counted over time, and this one has no `time:` column. Set `time:` on the measure "
        "or on its dataset.",
    ),
    ErrorCode(
        "KF111",
        "Non-additive measure's dimension is not a time",
        "semantic",
        "A measure's `non_additive: {dimension: ...}` names what is not a time dimension of its dataset: a "
        "categorical dimension, or a name the dataset does not declare. In each period the measure keeps the "
        "rows at the last (or first) value of that time. Name a dimension declared with `type: time` (the hint "
        "lists them), or leave `dimension` out to use the measure's own time.",
    ),
    ErrorCode(
        "KF112",
        "Non-additive measure's `per` is not on its dataset",
        "semantic",
        "A measure's `non_additive: {per: [...]}` names what is neither an entity nor a dimension of its "
        "dataset. `per` chooses the last (or first) time separately for each value of those entities (each "
        "account's own last day). Fix the name (the hint suggests one or lists what the dataset has).",
    ),
    ErrorCode(
        "KF113",
        "Dimension named period_start",
        "semantic",
        "Every answer by period has a column `period_start`, the start of its period, so a dimension of that "
        "name (in any case) would be a second column of the same name and its values would be lost. Rename "
        "the dimension and keep its column with `expr:`, as `{name: billing_period_start, expr: period_start}`.",
    ),
    ErrorCode(
        "KF114",
        "Partition is not a time dimension",
        "semantic",
        "A dimension with `partition: true` is not declared `type: time`. A partition is the day (or other "
        "time) a dataset's rows are partitioned by, as a dimension table with a row per key and day; a "
        "many-to-one join between two datasets that both declare one also equates the two partitions. Add "
        "`type: time` to the dimension if it is one, or remove `partition: true`.",
    ),
    ErrorCode(
        "KF115",
        "Dataset declares more than one partition",
        "semantic",
        "A dataset declares `partition: true` on two or more dimensions. A dataset has one partition, the "
        "time its rows are partitioned by, which a join to another partitioned dataset equates. Keep "
        "`partition: true` on one time dimension.",
    ),
    ErrorCode(
        "KF116",
        "Validity window is not a time dimension",
        "semantic",
        "A dimension with `validity: start` or `validity: end` is not declared `type: time`. A versioned "
        "dataset (a row per key and period, as an account's owner history) marks the time its versions are "
        "valid from and, optionally, the time they are valid to; a join to it keeps the version valid at the "
        "joining row's time. Add `type: time` to the dimension if it is one, or remove `validity:`.",
    ),
    ErrorCode(
        "KF117",
        "Validity window declared twice or without a start",
        "semantic",
        "A dataset declares `validity: start` (or `validity: end`) on two dimensions, or an end without a "
        "start. A validity window has exactly one start and at most one end (without one, or where it is "
        "NULL, a version is still valid). Keep one of each on time dimensions, and a start wherever there "
        "is an end.",
    ),
    ErrorCode(
        "KF118",
        "Percentile measure without its percentile",
        "semantic",
        "A measure has `agg: percentile` without `percentile:` (which one: 0.9 for the 90th), or "
        "`percentile:` with another aggregation. Give both (`discrete: true` takes a row's value instead of "
        "interpolating), or use `agg: median` for the middle value.",
    ),
    ErrorCode(
        "KF120",
        "Expression cannot be read",
        "semantic",
        "A SQL expression (a `filter:` or `expr:` in YAML, or a `--where`) does not parse, has a quote that "
        "is never closed, or is a statement or subquery where only an expression is allowed. Fix the "
        "expression at the reported value.",
    ),
    ErrorCode(
        "KF140",
        "Published table does not compile",
        "semantic",
        "An entry of `tables:` cannot be compiled into a query (for instance a dimension that does not apply "
        "to one of its metrics, or a cumulative metric at a grain it cannot be computed at). The message "
        "carries the underlying problem; change the table's metrics, dimensions or grain.",
    ),
    # --- KF2xx metric definitions -------------------------------------------------------------------------
    ErrorCode(
        "KF201",
        "Unknown measure",
        "semantic",
        "A simple metric names a `measure:` that no dataset declares. Fix the name (the hint suggests one) "
        "or declare the measure on its dataset.",
    ),
    ErrorCode(
        "KF202",
        "Filter on a metric that is not simple",
        "semantic",
        "Only simple metrics take a `filter:`; on a ratio, derived or cumulative metric it would be ignored. "
        "Put the filter on the simple metrics it is computed from.",
    ),
    ErrorCode(
        "KF203",
        "Conversion metric's entity or property not on its dataset",
        "semantic",
        "A conversion metric pairs the rows of its `base_measure` and its `conversion_measure` by `entity:` "
        "(and by each of its `constant_properties`), so the entity must be an entity of both measures' "
        "datasets, and each `base_property` / `conversion_property` an entity or dimension of the base / "
        "conversion measure's dataset. Fix the name (the hint lists what the dataset has) or declare it.",
    ),
    ErrorCode(
        "KF204",
        "Cumulative or conversion metric over a non-additive measure",
        "semantic",
        "A measure with `non_additive:` (a balance) answers one value per period, that of its last or first "
        "time, so a cumulative metric cannot add those values up across periods, nor a conversion metric pair "
        "its rows one by one. Query the simple metric over the measure at the grain you need instead.",
    ),
    ErrorCode(
        "KF205",
        "join_to_timespine without a time spine",
        "semantic",
        "A metric has `join_to_timespine: true`, which answers every period of the project's time spine, but "
        "kpi_project.yml sets no `calendar: time_spine: {start, end}`, so the metric answers the periods from "
        "the first to the last with data (or --start/--end), as without the option. A warning: add the first "
        "and last day of your time spine under `calendar:` (see docs/project-format.md), or drop the option.",
    ),
    ErrorCode(
        "KF206",
        "Time spine model not found",
        "semantic",
        "kpi_project.yml's `calendar: time_spine: model:` names the model whose columns are the project's "
        "custom grains (`custom_grains: {alien_day: alien_day}`), and no model of the project has that name. "
        "Fix the name (the hint suggests one) or add the model: one row per day, its day column `day:`.",
    ),
    # --- KF3xx templates and model SQL --------------------------------------------------------------------
    ErrorCode(
        "KF301",
        "Template error",
        "template",
        "Jinja failed to render a model or macro: a syntax error, an undefined name, or a Python error in "
        "the template, reported at its line. Fix the template there.",
    ),
    ErrorCode(
        "KF302",
        "Forbidden in the template sandbox",
        "template",
        "A template tried something the sandbox forbids, such as reaching Python internals. Models may only "
        "use ref(), source(), var() and macros; see docs/security.md.",
    ),
    ErrorCode(
        "KF303",
        "Unknown var",
        "template",
        "A template reads var('name') that kpi_project.yml does not declare and that has no default. Declare "
        "it under `vars:` or give a default: var('name', 0).",
    ),
    ErrorCode(
        "KF304",
        "Template exceeds a limit",
        "template",
        "A render went past a bound: too many loop steps, calls nested too deep, output or values too large, "
        "too long, or out of memory. Keep model templates small and quick; the limits are in "
        "docs/security.md.",
    ),
    ErrorCode(
        "KF310",
        "Model SQL does not parse",
        "template",
        "The rendered SQL of a model cannot be parsed, or a quote or $$ string is never closed. Fix the SQL "
        "at the reported line.",
    ),
    ErrorCode(
        "KF311",
        "Model is not exactly one SELECT",
        "template",
        "A model file must hold one SELECT statement: this one is empty, holds several statements, or a "
        "statement that is not a query. Remove the other statements; kpiframe creates the table or view "
        "itself.",
    ),
    ErrorCode(
        "KF312",
        "Model writes",
        "template",
        "A model may only read, and this one contains a write, DDL or session statement (INSERT, DELETE, "
        "CREATE, SET, ...), possibly inside a CTE. Make it a plain SELECT; kpiframe writes the table.",
    ),
    # --- KF4xx queries and selection ----------------------------------------------------------------------
    ErrorCode(
        "KF401",
        "No metric asked for",
        "query",
        "A metric query names no metric. Pass --metric NAME (repeat it for several), or --by DIMENSION "
        "alone for the distinct values of the dimension.",
    ),
    ErrorCode(
        "KF402",
        "Unknown grain or date part",
        "query",
        "A metric query asks for a grain kpiframe does not know. Use one of day, week, month, quarter, year, "
        "fiscal_quarter, fiscal_year, or all (no period: the whole range at once); a date part "
        "(`metric_time__extract_<part>`) one of year, quarter, month, day, dow, doy.",
    ),
    ErrorCode(
        "KF403",
        "Unknown comparison",
        "query",
        "A metric query asks for a comparison other than `previous` or `year`. Use one of those two.",
    ),
    ErrorCode(
        "KF410",
        "Dimension does not apply",
        "query",
        "A `--by` or `--where` names something that is not a dimension of the metrics asked for (a model "
        "column or an entity is not enough). Use a dimension the hint lists, or declare one in the dataset.",
    ),
    ErrorCode(
        "KF411",
        "Ambiguous dimension",
        "query",
        "A short dimension name matches several dimensions reachable from the dataset. Use the qualified "
        "name (entity__dimension) the hint lists.",
    ),
    ErrorCode(
        "KF412",
        "Query filter refused",
        "query",
        "A `--where` filter uses syntax that typed filters may not (subqueries, table or system functions, "
        "qualified columns, ...), is longer than 2,000 characters, or nests more than 100 levels deep. Write "
        "it with the allowed syntax the hint lists; see docs/security.md.",
    ),
    ErrorCode(
        "KF413",
        "MetricFlow request syntax kpiframe cannot answer",
        "query",
        "A MetricFlow name or filter (`entity__dim__grain`, `{{ TimeDimension(...) }}`, `{{ Entity(...) }}`) "
        "asks for what kpiframe cannot group or filter by: a grain finer than a millisecond, a grain of a name that "
        "is not a time dimension of the metrics, a time dimension's grain without a metric, an entity no "
        "dimension holds. Use the form the hint gives.",
    ),
    ErrorCode(
        "KF414",
        "A second grain of metric time finer than the period",
        "query",
        "A request groups by a label of metric time (`metric_time__week`) finer than its grain (`grain: quarter`). "
        "The finer grain is the period and the coarser a label of each row: `--grain week --by "
        "metric_time__quarter` (MetricFlow's names `metric_time__week,metric_time__quarter` are put so).",
    ),
    ErrorCode(
        "KF415",
        "Time asked of a query of dimension values",
        "query",
        "A query with --by and no --metric answers the distinct values of its dimensions; it has no metric "
        "time, so a grain (`--grain`, `metric_time`), `--start`/`--end` or `--compare` cannot apply. Add a "
        "metric, or filter the values with `--where` on a time dimension. When kpi_project.yml sets "
        "`calendar: time_spine: {start, end}`, metric time without a metric lists the time spine's periods "
        "(crossed with the other dimensions' values); `--compare`, and `--where` with no other dimension, "
        "still cannot apply.",
    ),
    ErrorCode(
        "KF416",
        "No dataset reaches every dimension asked for",
        "query",
        "A query of dimension values (no --metric) reads its values from one dataset that reaches every "
        "dimension of `--by` and `--where` through many-to-one joins; none does. Query the values "
        "separately, or declare the entity that joins their datasets.",
    ),
    ErrorCode(
        "KF417",
        "Time range given twice, or not as a date",
        "query",
        "`--start-time`/`--end-time` (MetricFlow's time constraint: instants, whose periods bound the answer) "
        "and `--start`/`--end` (period starts) say the same thing: give one of each pair. An instant is ISO "
        "8601 text, `2024-03-01` or `2024-03-01T00:00:00`.",
    ),
    ErrorCode(
        "KF418",
        "Order by something the answer does not have",
        "query",
        "`--order` (or the API's `order`) names a column of the answer: a metric asked for, a dimension in "
        "`--by` (as written there or its full name), `metric_time` or `period_start`; `-name` sorts descending. "
        "The message lists the answer's columns.",
    ),
    ErrorCode(
        "KF419",
        "Limit that is not a count of rows",
        "query",
        "`limit` must be a whole number, 0 or more. Leave it out for every row.",
    ),
    ErrorCode(
        "KF420",
        "Cumulative metric over a metric that is not simple",
        "query",
        "A cumulative metric must accumulate a simple metric. Point its `metric:` at a simple metric.",
    ),
    ErrorCode(
        "KF421",
        "Cumulative metric finer than the grain",
        "query",
        "A cumulative metric's `grain_to_date:` or `window:` is finer than the grain asked for (a 7-day "
        "window at month grain). Query it at that grain or finer.",
    ),
    ErrorCode(
        "KF422",
        "Malformed cumulative window",
        "query",
        "A cumulative `window:` must be a count and a unit, like '7 days' or '3 months'. Fix the window.",
    ),
    ErrorCode(
        "KF423",
        "Earlier periods asked over all time",
        "query",
        "A query at grain `all` (the whole range, no period) asks for what reads an earlier period: a derived "
        "metric with an input `offset:` (other than whole days, which move the rows instead), or `--compare`. "
        "Ask for a grain (`--grain month`); a cumulative metric over all time is its value on the range's "
        "last day.",
    ),
    ErrorCode(
        "KF424",
        "Input offset that does not fit the grain",
        "query",
        "A derived metric's input `offset:` does not move a period of the grain asked onto another period of "
        "it: 'start of month' or '1 month' at week grain, '5 days' at month grain of an input that reads earlier "
        "periods itself (an offset of days of a simple metric moves its rows instead). Query it at a grain the "
        "offset moves whole periods of (day grain takes every offset), or write the offset in periods of that "
        "grain.",
    ),
    ErrorCode(
        "KF425",
        "Cumulative distinct count over a filtered metric",
        "query",
        "A cumulative metric over a count_distinct measure counts the distinct values of its window's rows; "
        "the simple metric it accumulates cannot have a `filter:` there. Accumulate a simple metric of the "
        "measure without a filter.",
    ),
    ErrorCode(
        "KF426",
        "Unknown saved query",
        "query",
        "`kpiframe query --saved-query NAME` answers the request of a published table (`tables:`; a MetricFlow "
        "saved query is imported as one): NAME must be one. The message suggests the closest names.",
    ),
    ErrorCode(
        "KF427",
        "Saved query given with metrics, group-bys or a grain",
        "query",
        "`--saved-query` names the metrics, the group-bys and the grain of the request; only `--where`, "
        "`--order`, `--limit`, `--start`/`--end` (or `--start-time`/`--end-time`) and the output options may "
        "be added. Drop `--metric`, `--by` and `--grain`, or drop `--saved-query`.",
    ),
    ErrorCode(
        "KF428",
        "Date part that cannot be answered",
        "query",
        "A request grouped by a date part (`metric_time__extract_dow`, MetricFlow's date_part) asks for what "
        "has no value by it: a cumulative metric or a derived metric with an input `offset:` (they read "
        "earlier periods, whose rows have other parts), `--compare`, the part of a dimension that is not a "
        "time, or a dataset time's part without a metric. The period of a time other than the metrics' own "
        "(`listing__created_at__month`) is refused alike. Ask for those by a grain (`metric_time__day`, "
        "`--grain month`), or for their input metrics by the date part.",
    ),
    ErrorCode(
        "KF429",
        "Versioned dataset joined without a time",
        "query",
        "A query of dimension values (no `--metric`) asks for a dimension of a versioned dataset (one with a "
        "validity window) through a join from another dataset. Which version a row joins depends on the "
        "row's time, and a query without a metric has none. Add `--metric NAME` to read each row's version "
        "at its metric's time, or list the versioned dataset's own values alone (every version's).",
    ),
    ErrorCode(
        "KF430",
        "Unsupported number format",
        "query",
        'A metric\'s `format:` is a pattern kpiframe cannot apply. Use a pattern like "#,##0", "#,##0.00", '
        '"0.0%" or "€#,##0", or remove `format:`.',
    ),
    ErrorCode(
        "KF431",
        "Optional library for a result format missing",
        "query",
        "A query result was asked for as an Arrow table (`QueryResult.to_arrow()`) or a DataFrame "
        "(`to_pandas()`) and the library it needs is not installed. Install it as the hint says "
        "(`pip install 'kpiframe[arrow]'` brings pyarrow).",
    ),
    ErrorCode(
        "KF432",
        "Custom grain that cannot be answered",
        "query",
        "A request names a custom grain (a column of the time spine model, `metric_time__alien_day`) where "
        "kpiframe has no answer for it yet: as a period grain (`--grain alien_day`: group by it with "
        "`--by metric_time__alien_day` instead), with a cumulative metric, a derived metric reading months "
        "or periods back, or `--compare` (their earlier rows have other custom values), the custom grain of "
        "a dimension that is not a time, or metric_time's custom grain without a metric.",
    ),
    ErrorCode(
        "KF433",
        "Metric per entity that cannot be answered",
        "query",
        "A filter names a metric per entity (`customer__revenue > 100`) where kpiframe cannot compute it: "
        "on the conversion events a conversion metric credits (filter its base events instead), or for a "
        "metric whose own filters read back the metric being filtered (a cycle, also reported at load as "
        "KF107).",
    ),
    ErrorCode(
        "KF434",
        "--min-max with a metric",
        "query",
        "`--min-max` gives the first and last value of each dimension asked for (`--by`), for a query "
        "without metric; a metric's series has no such answer. Drop --metric, or drop --min-max.",
    ),
    ErrorCode(
        "KF435",
        "Sub-day request too long",
        "query",
        "A request at a grain finer than a day (hour, minute, second, millisecond) would list more periods "
        "than kpiframe answers (5,000,000): the project's whole time spine at that grain, for metric time "
        "without a metric or a metric with `join_to_timespine: true`; or it compares with a year ago "
        "(`--compare year`), more history than a sub-day request reads. Bound it with `--start-time` and "
        "`--end-time`, ask for a coarser grain, or compare with the previous period.",
    ),
    ErrorCode(
        "KF450",
        "Unknown node in --select",
        "selection",
        "A `--select` names no model, published table or metric. Fix the name (the hint suggests one); "
        "selectors are names, tag:X and state:modified.",
    ),
    ErrorCode(
        "KF451",
        "Unknown state selector",
        "selection",
        "Only `state:modified` is a state selector. Use state:modified.",
    ),
    ErrorCode(
        "KF452",
        "state:modified without --state",
        "selection",
        "state:modified compares with a manifest.json saved from a previous compile. Pass it with --state "
        "PATH, e.g. production's target/manifest.json.",
    ),
    ErrorCode(
        "KF453",
        "State manifest cannot be read",
        "selection",
        "The file passed as --state is missing, is not JSON, or is not a kpiframe manifest. Pass a "
        "target/manifest.json written by `kpiframe compile`.",
    ),
    ErrorCode(
        "KF454",
        "Selection reads tables never built",
        "selection",
        "A partial build reads the nodes it does not rebuild from the warehouse, and some were never built. "
        "Put + in front of the selector to build the upstream nodes too.",
    ),
    ErrorCode(
        "KF455",
        "Unknown tag",
        "selection",
        "A `tag:X` selector (or `kpiframe list --tag X`) names a tag that no model or metric carries, usually "
        "a typo. Use a tag the hint suggests.",
    ),
    ErrorCode(
        "KF456",
        "Nothing to build",
        "selection",
        "A valid selection matched no node (state:modified with nothing changed, say). Not a failure: it is "
        "printed as a note and the exit code is 0.",
    ),
    ErrorCode(
        "KF457",
        "Unknown owner or kind in kpiframe list",
        "selection",
        "`kpiframe list --owner TEAM` names a team that owns no metric, usually a typo (or `catalog(kinds=...)` "
        "in Python names a kind other than model, dataset, metric and table). Use a name the hint suggests. "
        "A filter of known values that matches nothing is not an error: it says so and the exit code is 0.",
    ),
    # --- KF5xx warehouse and build ------------------------------------------------------------------------
    ErrorCode(
        "KF501",
        "Warehouse file does not exist",
        "engine",
        "A command that reads data found no DuckDB file at the warehouse path. Run `kpiframe demo` or "
        "`kpiframe build` first, or pass --warehouse.",
    ),
    ErrorCode(
        "KF502",
        "Cannot open the warehouse",
        "engine",
        "The DuckDB file is locked by another process (the message names it), or cannot be opened (read-only "
        "file or missing folder); or PostgreSQL cannot be reached or its psycopg driver is not installed. "
        "Stop the other process or pass --wait to build, fix the path or DSN, or pip install "
        "'kpiframe[postgres]'.",
    ),
    ErrorCode(
        "KF503",
        "The warehouse refused a statement",
        "engine",
        "DuckDB or PostgreSQL refused SQL that kpiframe sent; the message carries the warehouse's words. "
        "SQL that needs a DuckDB extension is refused too, since kpiframe never loads one.",
    ),
    ErrorCode(
        "KF504",
        "A model or table failed during the build",
        "build",
        "The warehouse refused to create a model or published table of the build; the message names it and "
        "gives the warehouse's reason. Nothing was published; fix the node in the file the hint names.",
    ),
    ErrorCode(
        "KF505",
        "Not a DuckDB database file",
        "engine",
        "The warehouse path points at a file in another format (SQLite, Parquet, text); kpiframe refuses it "
        "before DuckDB opens it. Point --warehouse or warehouse.path at a DuckDB file or at a new path, or "
        "pass a PostgreSQL DSN.",
    ),
    ErrorCode(
        "KF510",
        "Source table missing",
        "build",
        "A source table declared under `sources:` does not exist in the warehouse. Load your rows into it, "
        "or run `kpiframe demo` for demo data.",
    ),
    ErrorCode(
        "KF511",
        "Source table lacks contract columns",
        "build",
        "A source table in the warehouse lacks columns its `sources:` contract declares. Fix the export, or "
        "update the declared columns.",
    ),
    ErrorCode(
        "KF512",
        "Source column has the wrong type",
        "build",
        "A source column's type in the warehouse is of another family than the contract declares. Cast it "
        "when loading, or correct the declared type.",
    ),
    ErrorCode(
        "KF520",
        "Out of disk space writing the demo",
        "demo",
        "`kpiframe demo` ran out of disk space; raw.* was left as it was. Free space (the demo needs room "
        "for the new tables beside the old ones) or rerun with a smaller --scale.",
    ),
    ErrorCode(
        "KF521",
        "Out of memory writing the demo",
        "demo",
        "`kpiframe demo` ran out of memory; raw.* was left as it was. Rerun with a smaller --scale, or raise "
        "the warehouse's memory_limit in kpi_project.yml.",
    ),
    ErrorCode(
        "KF530",
        "Another build holds the build lock",
        "build",
        "On PostgreSQL one build of a project runs at a time, and another one is running (the message names "
        "it). Wait for it, or pass --wait [SECONDS] to queue behind it.",
    ),
    ErrorCode(
        "KF531",
        "Timed out waiting for a table lock",
        "build",
        "Publishing waited --lock-timeout seconds for a lock on a published table, held by the sessions the "
        "message names (often a BI tool idle in a transaction), and gave up; nothing was published. End "
        "those sessions or raise --lock-timeout.",
    ),
    ErrorCode(
        "KF532",
        "A view depends on a published table",
        "build",
        "PostgreSQL will not replace a published table that a view kpiframe does not manage reads; nothing "
        "was published. Drop the view, build, and create it again, or make it a kpiframe model with "
        "`materialized: view`.",
    ),
    ErrorCode(
        "KF540",
        "The serving snapshot could not be written",
        "build",
        "The build published its tables in the warehouse, but copying the warehouse to its serving snapshot "
        "(`<warehouse>.serving/`) failed, often for lack of disk space; readers keep the previous build. Free "
        "space and build again.",
    ),
    # --- KF6xx data quality -------------------------------------------------------------------------------
    ErrorCode(
        "KF600",
        "Expectations of severity error failed",
        "quality",
        "One or more expectations of severity error failed during the build, so nothing was published (exit "
        "code 3). The summary above lists them; fix the data or the expectation.",
    ),
    ErrorCode(
        "KF601",
        "Malformed expectation item",
        "quality",
        "`expectations:` must be a list whose items are mappings with exactly one expectation key, like "
        "'- not_null: email'. Write one expectation per list item.",
    ),
    ErrorCode(
        "KF602",
        "Unknown expectation",
        "quality",
        "An item names an expectation kpiframe does not know. Use a Great Expectations name (expect_...), "
        "a short form or a KPI check; the hint suggests the closest.",
    ),
    ErrorCode(
        "KF603",
        "Argument does not apply",
        "quality",
        "An expectation got an argument it does not take, or `mostly` on a check it does not apply to. "
        "Remove it or fix its name; the hint lists the arguments it takes.",
    ),
    ErrorCode(
        "KF604",
        "Missing expectation argument",
        "quality",
        "An expectation lacks a required argument (e.g. `column`). Add it.",
    ),
    ErrorCode(
        "KF605",
        "Bad expectation value",
        "quality",
        "An expectation's value is wrong: severity other than error or warn, a column that is not a name, "
        "value_set that is not a list, a minimum above the maximum, `mostly` outside 0-1, and the like. "
        "Correct the value.",
    ),
    ErrorCode(
        "KF610",
        "Volume guard: a table would shrink too much",
        "quality",
        "A build would shrink tables beyond their allowed drop since the last successful build; nothing was "
        "published (exit code 3). If the load failed, reload and build again; if the drop is real, rerun "
        "with --accept-volume-drop NAME or raise `max_drop`.",
    ),
    ErrorCode(
        "KF611",
        "--accept-volume-drop names no guarded table",
        "quality",
        "--accept-volume-drop names a table this build does not guard. Fix the name; the hint lists the guarded ones.",
    ),
    # --- KF7xx metric tests -------------------------------------------------------------------------------
    ErrorCode(
        "KF701",
        "Metric test gives rows for an unknown table",
        "metric tests",
        "A metric test's `given:` names a table that is not a declared source. Name raw tables as "
        "schema.table, e.g. raw.leads.",
    ),
    ErrorCode(
        "KF702",
        "Metric test rows name unknown columns",
        "metric tests",
        "Rows in `given:` have columns the source table does not declare. Fix the column names or the "
        "source's columns.",
    ),
    ErrorCode(
        "KF703",
        "Model failed on the test rows",
        "metric tests",
        "A model could not be built from the rows a metric test gives; the message has the warehouse's "
        "reason. Fix the rows (types, missing columns) or the model.",
    ),
    ErrorCode(
        "KF704",
        "Unknown metric test",
        "metric tests",
        "`kpiframe test --select` names no metric test. Fix the name; the hint suggests the closest.",
    ),
    # --- KF8xx KPI trees and targets ----------------------------------------------------------------------
    ErrorCode(
        "KF801",
        "Unknown key in KPI YAML",
        "kpi",
        "KF012 in a KPI file: a tree, target or benchmark entry has a key kpiframe does not know. The hint "
        "suggests the closest allowed key; see docs/kpis.md.",
    ),
    ErrorCode(
        "KF802",
        "Missing key in KPI YAML",
        "kpi",
        "KF013 in a KPI file: a tree, target or benchmark entry lacks a required key. Add it.",
    ),
    ErrorCode(
        "KF803",
        "Invalid value in KPI YAML",
        "kpi",
        "KF014 in a KPI file: a tree, target or benchmark value is of the wrong type or breaks its rule, e.g. "
        "a target that does not give exactly one of value, baseline, benchmark and derived. Correct the value.",
    ),
    ErrorCode(
        "KF804",
        "Unknown metric in KPI YAML",
        "kpi",
        "A tree node, formula, target or benchmark names a metric the project does not define. Fix the name; "
        "the hint suggests the closest.",
    ),
    ErrorCode(
        "KF805",
        "Duplicate in KPI YAML",
        "kpi",
        "A tree name, a metric within a tree, a formula, a benchmark for a metric, or a target for the same "
        "metric, scenario, dimension and period appears twice. Remove one; to change a target, add an entry "
        "with a later `since:` and a `reason:`.",
    ),
    ErrorCode(
        "KF806",
        "Invalid tree formula",
        "kpi",
        "A tree formula does not parse, names in `lag:` or `solve_for:` a metric missing from its "
        "expression, uses its own metric, is for a metric that is no node of the tree, or formulas form a "
        "cycle. Fix the formula.",
    ),
    ErrorCode(
        "KF807",
        "Metric unsupported in KPI trees and targets",
        "kpi",
        "Tree nodes and targets need metrics that are sums or counts over days, or ratios and arithmetic "
        "of those; this one is cumulative, uses another aggregation or period-shifted inputs. Use the metric "
        "it is built from, and put lags on the tree's formula.",
    ),
    ErrorCode(
        "KF808",
        "Invalid target period",
        "kpi",
        "A target's period label is not a period. Write 2026-11, 2026-Q4 or 2026.",
    ),
    ErrorCode(
        "KF809",
        "Unknown or missing benchmark",
        "kpi",
        "A benchmark's `use:` or a target's `benchmark:` names no entry of the benchmark library, or a target "
        "asks for a benchmark point of a metric with no benchmark attached. Name a library entry "
        "(benchmark: email_open) or attach one under `benchmarks:`.",
    ),
    ErrorCode(
        "KF810",
        "Invalid kpi settings",
        "kpi",
        "The `kpi:` settings in kpi_project.yml are invalid, or `lint_errors` names an unknown lint code or "
        "name. Fix the setting; the lint codes and names are KF820-KF831 below.",
    ),
    ErrorCode(
        "KF811",
        "Derived target without a formula",
        "kpi",
        "A target is `derived`, but no tree formula has its metric as a child to derive it from. Declare a "
        "formula whose expression uses the metric, or give a value.",
    ),
    ErrorCode(
        "KF812",
        "Unknown dimension in a target",
        "kpi",
        "A target's `dimension:` names no dimension of the project. Fix the name; the hint suggests one.",
    ),
    ErrorCode(
        "KF820",
        "Lint: node without owner",
        "kpi",
        "`kpiframe lint` (missing_owner): a KGI or KPI has no owner, on the node or in its metric. Set "
        "`owner:`. Like every lint finding, a warning unless listed in `kpi: lint_errors`.",
    ),
    ErrorCode(
        "KF821",
        "Lint: no target for the current period",
        "kpi",
        "`kpiframe lint` (missing_target): a KGI or KPI has no plan target for the current period. Add one "
        "under `targets:`.",
    ),
    ErrorCode(
        "KF822",
        "Lint: node without direction",
        "kpi",
        "`kpiframe lint` (missing_direction): a KGI or KPI does not say whether higher or lower is better, "
        "on the node or in its metric. Set `direction:`.",
    ),
    ErrorCode(
        "KF823",
        "Lint: node without grain",
        "kpi",
        "`kpiframe lint` (missing_grain): a KGI or KPI has no `grain:`. Set one on the node.",
    ),
    ErrorCode(
        "KF824",
        "Lint: node without cadence",
        "kpi",
        "`kpiframe lint` (missing_cadence): a KGI or KPI has no review `cadence:` (weekly, monthly or "
        "quarterly). Set one on the node.",
    ),
    ErrorCode(
        "KF825",
        "Lint: too few or too many KPIs",
        "kpi",
        "`kpiframe lint` (kpi_count): a tree has fewer than 3 or more than 7 KPIs under its KGI. 3 to 7 keep "
        "a tree readable and each KPI meaningful.",
    ),
    ErrorCode(
        "KF826",
        "Lint: KPI in no tree",
        "kpi",
        "`kpiframe lint` (kpi_in_no_tree): a metric has targets or a kpi tag but is in no tree. Place it "
        "under a KSF of a tree, or drop its targets.",
    ),
    ErrorCode(
        "KF827",
        "Lint: volume KPI without a quality KPI",
        "kpi",
        "`kpiframe lint` (unpaired_volume): a count KPI has no rate in its tree with it as the denominator, "
        "so volume could be bought with worse quality. Add such a rate.",
    ),
    ErrorCode(
        "KF828",
        "Lint: possible vanity metric",
        "kpi",
        "`kpiframe lint` (vanity_metric): over the history, a KPI correlates with its KGI less than "
        "`vanity_min_correlation` at any lag. Keep it if it explains something the KGI needs, else replace it.",
    ),
    ErrorCode(
        "KF829",
        "Lint: target beyond anything achieved",
        "kpi",
        "`kpiframe lint` (unachievable_target): a target asks for more growth over its trailing baseline "
        "than the best in history. Give it a reason (a plan, a budget, a change) or lower it.",
    ),
    ErrorCode(
        "KF830",
        "Lint: formula does not reproduce its metric",
        "kpi",
        "`kpiframe lint` (formula_mismatch): computed from its children, a tree formula misses the metric's "
        "actual values beyond its tolerance in some months. Check the formula's metrics and lags against "
        "their definitions.",
    ),
    ErrorCode(
        "KF831",
        "Lint: node without timing",
        "kpi",
        "`kpiframe lint` (missing_timing): a KGI or KPI does not say whether it is leading or lagging, on the "
        "node or in its metric. Set `timing:`.",
    ),
    ErrorCode(
        "KF840",
        "Unknown tree",
        "kpi",
        "--tree names no KPI tree of the project. Fix the name; the hint suggests the closest.",
    ),
    ErrorCode(
        "KF841",
        "No KPI tree",
        "kpi",
        "A KPI command needs a tree and the project declares none. Declare one under `trees:` in a "
        "metrics/*.yml file; see docs/kpis.md.",
    ),
    ErrorCode(
        "KF842",
        "Several trees: choose one",
        "kpi",
        "The project has more than one KPI tree and the command cannot tell which one is meant. Pass --tree NAME.",
    ),
    ErrorCode(
        "KF843",
        "No data fetched for a dimension",
        "kpi",
        "A KPI computation asked for values under a dimension filter that the session did not fetch. This "
        "is a bug in kpiframe: please report it with the command you ran.",
    ),
    ErrorCode(
        "KF844",
        "Unknown scenario",
        "kpi",
        "--scenario names a scenario that no target uses, usually a typo. The hint lists the scenarios with targets.",
    ),
    ErrorCode(
        "KF850",
        "No formula to explain",
        "kpi",
        "`kpiframe explain` decomposes a metric through its tree formula, and this metric has none in the "
        "tree. Explain a metric with a formula (the hint lists them), or add one.",
    ),
    ErrorCode(
        "KF851",
        "No target to explain against",
        "kpi",
        "`kpiframe explain --vs target` found no target of the metric for the period. Add one under "
        "`targets:`, or compare with --vs previous or --vs year.",
    ),
    ErrorCode(
        "KF852",
        "No target to plan from",
        "kpi",
        "`kpiframe plan-targets` found no target of the metric for the period in the scenario. Pass --target VALUE.",
    ),
    ErrorCode(
        "KF853",
        "Plan file already exists",
        "kpi",
        "`kpiframe plan-targets --write` will not overwrite metrics/targets_<period>.yml. Review and remove "
        "it, or pass --force to replace it.",
    ),
    ErrorCode(
        "KF854",
        "Period has not started",
        "kpi",
        "`kpiframe explain` was asked about a period that begins after the last day of data. Explain an "
        "earlier period, or pass --as-of.",
    ),
    ErrorCode(
        "KF855",
        "Invalid --period",
        "kpi",
        "--period is not a period. Use 2026-10 (a month, 01-12), 2026-Q3 (a quarter, Q1-Q4) or 2026 (a year).",
    ),
    # --- KF9xx governance, funnels, diff, schema, internal -----------------------------------------------
    ErrorCode(
        "KF901",
        "Definition lacks an approval",
        "governance",
        "The current version of a governed definition is not approved by every owning team. Add {team, by, "
        "on} under the version's `approvals:`.",
    ),
    ErrorCode(
        "KF902",
        "Locked definition rule changed",
        "governance",
        "The rule of a definition version differs from the fingerprint in definitions.lock: a version's rule "
        "may not change once locked. Restore it and add a new version with a change note instead.",
    ),
    ErrorCode(
        "KF903",
        "Definition version without a change note",
        "governance",
        "Every version after the first needs a `change_note:`. Say what changed and why.",
    ),
    ErrorCode(
        "KF904",
        "Definition versions out of order",
        "governance",
        "A definition's version numbers must be unique and in increasing order. Renumber them.",
    ),
    ErrorCode(
        "KF905",
        "Current definition version not defined",
        "governance",
        "A definition's `current:` names a version it does not list. Point it at a listed version.",
    ),
    ErrorCode(
        "KF906",
        "definitions.lock cannot be read",
        "governance",
        "definitions.lock is unreadable or not valid JSON. Restore it from git; `kpiframe compile` writes it.",
    ),
    ErrorCode(
        "KF910",
        "Definition version cannot be built",
        "governance",
        "A definition version's rule cannot be turned into a query: an unknown dataset, an entity its dataset "
        "lacks, a condition that does not parse, or datasets without a `time:` column. The message names the "
        "problem; fix the rule or the datasets.",
    ),
    ErrorCode(
        "KF920",
        "Funnel cannot be built",
        "funnel",
        "A funnel's definition does not hold: a stage names an unknown definition or version, a dataset lacks "
        "a `time:` column, or dimensions are not dimensions of the entity. Fix the funnel as the message "
        "says.",
    ),
    ErrorCode(
        "KF921",
        "Unknown funnel",
        "funnel",
        "`kpiframe funnel` names no funnel of the project. Fix the name; the hint suggests the closest.",
    ),
    ErrorCode(
        "KF922",
        "Funnel query refused",
        "funnel",
        "`kpiframe funnel` was asked for an order or dimensions the funnel does not have. Use the ones the hint lists.",
    ),
    ErrorCode(
        "KF951",
        "No usable git repository",
        "diff",
        "`kpiframe diff` reads the other version of the project from git, and git is not installed, took too "
        "long, or the project is not inside a git repository. Run it in a clone (git init and a first "
        "commit for a new project).",
    ),
    ErrorCode(
        "KF952",
        "Unknown git ref",
        "diff",
        "--base names no branch, tag or commit. Name one that exists; in CI fetch the base branch with its "
        "history (actions/checkout with fetch-depth: 0).",
    ),
    ErrorCode(
        "KF953",
        "No base to compare with",
        "diff",
        "Without --base, diff compares with the merge base of main or origin/main, and there is no such "
        "branch or no common history. Pass --base REF.",
    ),
    ErrorCode(
        "KF954",
        "No project at the ref",
        "diff",
        "The project folder or its kpi_project.yml did not exist at the ref compared with. Compare with a later ref.",
    ),
    ErrorCode(
        "KF955",
        "The project at the ref does not load",
        "diff",
        "The other version of the project has errors, listed below this one and prefixed with the ref. Fix "
        "them on that ref, or compare with another one (--base REF).",
    ),
    ErrorCode(
        "KF960",
        "JSON Schemas out of date",
        "schema",
        "`kpiframe schema --check` found the *.schema.json files missing or different from what this "
        "kpiframe writes. Run `kpiframe schema` and commit the result.",
    ),
    ErrorCode(
        "KF970",
        "HTTP API reachable beyond loopback without a token",
        "serve",
        "`kpiframe serve --host` names an address other machines can reach (0.0.0.0, a LAN address, a host "
        "name) and KPIFRAME_SERVE_TOKEN is not set, so anyone on the network could read every metric. Set "
        "KPIFRAME_SERVE_TOKEN to a long random secret, or listen on 127.0.0.1 only.",
    ),
    ErrorCode(
        "KF971",
        "Malformed HTTP request",
        "serve",
        "An HTTP API request (status 422, or 413 when the body is over 1 MB) has a body that is not a JSON "
        "object of the documented fields, a field or parameter of the wrong type, or a date that is not "
        "YYYY-MM-DD. The message names the field; the request shapes are in /openapi.json and docs/http-api.md.",
    ),
    ErrorCode(
        "KF972",
        "Missing or wrong API token",
        "serve",
        "The server was started with KPIFRAME_SERVE_TOKEN, and the request (status 401) has no "
        "`Authorization: Bearer <token>` header or another token. Send the header with the server's token.",
    ),
    ErrorCode(
        "KF973",
        "No such HTTP endpoint",
        "serve",
        "The path (status 404) or the method (status 405) is not part of the HTTP API. The endpoints are "
        "listed in /openapi.json and docs/http-api.md.",
    ),
    ErrorCode(
        "KF974",
        "Status period after the data",
        "serve",
        "GET /v1/status?period= names a period that starts after the last day with data, so there is no status "
        "of it yet. Ask for a period that has begun, or leave `period` out for the status as of the last day "
        "with data.",
    ),
    ErrorCode(
        "KF980",
        "No docs site to serve",
        "docs",
        "`kpiframe docs serve` found no index.html in the folder it serves. Run `kpiframe docs generate` "
        "first (it writes target/docs), or pass the folder you generated with --output.",
    ),
    ErrorCode(
        "KF981",
        "Docs output folder unusable",
        "docs",
        "`kpiframe docs generate --output` names a file, or a folder that cannot be written. Name a folder "
        "kpiframe may write (the default is target/docs).",
    ),
    ErrorCode(
        "KF982",
        "Docs port in use",
        "docs",
        "`kpiframe docs serve --port` could not listen on the address and port: another program holds it. "
        "Pick another port, or stop that program.",
    ),
    ErrorCode(
        "KF999",
        "Internal error",
        "cli",
        "kpiframe hit an unexpected exception: a bug, not a problem of your project. Rerun with --debug for "
        "the traceback and report it.",
    ),
)

REGISTRY: dict[str, ErrorCode] = {entry.code: entry for entry in CODES}


def lookup(code: str) -> ErrorCode:
    """The registered entry of `code`; KeyError for a code kpiframe never raises."""
    return REGISTRY[code]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown() -> str:
    """docs/errors.md: the scheme, then one table per hundred."""
    lines = [
        "# Error codes",
        "",
        "<!-- Generated from kpiframe/error_codes.py by `python -m kpiframe.error_codes --write`; do not edit. -->",
        "",
        "kpiframe reports problems like a compiler, with a stable code, a location and a hint:",
        "",
        "```text",
        "metrics/sales.yml:14:7: error[KF104]: unknown metric 'bookngs' (did you mean 'bookings'?)",
        "```",
        "",
        "The code keeps its meaning when a message is reworded. Codes are `KF` and three digits; the hundreds "
        "say which part of kpiframe found the problem:",
        "",
        "| Codes | Area | What they cover |",
        "|---|---|---|",
    ]
    for rng in RANGES:
        lines.append(f"| KF{rng.hundreds}xx | [{rng.name}](#{_anchor(rng)}) | {_cell(rng.summary)} |")
    for rng in RANGES:
        entries = sorted((e for e in CODES if e.hundreds == rng.hundreds), key=lambda e: e.code)
        lines += ["", f"## KF{rng.hundreds}xx {rng.name}", "", rng.summary, ""]
        lines += ["| Code | Problem | Stage | What it means and what to do |", "|---|---|---|---|"]
        lines += [f"| {e.code} | {_cell(e.title)} | {e.area} | {_cell(e.explanation)} |" for e in entries]
    return "\n".join(lines) + "\n"


def _anchor(rng: CodeRange) -> str:
    """GitHub's anchor of the range's heading: lower case, spaces to -, punctuation dropped."""
    heading = f"kf{rng.hundreds}xx {rng.name}".lower()
    return re.sub(r"[^a-z0-9 _-]", "", heading).replace(" ", "-")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kpiframe.error_codes", description="Print or write docs/errors.md."
    )
    parser.add_argument("--write", action="store_true", help=f"write {DOC_PATH.name} into docs/ instead of printing")
    args = parser.parse_args(argv)
    text = render_markdown()
    if args.write:
        DOC_PATH.write_text(text, encoding="utf-8")
        print(f"wrote {DOC_PATH}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
