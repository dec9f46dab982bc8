"""Acceptance checks: kpiframe's answers against SQL written by hand from the spec.

Every case in tests/acceptance/cases/*.yml holds a metric request and a
``check_query`` written straight from the raw tables (never from the
project's models or the engine). The engine must return the same rows.

Three warehouses are used:
- demo + edge: the demo generator's data plus tests/fixtures/edge_rows.py;
- edge rows alone, built by the engine;
- edge rows alone in memory, without the engine: the check queries are run
  against hand-computed tables (EDGE_EXPECTED), which validates the check
  queries themselves and shows they read nothing but raw.*.

Nothing here reads files outside the repository.
"""

from __future__ import annotations

import datetime as dt
import decimal
import importlib.util
import math
import numbers
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import pytest
from ruamel.yaml import YAML

PROJECT_DIR = Path(__file__).resolve().parents[2]
CASES_DIR = Path(__file__).resolve().parent / "cases"
EDGE_ROWS_PATH = PROJECT_DIR / "tests" / "fixtures" / "edge_rows.py"

DEMO_SEED = 7
DEMO_SCALE = 0.2  # ~2,000 leads: enough won deals per month to exercise the deal metrics
REL_TOL = 1e-9
ABS_TOL = 1e-12


# ----------------------------------------------------------------------------- loading


