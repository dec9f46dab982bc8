"""`agg: percentile`: the value a share of the rows is at or below (deal size p90, days to close p75).

Continuous (interpolated between the two rows around it, as PERCENTILE_CONT) unless `discrete: true` (the
first row's value at or past that share, as PERCENTILE_DISC). The expected numbers are computed here in
Python from the rows, and by SQL written by hand.
"""

from __future__ import annotations

import math

import pytest

from kpiframe.errors import ProjectInvalid
from kpiframe.project import Project
from tests.conftest import built_project, hand, write_files

FILES = {
    "kpi_project.yml": "name: deals\nwarehouse: {path: deals.duckdb}\n",
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - {name: deals, columns: [deal_id, region, {name: closed_at, type: TIMESTAMP}, amount]}
    """,
    "models/stg_deals.sql": "select * from {{ source('raw', 'deals') }}",
    "metrics/deals.yml": """
        datasets:
          - name: deals
            model: stg_deals
            time: closed_at
            entities: [{name: deal, type: primary, expr: deal_id}]
            dimensions: [{name: region}]
            measures:
              - {name: amount_p90, agg: percentile, percentile: 0.9, expr: amount}
              - {name: amount_p90_row, agg: percentile, percentile: 0.9, discrete: true, expr: amount}
              - {name: amount_p25, agg: percentile, percentile: 0.25, expr: amount}
        metrics:
          - {name: deal_size_p90, measure: amount_p90}
          - {name: deal_size_p90_row, measure: amount_p90_row}
          - {name: deal_size_p25, measure: amount_p25, filter: "region = 'emea'"}
    """,
}
AMOUNTS = {"emea": [10, 20, 30, 40, 100], "amer": [5, 7, 1000], "apac": [50]}
ROWS = (
    "create schema raw;\n"
    "create table raw.deals (deal_id varchar, region varchar, closed_at timestamp, amount double);\n"
    "insert into raw.deals values "
    + ", ".join(
        f"('{region}{i}', '{region}', '2026-03-0{i + 1} 10:00', {amount})"
        for region, amounts in AMOUNTS.items()
        for i, amount in enumerate(amounts)
    )
    + ", ('x1', 'emea', '2026-03-09 10:00', null);"  # a NULL amount is no row of the percentile
)


def continuous(values: list[float], share: float) -> float:
    ordered = sorted(values)
    at = share * (len(ordered) - 1)
    low, high = math.floor(at), math.ceil(at)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def discrete(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


@pytest.fixture(scope="module")
def deals(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return built_project(tmp_path_factory.mktemp("percentiles"), FILES, "deals.duckdb", ROWS)


def test_a_percentile_by_region_matches_the_rows(deals):
    result = deals.query(metrics=["deal_size_p90", "deal_size_p90_row"], dimensions=["region"], grain="all")
    got = {row[0]: (pytest.approx(row[1]), row[2]) for row in result.rows}
    assert got == {r: (continuous(v, 0.9), discrete(v, 0.9)) for r, v in AMOUNTS.items()}
    by_hand = hand(
        deals,
        """select region, percentile_cont(0.9) within group (order by amount),
                  percentile_disc(0.9) within group (order by amount)
           from raw.deals group by 1""",
    )
    assert got == {region: (pytest.approx(cont), disc) for region, cont, disc in by_hand}


def test_a_percentile_over_all_rows_and_under_a_filter(deals):
    every = [amount for amounts in AMOUNTS.values() for amount in amounts]
    result = deals.query(metrics=["deal_size_p90", "deal_size_p25"], grain="all")
    assert result.rows == [(pytest.approx(continuous(every, 0.9)), pytest.approx(continuous(AMOUNTS["emea"], 0.25)))]


@pytest.mark.parametrize(
    ("measure", "key"),
    [
        ("{name: p, agg: percentile, expr: amount}", "agg"),
        ("{name: p, agg: sum, percentile: 0.5, expr: amount}", "percentile"),
    ],
)
def test_a_percentile_needs_its_share_and_only_a_percentile_has_one(tmp_path, measure, key):
    text = FILES["metrics/deals.yml"].replace(
        "{name: amount_p90, agg: percentile, percentile: 0.9, expr: amount}", measure
    )
    text = text.replace("{name: deal_size_p90, measure: amount_p90}", "{name: p_metric, measure: p}")
    write_files(tmp_path, {**FILES, "metrics/deals.yml": text})
    with pytest.raises(ProjectInvalid) as caught:
        Project.load(tmp_path)
    [found] = [d for d in caught.value.diagnostics if d.code == "KF118"]
    at = found.location
    assert at is not None and at.path == "metrics/deals.yml"
    line = (tmp_path / at.path).read_text(encoding="utf-8").splitlines()[at.line - 1]
    assert line[: (at.column or 1) - 1].endswith(f"{key}: ")  # at the value that is wrong or lacks its pair
    assert "agg: median" in (found.hint or "")


def test_a_share_outside_zero_to_one_is_refused_at_its_line(tmp_path):
    text = FILES["metrics/deals.yml"].replace("percentile: 0.9, expr", "percentile: 90, expr")
    write_files(tmp_path, {**FILES, "metrics/deals.yml": text})
    with pytest.raises(ProjectInvalid) as caught:
        Project.load(tmp_path)
    assert any(d.code == "KF014" and "less than or equal to 1" in d.message for d in caught.value.diagnostics)


def test_the_sql_is_each_engines_percentile(deals):
    postgres = deals.explain(dialect="postgres", metrics=["deal_size_p90_row"], grain="all")
    assert "PERCENTILE_DISC(0.9) WITHIN GROUP (ORDER BY" in postgres
    assert "QUANTILE_CONT(" in deals.explain(metrics=["deal_size_p90"], grain="all")
