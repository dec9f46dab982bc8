"""Periods, windows, formula parsing and metric values with lags, on hand-made series."""

from __future__ import annotations

from datetime import date

import pytest

from kpiframe.kpi.algebra import Num, Op, Ref, evaluate, exponents, parse_formula, refs
from kpiframe.kpi.data import Evaluator, Store
from kpiframe.kpi.periods import Period, PeriodError, Window, add_months, last_complete, parse_period, period_of
from kpiframe.sql.expressions import ExpressionRejected


def test_period_labels_round_trip_and_bounds():
    assert parse_period("2026-11") == Period("month", date(2026, 11, 1))
    assert parse_period("2026-Q4").window == Window(date(2026, 10, 1), date(2026, 12, 31))
    assert parse_period(2027).end == date(2027, 12, 31)  # YAML reads 2027 as a number
    assert [p.label for p in parse_period("2026-Q1").months()] == ["2026-01", "2026-02", "2026-03"]
    assert parse_period("2026-Q1").shift(-1).label == "2025-Q4"
    assert parse_period("2026-02").days == 28
    with pytest.raises(PeriodError):
        parse_period("2026-13")
    with pytest.raises(PeriodError):
        parse_period("Q1-2026")


def test_month_arithmetic_clamps_and_windows_keep_month_ends():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    # a quarter one month earlier: Dec..Feb, still ending on a month's last day
    assert parse_period("2026-Q1").window.shift_months(-1) == Window(date(2025, 12, 1), date(2026, 2, 28))
    # a month to date one month earlier: the same days of the month before
    assert Window(date(2026, 3, 1), date(2026, 3, 15)).shift_months(-1) == Window(date(2026, 2, 1), date(2026, 2, 15))
    assert Window(date(2025, 12, 1), date(2026, 2, 28)).label == "2025-12..2026-02"
    assert period_of(date(2026, 8, 20), "quarter").label == "2026-Q3"
    assert last_complete("month", date(2026, 3, 15)).label == "2026-02"
    assert last_complete("month", date(2026, 3, 31)).label == "2026-03"


def test_formulas_parse_to_arithmetic_of_metric_names():
    expr = parse_formula("opportunities * (pipeline / opportunities) - 2")
    assert refs(expr) == ["opportunities", "pipeline"]
    # 4 * (10 / 4) - 2 = 8
    assert evaluate(expr, {"opportunities": 4.0, "pipeline": 10.0}.get) == 8.0
    assert evaluate(parse_formula("a / b"), {"a": 1.0, "b": 0.0}.get) is None  # division by zero is NULL
    assert exponents(parse_formula("a * b / c")) == {"a": 1, "b": 1, "c": -1}
    assert exponents(parse_formula("a + b")) is None
    assert parse_formula("-a") == Op("-", Num(0.0), Ref("a"))
    with pytest.raises(ExpressionRejected):
        parse_formula("sum(a)")


def test_lags_apply_wherever_the_lagged_metric_appears(funnel):
    project = funnel()
    from kpiframe.kpi.algebra import MetricAlgebra

    algebra = MetricAlgebra(project.graph, project.layer)
    # monthly totals written on each month's first day: Dec 46 MQLs, Jan 44; Jan 20 opportunities
    store = Store(
        {"mqls": {date(2025, 12, 1): 46, date(2026, 1, 1): 44}, "opportunities": {date(2026, 1, 1): 20}},
        last=date(2026, 1, 31),
    )
    jan = parse_period("2026-01").window
    evaluator = Evaluator(algebra, store)
    assert evaluator.value("mql_to_opportunity_rate", jan) == 20 / 44  # same month: 0.4545
    # with MQLs one month earlier: 20 / 46, and MQLs themselves are December's
    assert evaluator.value("mql_to_opportunity_rate", jan, {"mqls": 1}) == 20 / 46
    assert evaluator.value("mqls", jan, {"mqls": 1}) == 46
    assert algebra.is_additive("pipeline") and not algebra.is_additive("cost_per_mql")
    assert algebra.leaves("cost_per_mql") == ["ad_spend", "mqls"]
    assert "median" in (algebra.unsupported("median_amount") or "")
    assert "cumulative" in (algebra.unsupported("pipeline_ytd") or "")


def test_store_sums_windows_and_sees_nothing_after_its_last_day():
    store = Store({"x": {date(2026, 1, 1): 1, date(2026, 1, 2): 2, date(2026, 1, 3): 4}}, last=date(2026, 1, 2))
    assert store.total("x", Window(date(2026, 1, 1), date(2026, 1, 31))) == 3  # 1 + 2; the 3rd is after last
    assert store.until(date(2026, 1, 1)).total("x", Window(date(2026, 1, 1), date(2026, 1, 31))) == 1
    extended = store.extended({"x": {date(2026, 1, 3): 10}}, last=date(2026, 1, 3))
    assert extended.total("x", Window(date(2026, 1, 1), date(2026, 1, 3))) == 13  # 1 + 2 + 10
