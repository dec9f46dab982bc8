"""The adapter protocol every warehouse implements."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlglot import exp


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


class Warehouse:
    """A connection that runs sqlglot trees in its own dialect."""

    dialect: str = "duckdb"

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

    @contextmanager
    def transaction(self) -> Iterator[None]:
        raise NotImplementedError
        yield

    def close(self) -> None:
        raise NotImplementedError
