"""How numbers look to people (table and markdown): one number of decimals per column, money in cents."""

from __future__ import annotations

from kpiframe.cli.output import render
from kpiframe.engine import QueryResult

ROWS = QueryResult(
    ["channel", "revenue", "rate", "spend"],
    [("a", 5.0, 0.0312, 5.0), ("b", 10.5, 0.5, 1234.5), ("c", -4.0, None, None), ("d", 1000.0, 0.25, 12.0)],
)


def cells(text: str) -> list[list[str]]:
    lines = [line for line in text.splitlines()[2:]]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_a_column_keeps_one_number_of_decimals():
    rows = cells(render(ROWS, "markdown", units={"revenue": "currency"}))
    assert [r[1] for r in rows] == ["5.00", "10.50", "-4.00", "1,000.00"]  # currency: cents, always
    assert [r[2] for r in rows] == ["0.0312", "0.5000", "∅", "0.2500"]  # every value below 10: a rate
    assert [r[3] for r in rows] == ["5.00", "1,234.50", "∅", "12.00"]  # one large value: two places for all


def test_a_small_currency_column_still_shows_cents():
    small = QueryResult(["cost_per_click"], [(0.4567,), (1.2,)])
    assert [r[0] for r in cells(render(small, "markdown", units={"cost_per_click": "currency"}))] == ["0.46", "1.20"]
    assert [r[0] for r in cells(render(small, "markdown"))] == ["0.4567", "1.2000"]


def test_machines_get_the_values_themselves():
    assert render(ROWS, "csv").splitlines()[1] == "a,5.0,0.0312,5.0"
