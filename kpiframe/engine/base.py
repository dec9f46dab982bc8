"""The adapter protocol every warehouse implements."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from kpiframe.errors import KpiframeError

if TYPE_CHECKING:  # optional libraries, imported when a result is converted
    import pandas
    import pyarrow


@dataclass
class QueryResult:
    """Rows a warehouse returned: what `Project.query`, `Project.catalog` and `Project.funnel` give back.

    `columns` are the column names in order; `rows` one tuple per row, values as the warehouse's driver
    returns them (`datetime.date` for `period_start`, `int`, `float` or `decimal.Decimal` for numbers,
    `None` for NULL). A metric query's columns are `period_start`, then each dimension, then each metric
    (and its comparison columns when `compare` was asked for).
    """

    columns: list[str]
    rows: list[tuple[Any, ...]]

    def as_dicts(self) -> list[dict[str, Any]]:
        """One `{column: value}` dict per row, in row order."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def to_pandas(self) -> pandas.DataFrame:
        """The rows as a pandas DataFrame with the same column names and order.

        A column whose values are all `decimal.Decimal` (or None) becomes float64, so that numbers
        compute and plot as numbers; `.rows` keeps the exact values. Dates stay `datetime.date` objects
        (`pandas.to_datetime(frame["period_start"])` converts them). Needs pandas, which Great
        Expectations installs with kpiframe."""
        pd = _optional("pandas", "a DataFrame")
        decimal_columns = {
            index
            for index, _ in enumerate(self.columns)
            if any(isinstance(row[index], Decimal) for row in self.rows)
            and all(row[index] is None or isinstance(row[index], Decimal) for row in self.rows)
        }
        records = [
            tuple(float(v) if i in decimal_columns and v is not None else v for i, v in enumerate(row))
            for row in self.rows
        ]
        return pd.DataFrame.from_records(records, columns=self.columns)

    def to_arrow(self) -> pyarrow.Table:
        """The rows as a pyarrow Table, types inferred per column by pyarrow (DECIMAL stays exact as
        decimal128, dates are date32, NULL is null). Needs pyarrow: `pip install 'kpiframe[arrow]'`, or
        `pip install pyarrow`; without it this raises KpiframeError KF431."""
        pa = _optional("pyarrow", "an Arrow table")
        arrays = [pa.array([row[index] for row in self.rows]) for index, _ in enumerate(self.columns)]
        return pa.Table.from_arrays(arrays, names=list(self.columns))


def _optional(module: str, what: str) -> ModuleType:
    """Import an optional library, or refuse with KF431 and the command that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise KpiframeError(
            f"{module} is not installed, so the result cannot be returned as {what}",
            code="KF431",
            hint=f"pip install {module}",
        ) from None


class Warehouse:
    """A connection that runs sqlglot trees in its own dialect."""

    dialect: str = "duckdb"
    # whether Great Expectations runs on this warehouse (through SQLAlchemy); if not, kpiframe runs the
    # expectations as its own counting SQL (kpiframe.quality.pushdown)
    great_expectations: bool = True

    def render(self, statement: exp.Expr) -> str:
        return statement.sql(dialect=self.dialect)

    def execute(self, statement: exp.Expr) -> None:
        raise NotImplementedError

    def query(self, statement: exp.Expr) -> QueryResult:
        raise NotImplementedError

    def table_exists(self, schema: str, name: str) -> bool:
        raise NotImplementedError

    def object_type(self, schema: str, name: str) -> str | None:
        """'table', 'view' or None."""
        raise NotImplementedError

    def column_types(self, schema: str, name: str) -> dict[str, str]:
        """Column name -> type as the warehouse spells it, in table order."""
        raise NotImplementedError

    def list_objects(self, schemas: set[str]) -> list[tuple[str, str, str]]:
        """(schema, name, 'table' or 'view') of everything in `schemas`, from information_schema."""
        listing = (
            exp.select(exp.column("table_schema"), exp.column("table_name"), exp.column("table_type"))
            .from_(exp.table_("tables", db="information_schema"))
            .where(exp.column("table_schema").isin(*[exp.Literal.string(s) for s in sorted(schemas)]))
        )
        rows = self.query(listing).rows
        return [(str(schema), str(name), "view" if kind == "VIEW" else "table") for schema, name, kind in rows]

    # --- publishing: how a build makes its checked tables the ones readers see (kpiframe.build.run) ------
    def stage_for_publish(self, schema: str, name: str, staging: str, run_id: str) -> str:
        """Ready a built and checked staging table for publishing, before the swap starts; the name it is
        published from. Readers see no change yet. Here the staging table itself is published."""
        return staging

    def drop_view_before_swap(self, schema: str, name: str) -> None:
        """Make way for a view model that the swap recreates, before any table is swapped. Here the view is
        dropped: PostgreSQL refuses to drop a table a view reads, or to change a view's columns in place;
        the swap's transaction hides the moment without it."""
        self.execute(exp.Drop(tables=[exp.table_(name, db=schema, quoted=True)], kind="VIEW", exists=True))

    def publish_table(self, schema: str, name: str, physical: str) -> None:
        """Make the table `physical` the one readers see as `schema.name`, inside the build's swap
        transaction: DROP the live table, RENAME `physical` to its name. The transaction makes every swap
        of a build one change for readers."""
        kind = self.object_type(schema, name)
        if kind:
            self.execute(exp.Drop(tables=[exp.table_(name, db=schema, quoted=True)], kind=kind.upper(), exists=True))
        rename = exp.AlterRename(this=exp.table_(name, quoted=True))
        self.execute(exp.Alter(this=exp.table_(physical, db=schema, quoted=True), kind="TABLE", actions=[rename]))

    def load_parquet(self, schema: str, name: str, folder: Path) -> int:
        """Create (or replace) `schema.name` from the Parquet file(s) at `folder`; its row count. Only the
        warehouses `kpiframe demo` loads through Parquet (Spark) have it."""
        raise NotImplementedError(f"{self.dialect} does not load Parquet files")

    def drop_superseded(self, schemas: set[str]) -> list[str]:
        """Drop, in `schemas`, the tables earlier publications left behind that no reader reaches any more;
        their `schema.name`. Called after a swap and by the next build after a killed one. Here a swap
        leaves nothing behind."""
        return []

    @contextmanager
    def transaction(self) -> Iterator[None]:
        raise NotImplementedError
        yield

    def close(self) -> None:
        raise NotImplementedError
