"""The error-code registry matches the codes kpiframe raises, and docs/errors.md matches the registry."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import kpiframe
from kpiframe import error_codes
from kpiframe.error_codes import CODES, RANGES, REGISTRY, ErrorCode, lookup, render_markdown

PACKAGE = Path(kpiframe.__file__).resolve().parent
DOC = PACKAGE.parent / "docs" / "errors.md"
# any KF code, whatever its digit count (KF1010 too); "KF8xx" in prose is no code: \b fails before x
ANY_CODE = re.compile(r"\bKF\d+\b")


def _codes_in_source() -> dict[str, set[str]]:
    """Each KF code written in kpiframe/**/*.py except the registry itself, with the files using it."""
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == Path(error_codes.__file__).resolve():
            continue
        for code in ANY_CODE.findall(path.read_text(encoding="utf-8")):
            found.setdefault(code, set()).add(str(path.relative_to(PACKAGE.parent)))
    return found


def test_the_source_scan_finds_codes_raised_in_known_places() -> None:
    """Guards the scan itself: an empty or broken scan would pass the two tests below."""
    used = _codes_in_source()
    assert len(used) > 100
    assert "kpiframe/sql/metric_query.py" in used["KF104"]
    assert "kpiframe/diff/states.py" in used["KF954"]
    assert "kpiframe/errors.py" in used["KF000"]
    assert "KF8" not in used  # "KF8xx" in docstrings


def test_every_code_in_the_source_is_registered() -> None:
    missing = {code: sorted(files) for code, files in _codes_in_source().items() if code not in REGISTRY}
    assert not missing, f"add these codes to kpiframe/error_codes.py: {missing}"


def test_every_registered_code_is_used() -> None:
    dead = sorted(set(REGISTRY) - set(_codes_in_source()))
    assert not dead, f"registered in kpiframe/error_codes.py but raised nowhere in kpiframe/: {dead}"


def test_codes_have_three_digits() -> None:
    assert [e.code for e in CODES if not re.fullmatch(r"KF\d{3}", e.code)] == []
    assert [c for c in _codes_in_source() if not re.fullmatch(r"KF\d{3}", c)] == []


def test_no_duplicate_codes() -> None:
    duplicates = [code for code, count in Counter(e.code for e in CODES).items() if count > 1]
    assert duplicates == []
    assert len(REGISTRY) == len(CODES)


def test_codes_are_in_order_and_each_hundred_is_described() -> None:
    assert [e.code for e in CODES] == sorted(e.code for e in CODES)
    assert sorted(r.hundreds for r in RANGES) == list(range(10))
    assert {e.hundreds for e in CODES} <= {r.hundreds for r in RANGES}


def test_entries_are_filled_in() -> None:
    for entry in CODES:
        assert entry.title.strip() and not entry.title.endswith("."), entry.code
        assert entry.explanation.endswith("."), entry.code
        sentences = len(re.findall(r"[.?!] (?=[A-Z`(-])", entry.explanation)) + 1
        assert sentences <= 3, f"{entry.code}: keep it to one to three sentences"


def test_lookup() -> None:
    assert lookup("KF104").area == "semantic" and "ref()" in lookup("KF104").explanation
    assert lookup("KF960").area == "schema"
    with pytest.raises(KeyError):
        lookup("KF1010")  # renumbered to KF960


def test_the_docs_page_is_generated_from_the_registry() -> None:
    assert DOC.read_text(encoding="utf-8") == render_markdown(), (
        "docs/errors.md is out of date: regenerate it with `python -m kpiframe.error_codes --write`"
    )


def test_the_docs_page_lists_every_code_once_in_its_section() -> None:
    text = render_markdown()
    rows = re.findall(r"^\| (KF\d{3}) \|", text, flags=re.MULTILINE)
    assert rows == [e.code for e in CODES]
    section = text.split("## KF9xx")[1]
    assert "| KF955 | The project at the ref does not load | diff |" in section
    assert "| KF104 |" not in section


def test_cells_with_a_pipe_do_not_break_the_table() -> None:
    entry = ErrorCode("KF000", "a | b", "cli", "x | y.")
    assert error_codes._cell(entry.title) == "a \\| b"


def test_module_prints_the_markdown() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kpiframe.error_codes"], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout == render_markdown()