def _load_edge_rows() -> ModuleType:
    # Loaded by path so the module works whatever the tests/ package layout is.
    spec = importlib.util.spec_from_file_location("kpiframe_acceptance_edge_rows", EDGE_ROWS_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


edge_rows = _load_edge_rows()


@dataclass(frozen=True)
class Case:
    name: str
    file: str
    metrics: tuple[str, ...]
    dimensions: tuple[str, ...]
    grain: str
    start: str | None
    end: str | None
    where: str | None
    check_query: str

    @property
    def columns(self) -> list[str]:
        return ["period_start", *self.dimensions, *self.metrics]

    @property
    def key_len(self) -> int:
        return 1 + len(self.dimensions)


def _as_iso_date(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def load_cases() -> list[Case]:
    yaml = YAML(typ="safe")
    cases: list[Case] = []
    for path in sorted(CASES_DIR.glob("*.yml")):
        document = yaml.load(path.read_text())
        for raw in document["cases"]:
            request = raw["request"]
            cases.append(
                Case(
                    name=raw["name"],
                    file=path.name,
                    metrics=tuple(request["metrics"]),
                    dimensions=tuple(request.get("dimensions") or ()),
                    grain=request["grain"],
                    start=_as_iso_date(request.get("start")),
                    end=_as_iso_date(request.get("end")),
                    where=request.get("where"),
                    check_query=raw["check_query"],
                )
            )
    names = [c.name for c in cases]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert not duplicates, f"duplicate case names: {duplicates}"
    return cases


CASES = load_cases()
CASES_BY_NAME = {c.name: c for c in CASES}


def case_params(cases: list[Case]) -> list[Any]:
    return [pytest.param(c, id=c.name) for c in cases]


# ----------------------------------------------------------------------------- comparing


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number | decimal.Decimal) and not isinstance(value, bool)


def _sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    key: list[tuple[int, str, Any]] = []
    for value in row:
        if value is None:
            key.append((1, "", 0))  # NULLs last
        elif _is_number(value):
            key.append((0, "number", float(f"{float(value):.9g}")))
        else:
            key.append((0, type(value).__name__, value))
    return tuple(key)


def _same_value(actual: Any, expected: Any) -> bool:
    if actual is None or expected is None:
        return actual is None and expected is None
    if _is_number(actual) and _is_number(expected):
        return math.isclose(float(actual), float(expected), rel_tol=REL_TOL, abs_tol=ABS_TOL)
    if isinstance(actual, dt.date) or isinstance(expected, dt.date):
        # period_start must be a DATE: a datetime at midnight is not equal to it.
        return type(actual) is type(expected) and actual == expected
    return bool(actual == expected)


def assert_same_answer(
    actual_columns: list[str],
    actual_rows: list[tuple[Any, ...]],
    expected_columns: list[str],
    expected_rows: list[tuple[Any, ...]],
    key_len: int | None = None,
) -> None:
    """Same columns, same rows in any order; numbers within REL_TOL, dates exactly.

    key_len: how many leading columns identify a row (period_start and the
    dimensions), used to say which rows are missing or extra.
    """
    assert list(actual_columns) == list(expected_columns), (
        f"columns {list(actual_columns)} != expected {list(expected_columns)}"
    )
    key_len = key_len or len(expected_columns)
    actual = sorted((tuple(r) for r in actual_rows), key=_sort_key)
    expected = sorted((tuple(r) for r in expected_rows), key=_sort_key)
    problems: list[str] = []
    if len(actual) != len(expected):
        problems.append(f"{len(actual)} rows returned, {len(expected)} expected")
        actual_keys = {_sort_key(r[:key_len]) for r in actual}
        expected_keys = {_sort_key(r[:key_len]) for r in expected}
        problems += [f"missing: {r!r}" for r in expected if _sort_key(r[:key_len]) not in actual_keys][:10]
        problems += [f"extra:   {r!r}" for r in actual if _sort_key(r[:key_len]) not in expected_keys][:10]
    else:
        for a, e in zip(actual, expected, strict=True):
            if len(a) != len(e) or not all(_same_value(x, y) for x, y in zip(a, e, strict=True)):
                problems.append(f"got {a!r}, expected {e!r}")
    assert not problems, "\n".join(problems[:25])


def rows_with_data(
    rows: list[tuple[Any, ...]], expected_rows: list[tuple[Any, ...]], key_len: int
) -> list[tuple[Any, ...]]:
    """The engine's rows without the time spine's empty ones that the check query does not list.

    The engine answers every period of the range for every dimension combination (metrics 0 or NULL
    where there are no rows); the check queries list the periods with data. A row they do not list
    must be empty: each metric 0 or NULL. tests/unit/test_time_spine.py checks the spine itself.
    """
    listed = {_sort_key(r[:key_len]) for r in expected_rows}

    def empty(row: tuple[Any, ...]) -> bool:
        return all(v is None or (_is_number(v) and float(v) == 0) for v in row[key_len:])

    return [r for r in rows if _sort_key(r[:key_len]) in listed or not empty(r)]


def run_check_query(con: Any, case: Case) -> tuple[list[str], list[tuple[Any, ...]]]:
    relation = con.execute(case.check_query)
    columns = [d[0] for d in relation.description]
    return columns, relation.fetchall()


def check_answers(con: Any) -> dict[str, Any]:
    """Run every check query; keep a failure with its case instead of failing them all."""
    answers: dict[str, Any] = {}
    for case in CASES:
        try:
            answers[case.name] = run_check_query(con, case)
        except Exception as error:  # noqa: BLE001 - reported by the case's own test
            answers[case.name] = error
    return answers


def expected_answer(answers: dict[str, Any], case: Case) -> tuple[list[str], list[tuple[Any, ...]]]:
    answer = answers[case.name]
    if isinstance(answer, Exception):
        raise AssertionError(f"check query of {case.name} ({case.file}) failed: {answer}") from answer
    return answer


def query_engine(project: Any, case: Case) -> Any:
    return project.query(
        metrics=list(case.metrics),
        dimensions=list(case.dimensions),
        grain=case.grain,
        start=case.start,
        end=case.end,
        where=case.where,
    )


def assert_engine_matches_check_query(project: Any, answers: dict[str, Any], case: Case) -> None:
    """The engine's answer to the case's request is the check query's (`answers`, from check_answers)."""
    expected_columns, expected_rows = expected_answer(answers, case)
    result = query_engine(project, case)
    rows = rows_with_data(result.rows, expected_rows, case.key_len)
    assert_same_answer(result.columns, rows, expected_columns, expected_rows, case.key_len)


# ----------------------------------------------------------------------------- fixtures


def require_module(name: str) -> None:
    # A missing module is a failure, never a skip: renaming one must not silently drop these tests.
    if importlib.util.find_spec(name) is None:
        pytest.fail(f"{name} does not exist: the acceptance tests need it")


@dataclass
class Warehouse:
    project: Any
    answers: dict[str, Any]


def _build_project(db_path: Path) -> Any:
    from kpiframe.project import Project

    project = Project.load(PROJECT_DIR, warehouse=str(db_path))
    project.build()
    return project


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """Demo data plus edge rows, built by the example project."""
    require_module("kpiframe.demo")
    require_module("kpiframe.project")
    from kpiframe.demo import generate_demo

    db_path = tmp_path_factory.mktemp("acceptance_demo") / "warehouse.duckdb"
    con = duckdb.connect(str(db_path))
    try:
        generate_demo(con, seed=DEMO_SEED, scale=DEMO_SCALE)
        edge_rows.insert_edge_rows(con)
        # The check queries run before the build: they can only read raw.*.
        answers = check_answers(con)
    finally:
        con.close()
    return Warehouse(project=_build_project(db_path), answers=answers)


@pytest.fixture(scope="session")
def edge_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """Edge rows alone, built by the example project."""
    require_module("kpiframe.project")
    db_path = tmp_path_factory.mktemp("acceptance_edge") / "warehouse.duckdb"
    con = duckdb.connect(str(db_path))
    try:
        edge_rows.create_raw_tables(con)
        edge_rows.insert_edge_rows(con)
        answers = check_answers(con)
    finally:
        con.close()
    return Warehouse(project=_build_project(db_path), answers=answers)


@pytest.fixture(scope="session")
def edge_connection() -> Any:
    """Edge rows alone in memory: no engine, no models, only raw.*."""
    con = duckdb.connect(":memory:")
    edge_rows.create_raw_tables(con)
    edge_rows.insert_edge_rows(con)
    yield con
    con.close()


# ----------------------------------------------------------------------------- hand-computed values
# The full answer of some cases on the edge rows ALONE, computed by hand from
# tests/fixtures/edge_rows.py (whose comments walk through each lead).

D = dt.date

EDGE_EXPECTED: dict[str, list[tuple[Any, ...]]] = {
    # Valid leads per month: April edge_l3/edge_l4; May 7; June 8. The invalid
    # leads (edge_l15..edge_l20, including edge_l20 alone in August) count nowhere.
    "leads_month": [(D(2024, 4, 1), 2), (D(2024, 5, 1), 7), (D(2024, 6, 1), 8)],
    # Country of the kept duplicate row: edge_l13 keeps 'B@hooli.com' (US, not CA),
    # edge_l14 keeps 'zed@hooli.com' (CA, not the NULL-email row's US);
    # edge_l21 has no country (NULL group).
    "leads_by_lead__country_month": [
        (D(2024, 4, 1), "JP", 1),
        (D(2024, 4, 1), "US", 1),
        (D(2024, 5, 1), "FR", 1),
        (D(2024, 5, 1), "GB", 2),
        (D(2024, 5, 1), "US", 3),
        (D(2024, 5, 1), None, 1),
        (D(2024, 6, 1), "CA", 1),
        (D(2024, 6, 1), "DE", 2),
        (D(2024, 6, 1), "JP", 1),
        (D(2024, 6, 1), "US", 4),
    ],
    # MQLs at their qualified_at:
    #   edge_l23 2024-05-13 10:00 demo_request exactly at created_at (counted)
    #   edge_l1  2024-06-03 10:00 with 40 points (one demo_request)
    #   edge_l2  2024-06-10 09:00 with exactly 40 points: 15 + 10, then the tie at 09:00
    #            (edge_a02_3a +5 = 30, edge_a02_3b +10 = 40); the demo_request at
    #            2024-06-05 07:59, before created_at, does not count
    #   edge_l14 2024-06-18 15:00 (its kept row is 'zed@hooli.com', event)
    #   edge_l3  2024-07-09 11:59:59: 30 points in April, +10 one second before
    #            created_at + 90 days (2024-07-09 12:00:00)
    # Not MQLs: edge_l4 (its demo_request at exactly created_at + 90 days is out),
    # edge_l21 (30 points), every not-fit lead (employees NULL / 49, competitor NULL /
    # true, gmail/yahoo/hotmail/outlook domains incl. 'dave@GMAIL.com  ' and
    # 'odd@person@yahoo.com'), edge_l12 / edge_l13 (their kept rows are not fit).
    "mqls_by_lead__channel_day": [
        (D(2024, 5, 13), "direct", 1),
        (D(2024, 6, 3), "paid_search", 1),
        (D(2024, 6, 10), "paid_social", 1),
        (D(2024, 6, 18), "event", 1),
        (D(2024, 7, 9), "organic_search", 1),
    ],
    # start 2024-06-03 / end 2024-07-08 keep the weeks starting on those Mondays
    # (inclusive); the May MQL is outside.
    "mqls_by_lead__channel_week_start_end_2024": [
        (D(2024, 6, 3), "paid_search", 1),
        (D(2024, 6, 10), "paid_social", 1),
        (D(2024, 6, 17), "event", 1),
        (D(2024, 7, 8), "organic_search", 1),
    ],
    # leads, mqls, lead_to_mql_rate: July has an MQL (edge_l3) but no leads -> NULL rate.
    "leads_mqls_rate_by_lead__channel_month": [
        (D(2024, 4, 1), "organic_search", 1, 0, 0.0),
        (D(2024, 4, 1), "paid_search", 1, 0, 0.0),
        (D(2024, 5, 1), "direct", 2, 1, 0.5),
        (D(2024, 5, 1), "organic_search", 1, 0, 0.0),
        (D(2024, 5, 1), "outbound", 1, 0, 0.0),
        (D(2024, 5, 1), "paid_search", 1, 0, 0.0),
        (D(2024, 5, 1), "paid_social", 1, 0, 0.0),
        (D(2024, 5, 1), "referral", 1, 0, 0.0),
        (D(2024, 6, 1), "email", 1, 0, 0.0),
        (D(2024, 6, 1), "event", 1, 1, 1.0),
        (D(2024, 6, 1), "paid_search", 3, 1, 1 / 3),
        (D(2024, 6, 1), "paid_social", 2, 1, 0.5),
        (D(2024, 6, 1), "referral", 1, 0, 0.0),
        (D(2024, 7, 1), "organic_search", 0, 1, None),
    ],
    # where lead__channel = 'paid_search', by country, quarter:
    # Q2 leads edge_l4 (US, April), edge_l5 (US), edge_l1 (US), edge_l8 (DE), edge_l12 (US);
    # MQL edge_l1 (US).
    "leads_mqls_rate_by_lead__country_quarter_where_paid_search": [
        (D(2024, 4, 1), "DE", 1, 0, 0.0),
        (D(2024, 4, 1), "US", 4, 1, 0.25),
    ],
    # First sales_qualified change of valid leads; edge_l1's second change (July) is
    # not counted; invalid edge_l15/edge_l18 and unknown leads are ignored.
    "sqls_by_lead__channel_month": [
        (D(2024, 5, 1), "outbound", 1),
        (D(2024, 6, 1), "event", 1),
        (D(2024, 6, 1), "paid_search", 1),
        (D(2024, 7, 1), "organic_search", 1),
        (D(2024, 7, 1), "paid_social", 1),
    ],
    # edge_l14's change at Sunday 2024-06-30 23:30 is in the week of 2024-06-24;
    # edge_l3's at Monday 2024-07-01 00:00 starts a week.
    "sqls_week": [
        (D(2024, 5, 20), 1),
        (D(2024, 6, 24), 2),
        (D(2024, 7, 1), 2),
    ],
    # NULL group: no lead (edge_o2), invalid lead (edge_o3, edge_o10), unknown lead (edge_o5).
    "opportunities_by_lead__channel_month": [
        (D(2024, 6, 1), "paid_search", 2),
        (D(2024, 6, 1), "referral", 1),
        (D(2024, 6, 1), None, 2),
        (D(2024, 7, 1), "event", 1),
        (D(2024, 7, 1), "paid_search", 1),
        (D(2024, 7, 1), "paid_social", 1),
        (D(2024, 7, 1), None, 2),
    ],
    "opportunities_month_where_paid_search": [(D(2024, 6, 1), 2), (D(2024, 7, 1), 1)],
    # Only opportunities of valid leads; the open edge_o4 counts at created_at.
    "pipeline_by_lead__channel_month": [
        (D(2024, 6, 1), "paid_search", 14000.00),
        (D(2024, 6, 1), "referral", 6000.00),
        (D(2024, 7, 1), "event", 12000.50),
        (D(2024, 7, 1), "paid_search", 2500.25),
        (D(2024, 7, 1), "paid_social", 20000.00),
    ],
    "pipeline_month": [(D(2024, 6, 1), 20000.00), (D(2024, 7, 1), 34500.75)],
    # won_deals, bookings, win_rate, avg_deal_size by closed_at month:
    # September has two closed-lost deals: win rate 0, no average deal size.
    "won_deals_bookings_win_rate_by_lead__channel_month": [
        (D(2024, 7, 1), "event", 1, 12000.50, 1.0, 12000.50),
        (D(2024, 7, 1), "paid_search", 1, 10000.00, 1.0, 10000.00),
        (D(2024, 7, 1), None, 1, 5000.00, 0.5, 5000.00),
        (D(2024, 9, 1), "paid_search", 0, 0, 0.0, None),
        (D(2024, 9, 1), "referral", 0, 0, 0.0, None),
        (D(2024, 10, 1), "paid_search", 1, 2500.25, 1.0, 2500.25),
        (D(2024, 10, 1), None, 1, 999.99, 1.0, 999.99),
    ],
    "win_rate_month": [(D(2024, 7, 1), 0.75), (D(2024, 9, 1), 0.0), (D(2024, 10, 1), 1.0)],
    "bookings_month": [(D(2024, 7, 1), 27000.50), (D(2024, 10, 1), 3500.24)],
    "avg_deal_size_month": [(D(2024, 7, 1), 27000.50 / 3), (D(2024, 10, 1), 1750.12)],
    # Ad spend: June 170.49; July 2.50; August 25.00. Leads: April 2, May 7, June 8.
    "cost_per_lead_month": [
        (D(2024, 4, 1), 0.0),  # leads, no ad spend rows: spend over no rows is 0
        (D(2024, 5, 1), 0.0),
        (D(2024, 6, 1), 170.49 / 8),
        (D(2024, 7, 1), None),  # spend, no valid leads
        (D(2024, 8, 1), None),  # spend; edge_l20 ('   ' email) is not a lead
    ],
    # MQLs: May 1, June 3, July 1; no April row (neither spend nor MQLs).
    "cost_per_mql_month": [
        (D(2024, 5, 1), 0.0),
        (D(2024, 6, 1), 170.49 / 3),
        (D(2024, 7, 1), 2.5),
        (D(2024, 8, 1), None),
    ],
    # Paid bookings: July edge_o1 10000.00 (paid_search); October edge_o9 2500.25 with no
    # ad spend -> NULL. edge_o2 (no lead), edge_o8 (event), edge_o10 (invalid) are not paid.
    "paid_roas_month": [
        (D(2024, 6, 1), 0.0),
        (D(2024, 7, 1), 4000.0),
        (D(2024, 8, 1), 0.0),
        (D(2024, 10, 1), None),
    ],
    "ctr_by_ad__channel_month": [
        (D(2024, 6, 1), "google_ads", 50 / 1500),
        (D(2024, 6, 1), "line_ads", 0.01),
        (D(2024, 6, 1), "linkedin_ads", None),  # 0 impressions
        (D(2024, 6, 1), "meta_ads", 0.01),
        (D(2024, 7, 1), "meta_ads", 0.01),
        (D(2024, 8, 1), "google_ads", 0.02),
    ],
    "cpc_by_ad__channel_month": [
        (D(2024, 6, 1), "google_ads", 2.2),
        (D(2024, 6, 1), "line_ads", 3.33),
        (D(2024, 6, 1), "linkedin_ads", None),  # 0 clicks
        (D(2024, 6, 1), "meta_ads", 2.525),
        (D(2024, 7, 1), "meta_ads", 2.5),
        (D(2024, 8, 1), "google_ads", 2.5),
    ],
    "ad_spend_month": [(D(2024, 6, 1), 170.49), (D(2024, 7, 1), 2.50), (D(2024, 8, 1), 25.00)],
    # Duplicated session rows count once; Sunday 2024-06-30 23:59:59 is in the week of
    # 2024-06-24, Monday 2024-07-01 00:00:00 starts the next.
    "sessions_week": [
        (D(2024, 6, 3), 3),
        (D(2024, 6, 24), 1),
        (D(2024, 7, 1), 1),
        (D(2024, 7, 15), 1),
    ],
    "session_cvr_by_session__channel_month": [
        (D(2024, 6, 1), "direct", 1.0),
        (D(2024, 6, 1), "organic_search", 0.0),
        (D(2024, 6, 1), "paid_search", 0.5),
        (D(2024, 7, 1), "direct", 0.0),
        (D(2024, 7, 1), "email", 1.0),
    ],
    # open rate, click rate, CTOR. Bounced sends (even opened) and sends of invalid or
    # unknown leads never count. edge_cmp_e2: a click without an open -> CTOR NULL.
    "email_open_click_ctor_by_email_send__campaign_id_month": [
        (D(2024, 6, 1), "edge_cmp_e1", 2 / 3, 1 / 3, 0.5),
        (D(2024, 6, 1), "edge_cmp_e2", 0.0, 1.0, None),
        (D(2024, 7, 1), "edge_cmp_e1", 1.0, 0.0, 0.0),
    ],
    "email_ctor_month": [(D(2024, 6, 1), 1.0), (D(2024, 7, 1), 0.0)],
    # April: 2 attends, 0 registers -> NULL; May: 0 / 2 -> 0 (attends of invalid and
    # unknown leads ignored); June: 2 / 3.
    "webinar_attendance_rate_month": [
        (D(2024, 4, 1), None),
        (D(2024, 5, 1), 0.0),
        (D(2024, 6, 1), 2 / 3),
    ],
    # Q2: attends 2 (April) + 2 (June) = 4, registers 2 (May) + 3 (June) = 5.
    "webinar_attendance_rate_quarter": [(D(2024, 4, 1), 4 / 5)],
}


# The example metrics of the spec and the dimension(s) each must support.
REQUIRED_DIMENSIONS: dict[str, tuple[str, ...]] = {
    "ad_spend": ("ad__channel",),
    "impressions": ("ad__channel",),
    "clicks": ("ad__channel",),
    "ctr": ("ad__channel",),
    "cpc": ("ad__channel",),
    "sessions": ("session__channel",),
    "session_cvr": ("session__channel",),
    "leads": ("lead__channel", "lead__country"),
    "mqls": ("lead__channel", "lead__country"),
    "lead_to_mql_rate": ("lead__channel",),
    "sqls": ("lead__channel",),
    "opportunities": ("lead__channel",),
    "pipeline": ("lead__channel",),
    "won_deals": ("lead__channel",),
    "bookings": ("lead__channel",),
    "win_rate": ("lead__channel",),
    "avg_deal_size": ("lead__channel",),
    "cost_per_lead": (),
    "cost_per_mql": (),
    "email_open_rate": ("email_send__campaign_id",),
    "email_click_rate": ("email_send__campaign_id",),
    "email_ctor": ("email_send__campaign_id",),
    "webinar_attendance_rate": (),
    "paid_roas": (),
}


def test_cases_cover_every_example_metric() -> None:
    assert {p.stem for p in CASES_DIR.glob("*.yml")} == set(REQUIRED_DIMENSIONS)
    for metric, dimensions in REQUIRED_DIMENSIONS.items():
        cases = [c for c in CASES if metric in c.metrics]
        assert any(c.grain == "month" for c in cases), f"no month-grain case for {metric}"
        for dimension in dimensions:
            assert any(dimension in c.dimensions for c in cases), f"{metric} never grouped by {dimension}"
    assert {c.grain for c in CASES} == {"day", "week", "month", "quarter", "year"}
    assert set(EDGE_EXPECTED) <= set(CASES_BY_NAME)


# ----------------------------------------------------------------------------- check queries alone


@pytest.mark.parametrize("case", case_params(CASES))
def test_check_query_runs_on_raw_tables_alone(edge_connection: Any, case: Case) -> None:
    columns, _ = run_check_query(edge_connection, case)
    assert columns == case.columns


@pytest.mark.parametrize("case", case_params([CASES_BY_NAME[n] for n in EDGE_EXPECTED]))
def test_check_query_matches_hand_computed_edge_values(edge_connection: Any, case: Case) -> None:
    columns, rows = run_check_query(edge_connection, case)
    assert_same_answer(columns, rows, case.columns, EDGE_EXPECTED[case.name], case.key_len)


# ----------------------------------------------------------------------------- the engine


@pytest.mark.parametrize("case", case_params(CASES))
def test_engine_matches_check_query_on_demo_and_edge_rows(demo_warehouse: Warehouse, case: Case) -> None:
    assert_engine_matches_check_query(demo_warehouse.project, demo_warehouse.answers, case)


@pytest.mark.parametrize("case", case_params(CASES))
def test_engine_matches_check_query_on_edge_rows_alone(edge_warehouse: Warehouse, case: Case) -> None:
    assert_engine_matches_check_query(edge_warehouse.project, edge_warehouse.answers, case)


@pytest.mark.parametrize("case", case_params([CASES_BY_NAME[n] for n in EDGE_EXPECTED]))
def test_engine_matches_hand_computed_edge_values(edge_warehouse: Warehouse, case: Case) -> None:
    result = query_engine(edge_warehouse.project, case)
    rows = rows_with_data(result.rows, EDGE_EXPECTED[case.name], case.key_len)
    assert_same_answer(result.columns, rows, case.columns, EDGE_EXPECTED[case.name], case.key_len)
