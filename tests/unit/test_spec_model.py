"""kpiframe's spec records (kpiframe.load.spec_model) against pydantic, whose lax rules and messages they
follow: the same inputs must give the same values, or the same problems at the same places.

pydantic stays installed (Great Expectations and `kpiframe serve` use it), so the reference runs here.
"""

import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import pydantic
import pytest

from kpiframe.load.spec_model import Spec, SpecInvalid, StrictBool, check_field, check_record, field
from tests.conftest import copy_example

NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class Inner(Spec):
    label: str
    weight: float = field(default=1.0, gt=0)


class Record(Spec):
    name: str = field(pattern=NAME)
    count: int = field(default=1, ge=1, le=12)
    share: float | None = field(default=None, ge=0, le=1)
    flag: bool = False
    strict_flag: StrictBool = False
    day: date | None = None
    kind: Literal["simple", "ratio", "derived"] = "simple"
    grain: Literal["all"] | Literal["day", "month"] | None = None
    version: str | int | None = None
    fill: int | float | Literal["null"] | None = None
    value: Union[float, Literal["derived"], Inner] = 0.0  # noqa: UP007 - the form kpi/specs.py uses
    tags: list[str] = []
    keys: list[Annotated[str, field(pattern=NAME)]] = []
    owners: list[str] = field(default_factory=lambda: ["ops"], min_length=1)
    vars: dict[str, str | int | float | bool | None] = {}
    inner: Inner | None = None
    columns: list[str | Inner] = []
    schema_: str = field(default="analytics", alias="schema")
    anything: dict[str, object] = {}


