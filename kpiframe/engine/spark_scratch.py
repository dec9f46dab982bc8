"""`kpiframe diff`'s and `kpiframe test`'s scratch space on Spark: temporary views of the warehouse's own
session, which write nothing to the metastore or the warehouse folder (`SparkWarehouse.open_scratch`)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlglot import exp

from kpiframe.engine.base import QueryResult, Scratch

if TYPE_CHECKING:
    from kpiframe.engine.spark import SparkWarehouse


class SessionScratch(Scratch):
    """The warehouse's own session, writing nothing to the metastore or the warehouse folder: each object
    is a TEMPORARY VIEW of this session (`kf_scratch_<random>__<schema>__<name>`, so two diffs in one
    session never meet), read straight from the published tables; `close` drops them."""

    reads_warehouse = True

    def __init__(self, warehouse: SparkWarehouse) -> None:
        self.warehouse = warehouse
        self.prefix = f"kf_scratch_{uuid.uuid4().hex[:8]}"
        self.views: list[str] = []

    def source(self, schema: str, name: str) -> exp.Table:
        return exp.table_(name, db=schema, quoted=True)

    def place(self, schema: str, name: str) -> exp.Table:
        return exp.table_(f"{self.prefix}__{schema}__{name}", quoted=True)

    def create(self, place: exp.Table, query: exp.Query, view: bool) -> None:
        """A temporary view either way, so nothing is written to the metastore or the warehouse folder. One
        that stands for a table is cached (`CACHE LAZY TABLE`): computed by the first query that reads it,
        then kept by the session (in memory, spilling to Spark's local scratch disk), so that each
        metric does not compute the whole chain of models again. `close` drops and uncaches it."""
        if view:
            temporary = exp.Properties(expressions=[exp.TemporaryProperty()])
            statement: exp.Expr = exp.Create(
                this=place.copy(), kind="VIEW", expression=query, replace=True, properties=temporary
            )
        else:
            statement = exp.Cache(this=place.copy(), lazy=True, expression=query)
        self.warehouse.execute(statement)
        self.views.append(place.name)

    def create_empty(self, place: exp.Table, columns: list[exp.ColumnDef]) -> None:
        nulls = [exp.cast(exp.null(), column.args["kind"]).as_(column.this.copy()) for column in columns]
        self.create(place, exp.select(*nulls).where(exp.false()), view=True)

    def column_types(self, place: exp.Table) -> dict[str, str]:
        fields = self.warehouse.session.table(place.sql(dialect="spark")).schema.fields
        return {f.name: f.dataType.simpleString().upper() for f in fields}

    def query(self, statement: exp.Expr) -> QueryResult:
        return self.warehouse.query(statement)

    def close(self) -> None:
        for name in self.views:
            self.warehouse.session.catalog.dropTempView(name)
        self.views = []
