"""Data-quality expectations: declared in YAML, run by Great Expectations 1.x as SQL in the warehouse.

Importing this package never imports great_expectations (it takes seconds and the CLI's --help must
stay fast): parsing and reports are ours, and GX is loaded inside `run_expectations` only.

    expectations, problems = parse_expectations(items, "model stg_leads", locate)
    results = run_expectations(con, "warehouse.duckdb", "analytics", "stg_leads", expectations)
    print(render_results(results))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kpiframe.quality.model import Expectation, ExpectationResult
from kpiframe.quality.reports import junit_xml, render_results, results_json
from kpiframe.quality.specs import parse_expectations

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "Expectation",
    "ExpectationResult",
    "junit_xml",
    "parse_expectations",
    "render_results",
    "results_json",
    "run_expectations",
]


def run_expectations(
    con: duckdb.DuckDBPyConnection | None,
    database_path: str,
    schema: str,
    table: str,
    expectations: list[Expectation],
    dialect: str = "duckdb",
    time_zone: str = "UTC",
) -> list[ExpectationResult]:
    """Run all expectations of one table as ONE GX validation (one batch, one suite).

    On DuckDB, `con` is the caller's open connection to the warehouse file (the checks read through
    cursors of it). On PostgreSQL (`dialect="postgres"`), `database_path` is the DSN and `con` is unused.
    `time_zone` is the session's (calendar: time_zone:) on a connection GX opens itself.
    `schema.table` is the physical table to check, e.g. a staging `analytics.stg_leads__kf_new`.
    Results come back in the order of `expectations`; a check that crashes is a failed result whose
    `error` says why, never an exception.
    """
    from kpiframe.quality.gx_runner import run_expectations as run

    return run(con, database_path, schema, table, expectations, dialect, time_zone)