def pydantic_twin() -> Any:
    """The same records in pydantic, with the same names (they appear in messages)."""

    class Inner(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
        label: str
        weight: float = pydantic.Field(default=1.0, gt=0)

    class Record(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
        name: str = pydantic.Field(pattern=NAME)
        count: int = pydantic.Field(default=1, ge=1, le=12)
        share: float | None = pydantic.Field(default=None, ge=0, le=1)
        flag: bool = False
        strict_flag: pydantic.StrictBool = False
        day: date | None = None
        kind: Literal["simple", "ratio", "derived"] = "simple"
        grain: Literal["all"] | Literal["day", "month"] | None = None
        version: str | int | None = None
        fill: int | float | Literal["null"] | None = None
        value: Union[float, Literal["derived"], Inner] = 0.0  # noqa: UP007
        tags: list[str] = []
        keys: list[Annotated[str, pydantic.Field(pattern=NAME)]] = []
        owners: list[str] = pydantic.Field(default_factory=lambda: ["ops"], min_length=1)
        vars: dict[str, str | int | float | bool | None] = {}
        inner: Inner | None = None
        columns: list[str | Inner] = []
        schema_: str = pydantic.Field(default="analytics", alias="schema")
        anything: dict[str, object] = {}

    return Record


PydanticRecord = pydantic_twin()


# Each case: a few keys beside a valid name. What users write in YAML, and what they get wrong.
CASES: list[dict[str, Any]] = [
    {},
    {"name": "9lives"},
    {"name": 7},
    {"count": "5"},
    {"count": 5.0},
    {"count": 5.5},
    {"count": "five"},
    {"count": True},
    {"count": 0},
    {"count": 13},
    {"count": None},
    {"count": [1]},
    {"share": 1},
    {"share": "0.25"},
    {"share": 1.5},
    {"share": -0.1},
    {"share": "lots"},
    {"share": None},
    {"share": float("nan")},
    {"share": float("inf")},
    {"share": ".nan"},
    {"value": {"label": "x", "weight": float("nan")}},
    {"flag": "yes"},
    {"flag": "No"},
    {"flag": 1},
    {"flag": 2},
    {"flag": "maybe"},
    {"flag": None},
    {"strict_flag": True},
    {"strict_flag": "true"},
    {"strict_flag": 1},
    {"day": date(2026, 1, 31)},
    {"day": "2026-01-31"},
    {"day": datetime(2026, 1, 31)},
    {"day": datetime(2026, 1, 31, 12, 30)},
    {"kind": "ratio"},
    {"kind": "Ratio"},
    {"kind": 1},
    {"grain": "all"},
    {"grain": "month"},
    {"grain": "week"},
    {"version": 3},
    {"version": "3"},
    {"version": 1.0},
    {"version": [1]},
    {"fill": 0},
    {"fill": 2.5},
    {"fill": "null"},
    {"fill": "zero"},
    {"value": 5},
    {"value": "derived"},
    {"value": {"label": "x"}},
    {"value": {"label": "x", "weight": 0}},
    {"value": "other"},
    {"value": {"labl": "x"}},
    {"tags": ["a", "b"]},
    {"tags": "a"},
    {"tags": ["a", 1]},
    {"tags": ("a",)},
    {"keys": ["ok", "not ok"]},
    {"owners": []},
    {"owners": ["a"]},
    {"vars": {"a": 1, "b": 1.5, "c": True, "d": "s", "e": None}},
    {"vars": {"a": [1]}},
    {"vars": "a=1"},
    {"inner": {"label": "x"}},
    {"inner": {"label": "x", "extra": 1}},
    {"inner": {}},
    {"inner": "x"},
    {"columns": ["a", {"label": "b"}]},
    {"columns": [{"name": "b"}]},
    {"columns": [3]},
    {"schema": "raw"},
    {"schema_": "raw"},
    {"schema": 3},
    {"anything": {"x": [1, {"y": None}]}},
    {"unknown": 1},
    {"unknown": 1, "other": 2, "count": "x"},
]


def outcome(model: Any, data: dict[str, Any]) -> object:
    """The record's fields as plain data, or its problems as (path, kind, message)."""
    try:
        record = model.model_validate({"name": "ok", **data} if "name" not in data and data != {} else data)
    except (pydantic.ValidationError, SpecInvalid) as exc:
        if isinstance(exc, SpecInvalid):
            return sorted((tuple(loc), kind, message) for loc, kind, message in exc.problems)
        return sorted((tuple(e["loc"]), e["type"], e["msg"]) for e in exc.errors())
    dumped = record.model_dump(by_alias=True)
    return {key: (type(value).__name__, value) for key, value in dumped.items()}


@pytest.mark.parametrize("data", CASES, ids=[repr(c)[:40] for c in CASES])
def test_values_and_problems_equal_pydantics(data: dict[str, Any]) -> None:
    assert outcome(Record, data) == outcome(PydanticRecord, data)


def test_a_date_written_wrong_is_a_problem_at_its_key() -> None:
    # pydantic words a bad date in its own terms; the place and that it is refused are what must agree
    for text in ("2026-13-01", "31.01.2026", "soon"):
        ours = outcome(Record, {"day": text})
        theirs = outcome(PydanticRecord, {"day": text})
        assert isinstance(ours, list) and isinstance(theirs, list)
        assert [loc for loc, _, _ in ours] == [loc for loc, _, _ in theirs] == [("day",)]
        assert ours[0][2].startswith("Input should be a valid date")


class Checked(Spec):
    low: int = 0
    high: int = 10
    note: str | None = None

    @check_field("note", before=True)
    def _trimmed(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @check_field("high")
    def _not_huge(cls, value: int) -> int:
        if value > 100:
            raise ValueError(f"high must be at most 100, not {value}")
        return value

    @check_record
    def _ordered(self) -> "Checked":
        if self.low > self.high:
            raise ValueError("low must not be above high")
        return self


def test_field_and_record_checks_run_in_pydantics_order() -> None:
    assert Checked.model_validate({"note": "  x "}).note == "x"
    with pytest.raises(SpecInvalid) as field_problem:
        Checked.model_validate({"high": 500, "low": 900})
    # a field that fails stops the record check, as in pydantic
    assert field_problem.value.problems == [
        (("high",), "value_error", "Value error, high must be at most 100, not 500")
    ]
    with pytest.raises(SpecInvalid) as record_problem:
        Checked(low=5, high=1)
    assert record_problem.value.problems == [((), "value_error", "Value error, low must not be above high")]


def test_records_are_frozen_comparable_and_copied_with_updates() -> None:
    record = Record.model_validate({"name": "leads", "tags": ["a"]})
    with pytest.raises(AttributeError, match="frozen"):
        record.name = "other"  # type: ignore[misc]
    assert record == Record(name="leads", tags=["a"]) and record != Record(name="leads")
    assert record.model_fields_set == {"name", "tags"}
    copy = record.model_copy(update={"count": 3})
    assert (copy.count, record.count, copy.tags) == (3, 1, ["a"])
    assert copy.model_fields_set == {"name", "tags", "count"}
    assert Record(name="a").tags is not Record(name="b").tags  # a mutable default is each record's own


def test_dumps_equal_pydantics() -> None:
    data = {"name": "x", "day": "2026-02-01", "inner": {"label": "l"}, "schema": "raw", "share": None, "count": 1}
    ours, theirs = Record.model_validate(data), PydanticRecord.model_validate(data)
    for options in (
        {},
        {"mode": "json"},
        {"mode": "json", "by_alias": True},
        {"exclude_none": True},
        {"exclude_defaults": True},
        {"exclude_none": True, "exclude_defaults": True},
        {"mode": "json", "by_alias": True, "exclude": {"name"}},
    ):
        assert ours.model_dump(**options) == theirs.model_dump(**options), options
        assert list(ours.model_dump(**options)) == list(theirs.model_dump(**options)), options


def test_loading_and_compiling_a_project_does_not_import_pydantic(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "example")
    code = (
        "import sys; from pathlib import Path; from kpiframe.project import Project; "
        f"Project.load(Path({str(root)!r})).compile(); "
        "print('pydantic' in sys.modules)"
    )
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert printed.strip() == "False"
