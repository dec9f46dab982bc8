"""docs/python-api.md is true: every ```python block runs, in order, in a built copy of the example (the page's
"." and "warehouse.duckdb"), and the numbers its queries print match SQL written by hand. Plus the result
conversions of QueryResult (pandas, Arrow) and their error when the library is missing."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from kpiframe.engine import QueryResult
from kpiframe.errors import KpiframeError
from tests.conftest import REPO_ROOT

PAGE = REPO_ROOT / "docs" / "python-api.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def python_blocks() -> list[str]:
    return BLOCK.findall(PAGE.read_text(encoding="utf-8"))


def hand(root: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def page_run(built_example: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    """Run the page's blocks in one namespace, in a copy of the built example; return the copy, the
    namespace and what the blocks printed."""
    root = tmp_path_factory.mktemp("python_api") / "example"
    shutil.copytree(built_example, root, symlinks=True)  # the serving snapshot's link stays inside the copy
    namespace: dict[str, Any] = {"__name__": "python_api_page"}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.delenv("KPIFRAME_WAREHOUSE", raising=False)
        printed: list[str] = []
        patch.setitem(namespace, "print", lambda *args, **_: printed.append(" ".join(map(str, args))))
        for index, block in enumerate(python_blocks(), start=1):
            try:
                exec(compile(block, f"{PAGE.name}, python block {index}", "exec"), namespace)
            except Exception as exc:
                pytest.fail(f"python block {index} of docs/python-api.md failed: {exc!r}\n{block}")
    return root, namespace, "\n".join(printed)


def test_the_page_has_the_examples_it_promises() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 9
    text = "\n".join(blocks)
    for call in (
        "Project.load(",
        ".query(",
        ".as_dicts()",
        ".to_pandas()",
        ".to_arrow()",
        ".explain(",
        ".build(",
        ".test()",
        ".funnel(",
        ".catalog()",
        ".metric_tests(",
    ):
        assert call in text, call


def test_every_block_runs_and_the_quarterly_numbers_match_hand_written_sql(
    page_run: tuple[Path, dict[str, Any], str],
) -> None:
    root, ns, _ = page_run
    leads = hand(
        root,
        """select date_trunc('quarter', created_at)::date, count(*) from analytics.stg_leads
           where created_at >= date '2025-01-01' and created_at < date '2026-01-01' group by 1 order by 1""",
    )
    mqls = dict(
        hand(
            root,
            """select date_trunc('quarter', qualified_at)::date, count(lead_id) from analytics.mql_v1
               where qualified_at >= date '2025-01-01' and qualified_at < date '2026-01-01' group by 1""",
        )
    )
    assert len(leads) == 4 and all(count > 0 for _, count in leads)
    expected = [(quarter, count, mqls.get(quarter, 0), mqls.get(quarter, 0) / count) for quarter, count in leads]
    rows = ns["result"].rows
    assert [r[:3] for r in rows] == [e[:3] for e in expected]
    assert [r[3] for r in rows] == pytest.approx([e[3] for e in expected])
    assert ns["first_leads"] == leads[0][1]
    frame = ns["frame"]
    assert list(frame.columns) == ["period_start", "leads", "mqls", "lead_to_mql_rate"]
    assert frame["leads"].tolist() == [count for _, count in leads]


def test_the_filtered_comparison_matches_hand_written_sql(page_run: tuple[Path, dict[str, Any], str]) -> None:
    root, ns, _ = page_run
    counts = {
        (month, channel): count
        for month, channel, count in hand(
            root,
            """select date_trunc('month', created_at)::date, channel, count(*) from analytics.stg_leads
               where country = 'US' and created_at >= date '2024-12-01' and created_at < date '2025-04-01'
               group by 1, 2""",
        )
    }
    result = ns["by_channel"]
    rows = result.as_dicts()
    months = {dt.date(2025, 1, 1), dt.date(2025, 2, 1), dt.date(2025, 3, 1)}
    assert {r["period_start"] for r in rows} == months
    assert {(r["period_start"], r["channel"]): r["leads"] for r in rows if r["leads"]} == {
        key: count for key, count in counts.items() if key[0] in months
    }
    for row in rows:  # the month before, 0 when it had no rows, read even before `start`
        month = row["period_start"]
        before = (month - dt.timedelta(days=1)).replace(day=1)
        assert row["leads__previous"] == counts.get((before, row["channel"]), 0)


def test_the_other_blocks_did_what_the_page_says(page_run: tuple[Path, dict[str, Any], str]) -> None:
    root, ns, printed = page_run
    assert "error[KF010]" in printed and "error[KF104]: unknown metric 'leeds' (did you mean 'leads'?)" in printed
    assert 'FROM "analytics"."stg_leads"' in ns["sql"] and "DATE_TRUNC" in ns["postgres_sql"]
    assert ns["cohorts"].columns[:3] == ["cohort_start", "channel", "stage"]
    assert ns["metrics"]["lead_to_mql_rate"] == "MQLs of the period over leads of the same period."
    assert ns["units"]["lead_to_mql_rate"] == "percent"
    [(run_id, status)] = hand(root, "select run_id, status from kpiframe.runs order by started_at desc limit 1")
    assert (run_id, status) == (ns["outcome"].run_id, "success")
    [(rows,)] = hand(root, "select count(*) from metrics.marketing_monthly")
    assert ns["outcome"].rows["metrics.marketing_monthly"] == rows
    assert ns["table"].num_rows == len(ns["result"].rows)  # pyarrow is in the dev extra: the Arrow branch ran


# --- QueryResult conversions, without a warehouse --------------------------------------------------------
RESULT = QueryResult(
    ["period_start", "lead__channel", "pipeline", "leads", "rate"],
    [
        (dt.date(2025, 1, 1), "email", Decimal("1200.50"), 3, 0.5),
        (dt.date(2025, 2, 1), None, None, 0, None),
    ],
)


def test_to_pandas_keeps_columns_and_turns_decimals_into_floats() -> None:
    frame = RESULT.to_pandas()
    assert list(frame.columns) == RESULT.columns
    assert str(frame["pipeline"].dtype) == "float64" and frame["pipeline"].iloc[0] == 1200.5
    assert frame["pipeline"].isna().iloc[1] and frame["rate"].isna().iloc[1]
    assert frame["leads"].tolist() == [3, 0]
    assert frame["period_start"].tolist() == [dt.date(2025, 1, 1), dt.date(2025, 2, 1)]
    assert RESULT.rows[0][2] == Decimal("1200.50")  # the result itself is unchanged
    assert QueryResult(["a"], []).to_pandas().shape == (0, 1)


@pytest.mark.parametrize(("method", "module"), [("to_arrow", "pyarrow"), ("to_pandas", "pandas")])
def test_a_missing_library_is_kf431_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch, method: str, module: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # what an uninstalled module looks like to import
    with pytest.raises(KpiframeError) as caught:
        getattr(RESULT, method)()
    assert caught.value.diagnostic.code == "KF431"
    assert caught.value.diagnostic.hint == f"pip install {module}"
    assert module in str(caught.value)


def test_to_arrow_types_each_column() -> None:
    import pyarrow as pa  # an optional extra of kpiframe (kpiframe[arrow]), always in the dev extra

    table = RESULT.to_arrow()
    assert table.column_names == RESULT.columns
    assert table.schema.field("period_start").type == pa.date32()
    assert pa.types.is_decimal(table.schema.field("pipeline").type)
    assert table.to_pylist()[0]["pipeline"] == Decimal("1200.50")
    assert table.column("lead__channel").to_pylist() == ["email", None]
