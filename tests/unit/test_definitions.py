"""Governance of shared definitions: approvals, change notes, locked rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from kpiframe.cli import main
from kpiframe.errors import ProjectInvalid
from kpiframe.project import Project
from tests.conftest import copy_example

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def example_copy(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "example", lock=False)


def edit(root: Path, old: str, new: str) -> None:
    path = root / "metrics" / "mql_definition.yml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def problems(root: Path) -> str:
    with pytest.raises(ProjectInvalid) as caught:
        Project.load(root)
    return caught.value.render()


def test_the_example_definition_is_valid_and_generates_models(example_copy: Path) -> None:
    project = Project.load(example_copy)
    assert {"mql_v1", "mql_v2", "mql_membership"} <= set(project.graph.models)
    assert project.graph.order.index("stg_leads") < project.graph.order.index("mql_v1")
    assert {"mql_v1", "mql_v2", "mql"} <= set(project.layer.datasets)


def test_current_version_needs_every_owner_approval(example_copy: Path) -> None:
    edit(example_copy, "          - {team: sales-development, by: ben.ortiz, on: 2026-09-22}\n", "")
    found = problems(example_copy)
    assert "error[KF901]: definition 'mql' v2 lacks approval from sales-development" in found
    assert "metrics/mql_definition.yml:" in found


def test_a_new_version_needs_a_change_note(example_copy: Path) -> None:
    path = example_copy / "metrics" / "mql_definition.yml"
    text = path.read_text()
    start = text.index("        change_note: >-\n          Sales found")
    end = text.index("        approvals:", start)
    path.write_text(text[:start] + text[end:])
    assert "error[KF903]: definition 'mql' v2 has no change note" in problems(example_copy)


def test_a_locked_rule_cannot_change(example_copy: Path) -> None:
    result = CliRunner().invoke(main, ["compile", "--project-dir", str(example_copy)])
    assert result.exit_code == 0 and "locked the rule of mql v1" in result.output
    edit(example_copy, "          threshold: 40\n", "          threshold: 35\n")
    found = problems(example_copy)
    assert "error[KF902]: the rule of definition 'mql' v1 changed after it was locked" in found
    assert "add v3 with a change note instead" in found


def test_current_version_must_exist(example_copy: Path) -> None:
    edit(example_copy, "    current: 2\n", "    current: 7\n")
    assert "error[KF905]: definition 'mql': current version 7 is not defined" in problems(example_copy)


def test_bottleneck_is_the_step_that_fell_most_against_its_history() -> None:
    from datetime import date

    from kpiframe.semantic.funnels import find_bottleneck

    stages = ["lead", "mql", "opportunity"]
    counts = {  # (lead, mql, opportunity) per cohort
        date(2026, 1, 1): (100, 20, 10),
        date(2026, 2, 1): (100, 20, 10),
        date(2026, 3, 1): (100, 20, 10),
        date(2026, 4, 1): (100, 18, 4),  # mql 18 % vs 20 %; opportunity 4/18 = 22 % vs 50 %
        date(2026, 5, 1): (100, 1, 0),  # still young: its window has not closed
    }
    rows = [
        {"cohort_start": c, "stage": s, "entities": n}
        for c, values in counts.items()
        for s, n in zip(stages, values, strict=True)
    ]
    found = find_bottleneck(rows, stages, mature_before=date(2026, 5, 1))
    assert found is not None
    assert (found.cohort_start, found.stage, found.cohorts) == (date(2026, 4, 1), "mql → opportunity", 3)
    assert found.conversion == pytest.approx(4 / 18) and found.trailing == pytest.approx(0.5)


def test_a_funnel_stage_naming_an_undefined_version(example_copy: Path) -> None:
    stage = "      - {name: mql, definition: mql, version: %d}"
    edit(example_copy, stage % 1, stage % 7)
    assert "names version 7 of 'mql', which is not defined" in problems(example_copy)


def test_a_corrupted_lock_file_is_a_diagnostic(example_copy: Path) -> None:
    (example_copy / "definitions.lock").write_text('{"definitions": {}}\n<<<<<<< HEAD\n')
    assert "error[KF906]: definitions.lock cannot be read" in problems(example_copy)


def test_a_cohort_counts_for_the_bottleneck_only_once_its_last_entrant_had_the_whole_window():
    from datetime import date, datetime

    from kpiframe.semantic.funnels import first_open_cohort, window_closed

    newest = datetime(2026, 11, 19, 12, 0)
    # May's last entrant (31 May, 23:59) needs until 2026-06-01 + 180 days = 2026-11-28: still open,
    # although May began more than 180 days before the newest entry
    assert not window_closed(date(2026, 5, 1), "month", 180, newest)
    assert window_closed(date(2026, 4, 1), "month", 180, newest)  # 2026-05-01 + 180 days = 2026-10-28
    assert window_closed(date(2026, 5, 1), "month", 180, datetime(2026, 11, 28))  # the window to the second
    starts = [date(2026, 3, 1), date(2026, 4, 1), date(2026, 5, 1), date(2026, 6, 1)]
    assert first_open_cohort(starts, "month", 180, newest) == date(2026, 5, 1)
    assert first_open_cohort(starts[:2], "month", 180, newest) is None  # all closed
    assert not window_closed(date(2026, 11, 9), "week", 7, datetime(2026, 11, 22, 23, 0))
    assert window_closed(date(2026, 11, 9), "week", 7, datetime(2026, 11, 23))
    assert not window_closed(date(2026, 1, 1), "month", 30, None)  # no entries: nothing has closed
