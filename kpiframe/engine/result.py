"""What a query returns: the rows and their column names (no SQL and no driver here, so that the cached
`kpiframe query` path can import it without sqlglot; see kpiframe/cli/query_cache.py)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from decimal import Decimal
from types import ModuleType
from typing import TYPE_CHECKING, Any

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
