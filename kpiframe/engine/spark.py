"""Apache Spark: the same project on a Spark SQL engine, local or on a cluster (docs/spark.md).

Everything kpiframe runs is a sqlglot tree rendered for Spark; only the session, the catalog lookups and
the two statements Spark's own tables lack are Spark-specific:

- Tables are Parquet, registered in a Hive metastore. Locally that metastore is an embedded Derby
  database in the warehouse folder, so a build in one process and a query in the next see the same
  tables (Spark's in-memory catalog forgets them when the process ends). Embedded Derby admits one
  process at a time: like DuckDB's file, the open metastore is the build lock.
- Parquet tables have no UPDATE or DELETE (only Delta or Iceberg tables do). kpiframe's own small
  tables (the run log) need them, so the adapter rewrites such a statement into a new table with the
  changed rows, swapped in by DROP and RENAME.
- Spark has no multi-statement transaction: `transaction()` runs its statements one by one, and a
  failure half-way leaves the earlier ones done. So a build publishes differently: every published
  table is a view, `metrics.x` = `SELECT * FROM metrics.x__kf_v<run>`, over a table the build wrote
  and checked; the swap gates each view on one pointer view and switches them all with one
  `CREATE OR REPLACE VIEW` of the pointer (kpiframe/engine/spark_publish.py), then drops the versions
  no view reads any more. To everything above this module such a view is a table (`object_type`,
  `list_objects`).

Beside this module: `spark_session` starts the session, `spark_sql` rewrites the sqlglot trees Spark must
get otherwise (`spark_tree`), `spark_scratch` is the scratch space of temporary views (`SessionScratch`)
and `spark_publish` the one switch of a build's views.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlglot import exp

from kpiframe.engine import spark_publish
from kpiframe.engine.base import QueryResult, Scratch, Warehouse
from kpiframe.engine.spark_scratch import SessionScratch
from kpiframe.engine.spark_session import first_line, start_hint, start_session
from kpiframe.engine.spark_sql import spark_tree
from kpiframe.errors import WarehouseError
from kpiframe.load.specs import WarehouseSpec

__all__ = ["SessionScratch", "SparkWarehouse", "spark_tree"]

REWRITE_SUFFIX = "__kf_rewrite"
VERSION_MARK = spark_publish.VERSION_MARK  # <name>__kf_v<run id>: the table a published name's view reads
VERSION = re.compile(r".+__kf_v[0-9a-f]{12}")
PUBLISHED = spark_publish.PUBLISHED  # the view's property naming the version it reads


class SparkWarehouse(Warehouse):
    dialect = "spark"
    great_expectations = False  # no SQLAlchemy dialect: expectations run as kpiframe's own Spark SQL
    runs_metric_tests = True  # in temporary views of the session (SessionScratch): the metastore is not written

    def __init__(self, spec: WarehouseSpec, read_only: bool = False) -> None:
        try:
            import pyspark  # noqa: F401  imported here: DuckDB users never need Spark
        except ImportError:
            raise WarehouseError(
                "the Spark warehouse needs pyspark, which is not installed",
                code="KF502",
                hint="pip install 'kpiframe[spark]' (and a Java 17 or 21 runtime for Spark local)",
            ) from None
        self.time_zone = spec.time_zone
        self.path = spec.warehouse_dir
        self.read_only = read_only  # Spark has no read-only session: kpiframe's readers only read
        self._switch: spark_publish.OneSwitch | None = None  # the swap of the build under way
        try:
            self.session = start_session(spec)
        except Exception as exc:
            raise WarehouseError(
                f"cannot start Spark ({spec.master}): {first_line(exc)}",
                code="KF502",
                hint=start_hint(exc),
            ) from None
        if not spec.master.startswith("sc://"):
            self._open_metastore(spec)

    def _open_metastore(self, spec: WarehouseSpec) -> None:
        """Touch the catalog now: a metastore another process holds is refused here, in the words of a
        held DuckDB file lock (which `kpiframe build --wait` retries), rather than at the first statement."""
        try:
            self.session.catalog.databaseExists("default")
        except Exception as exc:
            text = str(exc)
            if any(word in text for word in ("XSDB6", "Another instance of Derby", "SessionHiveMetaStoreClient")):
                raise WarehouseError(
                    f"cannot open warehouse {spec.warehouse_dir}: another process holds its lock",
                    code="KF502",
                    hint="its embedded Derby metastore admits one process at a time: wait for the other kpiframe "
                    "command to finish; a shared metastore has no such limit (docs/spark.md)",
                ) from None
            raise _refusal(exc) from None

    def render(self, statement: exp.Expr) -> str:
        return spark_tree(statement).sql(dialect=self.dialect)

    @classmethod
    def one_row_per(cls, times: exp.Expr) -> exp.Expr:
        return exp.Explode(this=exp.Anonymous(this="sequence", expressions=[exp.Literal.number(1), times]))

    @classmethod
    def describe_location(cls, spec: WarehouseSpec) -> str:
        if spec.master.startswith("sc://"):  # the server owns the catalog and the warehouse folder
            return f"Spark Connect ({spec.master}, tables where its server keeps them)"
        return f"Spark ({spec.master}, tables in {spec.warehouse_dir})"

    @classmethod
    def scratch_unavailable(cls, spec: WarehouseSpec) -> str | None:
        return None

    @classmethod
    def open_scratch(cls, spec: WarehouseSpec | None) -> Scratch:
        if spec is None:  # no warehouse: nothing to read, and no session worth starting for it
            raise NotImplementedError("a Spark scratch space reads a Spark warehouse")
        return SessionScratch(cls(spec, read_only=True))

    # --- statements ---------------------------------------------------------------------------------
    def execute(self, statement: exp.Expr) -> None:
        if isinstance(statement, exp.Update | exp.Delete):
            self._rewrite(statement)
            return
        if isinstance(statement, exp.Comment):
            statement = self._comment_target(statement)
        if isinstance(statement, exp.Insert):
            statement = self._typed_values(statement)
        self._sql(self.render(statement))

    def query(self, statement: exp.Expr) -> QueryResult:
        frame = self._sql(self.render(statement))
        try:
            rows = frame.collect()
        except Exception as exc:
            raise _refusal(exc) from None
        return QueryResult(list(frame.columns), [tuple(row) for row in rows])

    def _sql(self, text: str) -> Any:
        try:
            return self.session.sql(text)
        except Exception as exc:  # pyspark's AnalysisException, ParseException, Py4JJavaError, ...
            raise _refusal(exc) from None

    # --- the catalog --------------------------------------------------------------------------------
    def table_exists(self, schema: str, name: str) -> bool:
        return self.object_type(schema, name) is not None

    def object_type(self, schema: str, name: str) -> str | None:
        """'table' for a published table, which is a view over its current version, as for a table."""
        kind = self._catalog_type(schema, name)
        if kind == "view" and self._published(schema, name):
            return "table"
        return kind

    def _catalog_type(self, schema: str, name: str) -> str | None:
        catalog = self.session.catalog
        if not catalog.databaseExists(schema) or not catalog.tableExists(f"`{schema}`.`{name}`"):
            return None
        kind = catalog.getTable(f"`{schema}`.`{name}`").tableType
        return "view" if str(kind).upper() == "VIEW" else "table"

    def _published(self, schema: str, name: str) -> str | None:
        """The version a published name's view reads now; None for any other view."""
        return self.live_version(schema, name)

    def live_version(self, schema: str, name: str, pointer: str | None = None) -> str | None:
        """The version readers of the view `schema.name` see: a gated view's new version once the pointer
        names its run (kpiframe/engine/spark_publish.py), else the version it was published with. None for
        a plain table, a missing name, or a view that is not a published table. `pointer`: the published
        run, when the caller has read it already."""
        if self._catalog_type(schema, name) != "view":
            return None
        properties = self._properties(schema, name)
        candidate = properties.get(spark_publish.CANDIDATE)
        if candidate is not None:
            now = pointer if pointer is not None else spark_publish.published_run(self)
            if spark_publish.run_of(candidate) == now:
                return candidate
        return properties.get(PUBLISHED)

    def _properties(self, schema: str, name: str) -> dict[str, str]:
        # SHOW TBLPROPERTIES has no sqlglot tree (it parses as an opaque Command): the one statement as text
        return {str(k): str(v) for k, v in self._sql(f"SHOW TBLPROPERTIES {_name(schema, name)}").collect()}

    def column_types(self, schema: str, name: str) -> dict[str, str]:
        if not self.table_exists(schema, name):
            return {}
        fields = self.session.table(f"`{schema}`.`{name}`").schema.fields
        return {f.name: f.dataType.simpleString().upper() for f in fields}

    def list_objects(self, schemas: set[str]) -> list[tuple[str, str, str]]:
        """(schema, name, 'table' or 'view') of everything in `schemas`, which Spark has no
        information_schema for: a published table as a table, its versions not at all."""
        found = []
        for schema, name, kind in self._catalog_objects(schemas):
            if kind == "view":
                found.append((schema, name, "table" if self._published(schema, name) else "view"))
            elif not VERSION.fullmatch(name):
                found.append((schema, name, kind))
        return found

    def _catalog_objects(self, schemas: set[str]) -> list[tuple[str, str, str]]:
        found = []
        for schema in sorted(schemas):
            if self.session.catalog.databaseExists(schema):
                for item in self.session.catalog.listTables(schema):
                    if not item.isTemporary:
                        found.append((schema, item.name, "view" if item.tableType == "VIEW" else "table"))
        return found

    # --- publishing without transactions: views over versions, switched by one pointer -------------
    def stage_for_publish(self, schema: str, name: str, staging: str, run_id: str) -> str:
        """Rename the checked staging table to this build's version of `name`, which no reader sees yet;
        done for every table before the swap starts, so that the swap is short."""
        version = spark_publish.version_name(name, run_id)
        rename = exp.AlterRename(this=exp.table_(version, db=schema, quoted=True))
        self.execute(exp.Alter(this=exp.table_(staging, db=schema, quoted=True), kind="TABLE", actions=[rename]))
        return version

    def drop_view_before_swap(self, schema: str, name: str) -> None:
        """Nothing: a view model is replaced in place (CREATE OR REPLACE VIEW), never missing."""

    def publish_table(self, schema: str, name: str, physical: str) -> None:
        """Inside the build's `transaction()`: gate the view `schema.name` so that it switches to `physical`
        with every other table of the build, at the commit (kpiframe/engine/spark_publish.py). Outside one
        (`kpiframe demo`): switch it now."""
        if self._switch is not None:
            self._switch.publish(schema, name, physical)
        else:
            self.publish_now(schema, name, physical)

    def publish_now(self, schema: str, name: str, physical: str) -> None:
        """Point the view `schema.name` at `physical`: one metastore call, so a reader resolves the name
        to the old version or to the new one, each complete. A table of that name (built before versions,
        or loaded by hand) is dropped first: the one moment the name is missing."""
        if self._catalog_type(schema, name) == "table":
            self.execute(exp.Drop(tables=[exp.table_(name, db=schema, quoted=True)], kind="TABLE", exists=True))
        reads, properties = spark_publish.settled(schema, physical)
        self.execute(spark_publish.view_statement(schema, name, reads, properties))

    def drop_superseded(self, schemas: set[str]) -> list[str]:
        """Settle the views a killed build left gated, then drop every version in `schemas` that no
        published view reads: the ones a swap replaced, and those a killed build readied but never
        published."""
        pointer = spark_publish.published_run(self)
        objects = self._catalog_objects(schemas)
        read: set[tuple[str, str | None]] = set()
        for schema, name, kind in objects:
            if kind == "view":
                live = self.live_version(schema, name, pointer)
                if live is not None and spark_publish.CANDIDATE in self._properties(schema, name):
                    self.execute(spark_publish.view_statement(schema, name, *spark_publish.settled(schema, live)))
                read.add((schema, live))
        dropped = []
        for schema, name, kind in objects:
            if kind == "table" and VERSION.fullmatch(name) and (schema, name) not in read:
                self.execute(exp.Drop(tables=[exp.table_(name, db=schema, quoted=True)], kind="TABLE", exists=True))
                dropped.append(f"{schema}.{name}")
        return dropped

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Spark SQL runs statements one by one, and they stay run. The tables a build publishes inside
        one are switched together at its end (kpiframe/engine/spark_publish.py); a failure inside leaves
        readers on the old versions."""
        if self._switch is not None:  # nested: the outer one commits
            yield
            return
        self._switch = switch = spark_publish.OneSwitch(self)
        try:
            yield
        except BaseException:
            self._switch = None
            with contextlib.suppress(WarehouseError):  # best effort: the next build settles what is left
                switch.rollback()
            raise
        self._switch = None
        switch.commit()

    def close(self) -> None:
        # the session stays up for the rest of the process (getOrCreate hands it to the next connect);
        # the JVM goes when the process does
        pass

    def _comment_target(self, comment: exp.Comment) -> exp.Expr:
        """A comment on a published table goes where Spark keeps one: the table's on its view (as the
        view's `comment` property), a column's on the version the view reads (views take no COMMENT ON)."""
        target = comment.this
        schema, name = (target.db, target.name) if isinstance(target, exp.Table) else (target.db, target.table)
        physical = self._published(schema, name) if self._catalog_type(schema, name) == "view" else None
        if physical is None:
            return comment
        if isinstance(target, exp.Table):
            text = comment.expression.sql(dialect="spark")
            return exp.Command(
                this="ALTER", expression=f"VIEW {_name(schema, name)} SET TBLPROPERTIES ('comment' = {text})"
            )
        moved = comment.copy()
        moved.this.set("table", exp.to_identifier(physical, quoted=True))
        return moved

    def _typed_values(self, insert: exp.Insert) -> exp.Insert:
        """Cast each VALUES literal to its column's type: Spark's store assignment refuses to write a
        string into a TIMESTAMP column, which DuckDB and PostgreSQL convert on their own."""
        into, values = insert.this, insert.expression
        if not isinstance(into, exp.Schema) or not isinstance(values, exp.Values):
            return insert
        target = into.this
        assert isinstance(target, exp.Table)
        types = self.column_types(target.db, target.name)
        names = [column.name for column in into.expressions]
        typed = insert.copy()
        for row in typed.expression.expressions:
            for name, value in zip(names, row.expressions, strict=True):
                if isinstance(value, exp.Literal) and name in types:
                    value.replace(exp.cast(value.copy(), exp.DataType.build(types[name], dialect="spark")))
        return typed

    # --- UPDATE and DELETE on Parquet tables ----------------------------------------------------------
    def _rewrite(self, statement: exp.Update | exp.Delete) -> None:
        """Apply an UPDATE or DELETE by writing the table anew: kpiframe's own small tables only."""
        target = statement.this
        assert isinstance(target, exp.Table)
        schema, name = target.db, target.name
        where = statement.args.get("where")
        condition = where.this if isinstance(where, exp.Where) else exp.true()
        # a row the statement touches is one whose condition is TRUE (not NULL)
        hit = exp.func("coalesce", condition.copy(), exp.false())
        if isinstance(statement, exp.Delete):
            rows = exp.select(exp.Star()).from_(target.copy()).where(exp.not_(hit))
        else:
            assigned = {e.this.name: e.expression for e in statement.expressions if isinstance(e, exp.EQ)}
            columns = [
                exp.If(this=hit.copy(), true=assigned[c].copy(), false=exp.column(c, quoted=True)).as_(c, quoted=True)
                if c in assigned
                else exp.column(c, quoted=True)
                for c in self.column_types(schema, name)
            ]
            rows = exp.select(*columns).from_(target.copy())
        rewritten = exp.table_(name + REWRITE_SUFFIX, db=schema, quoted=True)
        self._sql(self.render(exp.Drop(tables=[rewritten.copy()], kind="TABLE", exists=True)))
        self._sql(self.render(exp.Create(this=rewritten.copy(), kind="TABLE", expression=rows)))
        self._sql(self.render(exp.Drop(tables=[target.copy()], kind="TABLE", exists=True)))
        rename = exp.Alter(
            this=rewritten, kind="TABLE", actions=[exp.AlterRename(this=exp.table_(name, db=schema, quoted=True))]
        )
        self._sql(self.render(rename))

    def load_parquet(self, schema: str, name: str, folder: Path) -> int:
        """Create (or replace) `schema.name` from the Parquet files in `folder`, copied into the warehouse;
        its row count."""
        frame = self.session.read.parquet(str(folder))
        with contextlib.suppress(WarehouseError):
            self._sql(
                self.render(exp.Drop(tables=[exp.table_(name, db=schema, quoted=True)], kind="TABLE", exists=True))
            )
        try:
            frame.write.mode("overwrite").format("parquet").saveAsTable(f"`{schema}`.`{name}`")
        except Exception as exc:
            raise _refusal(exc) from None
        return int(self.session.table(f"`{schema}`.`{name}`").count())


def _name(schema: str, name: str) -> str:
    return exp.table_(name, db=schema, quoted=True).sql(dialect="spark")


def _refusal(exc: Exception) -> WarehouseError:
    return WarehouseError(f"the warehouse refused a statement: {first_line(exc)}", code="KF503")
