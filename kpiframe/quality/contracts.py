"""What a project declares about its data: the `expectations:` lists, parsed, and the checks a source's
contract and a dataset's keys imply. Types compare by family here and in the build's source check."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlglot import exp

from kpiframe.errors import Problems
from kpiframe.load.loaded import Located, ProjectFiles, Source
from kpiframe.load.specs import DatasetSpec, DimensionSpec
from kpiframe.quality.model import Expectation
from kpiframe.quality.specs import SHORT_FORMS, parse_expectations
from kpiframe.sql.expressions import ExpressionRejected, parse_expression

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

    Each source also gets the checks its contract implies (`contract_expectations`), each model the
    checks its datasets' keys imply (`key_expectations`)."""
    parsed: dict[tuple[str, str], list[Expectation]] = {}
    found = Problems()
    for (kind, name), items in files.expectation_items.items():
        expectations, problems = parse_expectations(list(items.items), f"{kind} {name}", items.locate)
        found += problems
        parsed[(kind, name)] = expectations
    for source in files.sources.values():
        key = ("source", f"{source.schema}.{source.table}")
        implied = contract_expectations(source, parsed.get(key, []))
        if implied:
            parsed[key] = [*parsed.get(key, []), *implied]
    for key, implied in key_expectations(files, parsed).items():
        parsed[key] = [*parsed.get(key, []), *implied]
    return parsed, found


def contract_expectations(source: Source, declared_checks: Sequence[Expectation] = ()) -> list[Expectation]:
    """A column declared DECIMAL (or any non-integer number) holds no NaN or Infinity.

    The contract accepts a DOUBLE where it says DECIMAL, as spreadsheet and CSV loads make them, but a
    DECIMAL cannot be NaN: one NaN spend would make every sum over it NaN, published as a number. A
    `finite` the source declares on the column replaces the implied one, with its own severity: an export
    known to write NaN, cleaned in staging, is reported as a warning instead of stopping every build.
    """
    own = {str(e.kwargs.get("column")).lower() for e in declared_checks if e.kind == "finite"}
    implied = []
    for column, declared in source.types.items():
        if type_family(declared) == "number" and column.lower() not in own:
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
UNIQUE = SHORT_FORMS["unique"].gx_kind
IMPLIED_BY_KEY = "implied: "
COMPOUND_UNIQUE = "expect_compound_columns_to_be_unique"
# warn, not error: MetricFlow never checks that a primary entity is one row per key, and projects imported
# from it repeat keys (4 of the 5 manifests of its own conformance tests have a row per key and day, month
# or partition): an error would refuse to build them. Declaring `unique` on the key column makes it one.
KEY_SEVERITY = "warn"


def key_expectations(
    files: ProjectFiles, declared: Mapping[tuple[str, str], list[Expectation]]
) -> dict[tuple[str, str], list[Expectation]]:
    """A primary or unique entity is one row per key: its column is unique in the dataset's model.

    A dataset reaches another's dimensions by joining that key, so one key loaded twice would double
    every row joined to it, without a word. The check warns (KEY_SEVERITY); a `unique` the model
    declares on the same column replaces it, with its own severity (error unless it says otherwise)
    and `mostly:`. An entity whose `expr` is not a plain column is not checked.

    A dataset with a partition (`partition: true`, a row per key and day) is one row per key in each
    partition, which its joins equate: the check is that (key, partition) is unique, replaced likewise by
    a declared `unique` on the key or compound unique on the two columns; not checked when the partition
    is an expression. A versioned dataset (a validity window) is one row per key in each version: the check
    is likewise that (key, validity start) is unique."""
    implied: dict[tuple[str, str], list[Expectation]] = {}
    for located in sorted(files.datasets.values(), key=lambda d: d.spec.name):
        dataset = located.spec
        partitioned_by = _per_key_time(dataset)
        partition = _column(partitioned_by.expr or partitioned_by.name) if partitioned_by else None
        for index, entity in enumerate(dataset.entities):
            column = _column(entity.expr or entity.name)
            if entity.type == "foreign" or column is None or (partitioned_by and partition is None):
                continue
            key = ("model", dataset.model)
            checks = [*declared.get(key, []), *implied.get(key, [])]
            if any(e.kind == UNIQUE and str(e.kwargs.get("column")).lower() == column.lower() for e in checks):
                continue
            if partition is not None:
                if not any(_compound(e, column, partition) for e in checks):
                    implied.setdefault(key, []).append(_per_partition(located, index, column, partition))
                continue
            implied.setdefault(key, []).append(
                Expectation(
                    UNIQUE,
                    {"column": column},
                    KEY_SEVERITY,
                    f"model {dataset.model} (implied by dataset {dataset.name}: one row per {column})",
                    located.at("entities", index),
                    f"{IMPLIED_BY_KEY}{entity.type} entity '{entity.name}' of dataset '{dataset.name}' is one row "
                    f"per {column}",
                )
            )
    return implied


def _per_key_time(dataset: DatasetSpec) -> DimensionSpec | None:
    """The time a key repeats over: a versioned dataset's validity start (a row per key and version), else
    its partition (a row per key and day), else None."""
    window = dataset.validity_window
    return window[0] if window is not None else dataset.partition_dimension


def _compound(expectation: Expectation, *columns: str) -> bool:
    """Whether the check is a compound unique over exactly `columns` (in any order and case)."""
    listed = expectation.kwargs.get("column_list")
    named = {str(c).lower() for c in listed} if isinstance(listed, (list, tuple)) else set()
    return expectation.kind == COMPOUND_UNIQUE and named == {c.lower() for c in columns}


def _per_partition(located: Located[DatasetSpec], index: int, column: str, partition: str) -> Expectation:
    """The key check of a partitioned or versioned dataset: one row per key and partition (or version)."""
    dataset, entity = located.spec, located.spec.entities[index]
    each = "version from" if dataset.validity_window is not None else "partition"
    return Expectation(
        COMPOUND_UNIQUE,
        {"column_list": [column, partition]},
        KEY_SEVERITY,
        f"model {dataset.model} (implied by dataset {dataset.name}: one row per {column} and {partition})",
        located.at("entities", index),
        f"{IMPLIED_BY_KEY}{entity.type} entity '{entity.name}' of dataset '{dataset.name}' is one row per "
        f"{column} in each {each} {partition}",
    )


def _column(text: str) -> str | None:
    """The column an entity's `expr` names, None when it is an expression."""
    try:
        tree = parse_expression(text)
    except ExpressionRejected:  # reported where the semantic layer parses it
        return None
    return tree.name if isinstance(tree, exp.Column) and not tree.table else None


def implied_by_key(expectation: Expectation) -> bool:
    """Whether the check is the one a dataset's primary or unique entity implies (`key_expectations`)."""
    return expectation.kind in (UNIQUE, COMPOUND_UNIQUE) and (expectation.description or "").startswith(IMPLIED_BY_KEY)


def is_implied(expectation: Expectation) -> bool:
    """Whether the project implies the check (a contract's type, a dataset's key) rather than declares it."""
    return (expectation.description or "").startswith((IMPLIED_BY_CONTRACT, IMPLIED_BY_KEY))


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
    """Whether the project declares any expectation of its own (beyond those its contracts and keys imply)."""
    return any(not is_implied(e) for items in expectations.values() for e in items)
