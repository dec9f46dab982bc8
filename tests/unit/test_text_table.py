"""The terminal table (kpiframe/cli/text_table.py): alignment, fitting a narrow terminal, text shown as
it is, and values from hostile exports kept from driving the terminal."""

from kpiframe.cli.output import render
from kpiframe.cli.text_table import boxed, cell_width
from kpiframe.engine import QueryResult


def test_numbers_align_right_text_left_in_a_heavy_header_grid() -> None:
    table = boxed(["channel", "leads"], [["email", "1,132"], ["paid_search", "7"]], [False, True], None, 200)
    assert table.splitlines() == [
        "┏━━━━━━━━━━━━━┳━━━━━━━┓",
        "┃ channel     ┃ leads ┃",
        "┡━━━━━━━━━━━━━╇━━━━━━━┩",
        "│ email       │ 1,132 │",
        "│ paid_search │     7 │",
        "└─────────────┴───────┘",
    ]


def test_a_narrow_terminal_cuts_long_text_before_numbers_and_dates() -> None:
    rows = [["2026-10-01 *", "organic_search_brand_campaign_q4", "12,345"]]
    table = boxed(["period_start", "campaign", "leads"], rows, [False, False, True], None, 40)
    lines = table.splitlines()
    assert all(cell_width(line) <= 40 for line in lines)
    assert "│ 2026-10-01 * │" in lines[3] and "12,345 │" in lines[3]  # date and number whole
    assert "│ organic_sea… │" in lines[3] and cell_width(lines[3]) == 40  # the text gave way, to the cell


def test_wide_characters_take_two_cells() -> None:
    table = boxed(["name", "n"], [["東京", "1"], ["Berlin", "22"]], [False, True], None, 200)
    widths = {cell_width(line) for line in table.splitlines()}
    assert len(widths) == 1  # every line as wide as the others: the box closes


def test_text_is_shown_as_written_and_control_characters_never_reach_the_terminal() -> None:
    hostile = "[bold red]x[/] \x1b[2J\x1b]0;pwned\x07 line\nbreak"
    table = boxed(["value"], [[hostile]], [False], "title", 200)
    assert "\x1b" not in table and "\x07" not in table and "\n" not in table.splitlines()[4]
    assert "[bold red]x[/]" in table and "line break" in table


def test_render_centres_the_title_over_the_table() -> None:
    result = QueryResult(["metric", "value"], [("leads", 3), ("mqls", 1)])
    title, top = render(result, "table", title="Plan").splitlines()[:2]
    assert title.strip() == "Plan" and abs(len(title) - len(title.lstrip()) - (len(top) - 4) // 2) <= 2
