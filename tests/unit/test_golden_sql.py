"""Golden SQL of the example project's published tables, per dialect.

A reviewer sees in a pull request exactly how generated SQL changed. After an intended change,
regenerate with: KPIFRAME_UPDATE_GOLDEN=1 pytest tests/unit/test_golden_sql.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlglot

from kpiframe.build.plan import table_query
from kpiframe.load.specs import TableSpec
from kpiframe.project import Project

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
REPO_ROOT = Path(__file__).resolve().parents[2]
DIALECTS = ("duckdb", "postgres", "snowflake", "bigquery")
TABLES = ("marketing_monthly", "sales_weekly", "marketing_overview_monthly")


@pytest.fixture(scope="module")
def example() -> Project:
    return Project.load(REPO_ROOT)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("table", TABLES)
def test_published_table_sql_matches_golden(example: Project, dialect: str, table: str) -> None:
    spec = example.graph.tables[table].spec
    assert isinstance(spec, TableSpec)
    sql = table_query(example.layer, spec).sql(dialect=dialect, pretty=True) + "\n"
    assert sqlglot.parse_one(sql, read=dialect) is not None  # each dialect's SQL parses back
    path = GOLDEN / dialect / f"{table}.sql"
    if os.environ.get("KPIFRAME_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sql, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == sql, f"generated SQL changed: see {path}"
