"""What a project declares about its data: the `expectations:` lists, parsed, and the checks a source's
contract implies. Types compare by family here and in the build's source check."""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot import exp

from kpiframe.errors import Problems
from kpiframe.load.loaded import ProjectFiles, Source
from kpiframe.quality.model import Expectation
from kpiframe.quality.specs import parse_expectations

_FAMILIES = {
    "integer": {"TINYINT", "SMALLINT", "INT", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINT", "UBIGINT"},
    "number": {"DECIMAL", "DOUBLE", "FLOAT", "BIGDECIMAL", "MONEY"},
    "text": {"VARCHAR", "TEXT", "CHAR", "NVARCHAR", "NCHAR", "STRING"},
    "timestamp": {"TIMESTAMP", "TIMESTAMPNTZ", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATETIME"},
}


def type_family(type_text: str) -> str:
    """Types compare by family: an INTEGER column satisfies a BIGINT contract, a VARCHAR date does not."""
    try:
        name = exp.DataType.build(type_text, dialect="duckdb").this.name
    except Exception:  # an exotic type name: compare it as written
        return type_text.upper()
    return next((family for family, members in _FAMILIES.items() if name in members), name)


def declared_expectations(files: ProjectFiles) -> tuple[dict[tuple[str, str], list[Expectation]], Problems]:
    """Parse every `expectations:` list (part of the validate stage); problems are returned like any other.

    Each source also gets the checks its contract implies (`contract_expectations`)."""
    parsed: dict[tuple[str, str], list[Expectation]] = {}
    found = Problems()
    for (kind, name), items in files.expectation_items.items():
        expectations, problems = parse_expectations(list(items.items), f"{kind} {name}", items.locate)
        found += problems
        parsed[(kind, name)] = expectations
    for source in files.sources.values():
        implied = contract_expectations(source)
        if implied:
            key = ("source", f"{source.schema}.{source.table}")
            parsed[key] = [*parsed.get(key, []), *implied]
    return parsed, found


def contract_expectations(source: Source) -> list[Expectation]:
    """A column declared DECIMAL (or any non-integer number) holds no NaN or Infinity.

    The contract accepts a DOUBLE where it says DECIMAL, as spreadsheet and CSV loads make them, but a
    DECIMAL cannot be NaN: one NaN spend would make every sum over it NaN, published as a number.
    """
    implied = []
    for column, declared in source.types.items():
        if type_family(declared) == "number":
            implied.append(
                Expectation(
                    "finite",
                    {"column": column},
                    "error",
                    f"source {source.schema}.{source.table}",
                    source.location,
                    f"{IMPLIED_BY_CONTRACT}{declared} holds no NaN or Infinity",
                )
            )
    return implied


IMPLIED_BY_CONTRACT = "the contract's "


def answered_by_type(expectation: Expectation, column_type: str | None, decimal_is_finite: bool) -> bool:
    """Whether the warehouse's column type makes a contract's implied `finite` check pass by itself: an
    integer column never holds NaN or Infinity, nor does a DECIMAL where the warehouse declares
    `decimal_is_finite` (DuckDB's; PostgreSQL's NUMERIC holds NaN)."""
    if expectation.kind != "finite" or not (expectation.description or "").startswith(IMPLIED_BY_CONTRACT):
        return False
    if column_type is None:
        return False
    family = type_family(column_type)
    return family == "integer" or (decimal_is_finite and column_type.upper().startswith("DECIMAL"))


def declared(expectations: Mapping[tuple[str, str], list[Expectation]]) -> bool:
    """Whether the project declares any expectation of its own (beyond those its contract implies)."""
    return any(
        not (e.description or "").startswith(IMPLIED_BY_CONTRACT) for items in expectations.values() for e in items
    )
