"""Value impact: both versions' numbers per period, checked against SQL written by hand on the raw rows."""

from __future__ import annotations

import hashlib

import duckdb
import pytest

from kpiframe.diff import Window, diff_project
from kpiframe.diff.model import EntityPeriod

# By hand from the raw rows: each version's orders filter, and paid_orders' own filter on top.
BASE_ORDERS = "status <> 'test'"
HEAD_ORDERS = "status not in ('test', 'refunded')"
BASE_PAID = "status = 'paid'"
HEAD_PAID = "status = 'paid' and amount >= 30"

# MQL by hand: fit, points per activity inside 30 days of creation, first time the running score reaches 40.
HAND_MQL = """
with fit as (
    select lead_id, created_at from raw.leads where employee_count >= {employees}
), points as (
    select a.lead_id, a.activity_id, a.occurred_at,
           case a.activity_type when 'demo' then 40 when 'click' then {click} else 0 end as p
    from raw.lead_activities a join fit f on a.lead_id = f.lead_id
    where a.occurred_at >= f.created_at and a.occurred_at < f.created_at + interval 30 day
), running as (
    select lead_id, occurred_at,
           sum(p) over (partition by lead_id order by occurred_at, activity_id
                        rows between unbounded preceding and current row) as score
    from points
)
select lead_id, min(occurred_at) as qualified_at from running where score >= 40 group by lead_id
"""


@pytest.fixture(scope="session")
def pr(project_dir):
    return diff_project(project_dir, base="main", head="HEAD~2")


@pytest.fixture(scope="session")
def raw(project_dir):
    con = duckdb.connect(str(project_dir / "shop.duckdb"), read_only=True)
    yield con
    con.close()


def monthly(con, select: str, where: str, grain: str = "month") -> dict[str, float]:
    rows = con.execute(
        f"select cast(date_trunc('{grain}', ordered_at) as date) as p, {select} from raw.orders "
        f"where {where} group by 1"
    ).fetchall()
    return {p.isoformat(): float(v) for p, v in rows}


def values(report, metric: str) -> dict[str, tuple]:
    series = report.series[metric]
    assert series.error is None
    return {p.period: (p.old, p.new) for p in series.periods}


def test_the_last_three_months_with_data(pr):
    assert [p.period for p in pr.series["paid_orders"].periods] == ["2026-02-01", "2026-03-01", "2026-04-01"]


def test_metric_values_per_period_match_hand_sql(pr, raw):
    expected = {
        "orders": ("count(*)", BASE_ORDERS, HEAD_ORDERS),
        "revenue": ("sum(amount)", BASE_ORDERS, HEAD_ORDERS),
        "paid_orders": ("count(*)", f"{BASE_ORDERS} and {BASE_PAID}", f"{HEAD_ORDERS} and {HEAD_PAID}"),
    }
    for metric, (select, base, head) in expected.items():
        old, new = monthly(raw, select, base), monthly(raw, select, head)
        got = values(pr, metric)
        assert got == {p: (old.get(p, 0), new.get(p, 0)) for p in got}, metric
    # paid_share = paid_orders / orders, each version with its own filters
    share = values(pr, "paid_share")
    for period, (old, new) in share.items():
        paid_old = monthly(raw, "count(*)", f"{BASE_ORDERS} and {BASE_PAID}").get(period, 0)
        paid_new = monthly(raw, "count(*)", f"{HEAD_ORDERS} and {HEAD_PAID}").get(period, 0)
        assert old == pytest.approx(paid_old / monthly(raw, "count(*)", BASE_ORDERS)[period])
        assert new == pytest.approx(paid_new / monthly(raw, "count(*)", HEAD_ORDERS)[period])
    # and the numbers themselves, for the reader of this test: February loses the refund and the 20.00 order
    assert values(pr, "paid_orders") == {"2026-02-01": (1, 0), "2026-03-01": (1, 0), "2026-04-01": (1, 1)}
    assert pr.series["revenue"].periods[0].delta == -70 and pr.series["revenue"].periods[0].delta_pct == pytest.approx(
        -70 / 90
    )


def test_an_added_metric_has_only_new_values(pr, raw):
    assert values(pr, "mqls_v2") == {"2026-02-01": (None, 1), "2026-03-01": (None, 1), "2026-04-01": (None, 2)}


def test_who_enters_and_leaves_a_definition_matches_hand_sql(pr, raw):
    def members(employees: int, click: int) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for lead, at in raw.execute(HAND_MQL.format(employees=employees, click=click)).fetchall():
            found.setdefault(at.date().replace(day=1).isoformat(), set()).add(lead)
        return found

    v1, v2 = members(50, 10), members(100, 15)
    series = pr.series["mql v2 vs v1"]
    assert (series.kind, series.old_label, series.new_label, series.entity) == ("definition", "v1", "v2", "lead")
    assert [p.period for p in series.periods] == ["2026-02-01", "2026-03-01", "2026-04-01"]
    for period in series.periods:
        assert isinstance(period, EntityPeriod)
        old, new = v1.get(period.period, set()), v2.get(period.period, set())
        assert (period.old, period.new) == (len(old), len(new))
        assert (period.left, period.entered) == (len(old - new), len(new - old))
        assert period.left_examples == sorted(old - new)[:3]
        assert period.entered_examples == sorted(new - old)[:3]
    by_period = {p.period: p for p in series.periods}
    assert (by_period["2026-02-01"].left_examples, by_period["2026-02-01"].entered_examples) == (["L1"], ["L2"])
    assert (by_period["2026-04-01"].old, by_period["2026-04-01"].new, by_period["2026-04-01"].left_examples) == (
        3,
        2,
        ["L5"],
    )


def test_periods_and_grain_are_chosen(project_dir, raw):
    report = diff_project(project_dir, base="main", head="HEAD~2", window=Window("quarter", 2))
    old = monthly(raw, "count(*)", f"{BASE_ORDERS} and {BASE_PAID}", "quarter")
    new = monthly(raw, "count(*)", f"{HEAD_ORDERS} and {HEAD_PAID}", "quarter")
    assert values(report, "paid_orders") == {p: (old[p], new.get(p, 0)) for p in ("2026-01-01", "2026-04-01")}
    assert values(report, "paid_orders")["2026-01-01"] == (4, 2)


def test_the_warehouse_is_only_read(project_dir):
    path = project_dir / "shop.duckdb"
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    diff_project(project_dir, base="main", head="HEAD~2")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    con = duckdb.connect(str(path), read_only=True)
    try:
        schemas = {r[0] for r in con.execute("select distinct table_schema from information_schema.tables").fetchall()}
    finally:
        con.close()
    assert schemas == {"raw"}


def test_without_a_warehouse_definitions_are_still_compared(project_dir, tmp_path):
    report = diff_project(project_dir, base="main", head="HEAD~2", warehouse=str(tmp_path / "none.duckdb"))
    assert report.series == {}
    assert report.notes and report.notes[0].startswith("value impact skipped: no warehouse file at")
    assert {c.key for c in report.breaking} == {"model:stg_orders", "metric:paid_orders", "table:shop_monthly"}
    # column types then come from the sources' declared contract
    table = next(c for c in report.changes if c.key == "table:leads_monthly")
    assert [(c.column, c.change) for c in table.columns] == [("mqls_v2", "added")]
