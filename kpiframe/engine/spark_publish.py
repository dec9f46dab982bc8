"""Publishing a build on Spark as ONE switch, though Spark SQL has no multi-statement transaction.

Every published name is a view over a version of its table (`metrics.x` reads `metrics.x__kf_v<run>`).
Switching those views one by one would let a reader see some tables of the new build beside others of
the old one for a few seconds, and a build killed half-way would leave them so. Instead every view the
build replaces is first *gated*: it reads its live version and the new one, each behind a condition on
one pointer view that names the run readers see,

    metrics.x = SELECT * FROM metrics.x__kf_v<old> WHERE (SELECT run_id FROM kpiframe.kf_published_run) <> '<new>'
                UNION ALL
                SELECT * FROM metrics.x__kf_v<new> WHERE (SELECT run_id FROM kpiframe.kf_published_run) = '<new>'

While the pointer names another run a gated view answers exactly what it answered before, so gating is
invisible. Then ONE `CREATE OR REPLACE VIEW` of the pointer (one metastore call) switches every gated
table at once: that is the build's commit. Afterwards each view is *settled* to read its new version
alone (again invisible) and the old versions are dropped.

- Killed or failed before the switch: readers see the old build everywhere; a failed build un-gates its
  views at once, a killed one leaves them gated (still answering the old rows) and the next build
  settles them and drops the versions nothing reads.
- Killed after the switch: readers see the new build everywhere; the next build settles.
- A table whose columns changed, a table new in this build, and a name still held by a plain table
  (made before versions existed) cannot be gated (a UNION needs the same columns on both sides); they
  switch one by one right after the pointer, within about a second of it (docs/spark.md).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlglot import exp

from kpiframe.errors import WarehouseError

if TYPE_CHECKING:
    from kpiframe.engine.spark import SparkWarehouse

POINTER_SCHEMA = "kpiframe"  # kpiframe's own schema (the run log's); created by every build before the swap
POINTER = "kf_published_run"
PUBLISHED = "kpiframe.published"  # a published name's property: the version it reads
CANDIDATE = "kpiframe.candidate"  # a gated name's property: the version it reads once the pointer names its run
VERSION_MARK = "__kf_v"  # <name>__kf_v<run id>
NO_RUN = "none"  # the pointer before any gated publication


def version_name(name: str, run_id: str) -> str:
    return f"{name}{VERSION_MARK}{run_id}"


def run_of(version: str) -> str:
    return version.rsplit(VERSION_MARK, 1)[1]


def pointer_table() -> exp.Table:
    return exp.table_(POINTER, db=POINTER_SCHEMA, quoted=True)


def published_run(warehouse: SparkWarehouse) -> str:
    """The run whose gated versions readers see now."""
    if not warehouse.session.catalog.tableExists(f"`{POINTER_SCHEMA}`.`{POINTER}`"):
        return NO_RUN
    return str(warehouse.query(exp.select("run_id").from_(pointer_table())).rows[0][0])


def view_statement(schema: str, name: str, reads: exp.Query, properties: dict[str, str]) -> exp.Create:
    """CREATE OR REPLACE VIEW schema.name TBLPROPERTIES (...) AS reads."""
    props = [exp.Property(this=exp.Literal.string(k), value=exp.Literal.string(v)) for k, v in properties.items()]
    return exp.Create(
        this=exp.table_(name, db=schema, quoted=True),
        kind="VIEW",
        replace=True,
        expression=reads,
        properties=exp.Properties(expressions=props),
    )


def reads_version(schema: str, version: str) -> exp.Select:
    return exp.select(exp.Star()).from_(exp.table_(version, db=schema, quoted=True))


def gated_reads(schema: str, old: str, new: str) -> exp.Query:
    """The old version while the pointer names another run, the new one once it names the new run."""
    now = exp.Subquery(this=exp.select("run_id").from_(pointer_table()))
    new_run = exp.Literal.string(run_of(new))
    old_rows = reads_version(schema, old).where(exp.NEQ(this=now.copy(), expression=new_run.copy()))
    new_rows = reads_version(schema, new).where(exp.EQ(this=now, expression=new_run))
    return exp.union(old_rows, new_rows, distinct=False)


@dataclass
class Gated:
    schema: str
    name: str
    old: str
    new: str


@dataclass
class OneSwitch:
    """The swap of one build: `publish` gates or defers each table, `commit` switches them all at once."""

    warehouse: SparkWarehouse
    gated: list[Gated] = field(default_factory=list)
    deferred: list[tuple[str, str, str]] = field(default_factory=list)  # (schema, name, new version)

    pointer: str | None = None  # the published run, read once per swap

    def publish(self, schema: str, name: str, new: str) -> None:
        if self.pointer is None:
            self.pointer = published_run(self.warehouse)
            if self.pointer == NO_RUN:  # a gated view must find the pointer when Spark analyses it
                schema_ = exp.Create(this=exp.to_identifier(POINTER_SCHEMA, quoted=True), kind="SCHEMA", exists=True)
                self.warehouse.execute(schema_)
                self.warehouse.execute(set_pointer(NO_RUN))
        old = self.warehouse.live_version(schema, name, self.pointer)
        if old is None or not self._same_columns(schema, old, new):
            self.deferred.append((schema, name, new))
            return
        properties = {PUBLISHED: old, CANDIDATE: new}
        self.warehouse.execute(view_statement(schema, name, gated_reads(schema, old, new), properties))
        self.gated.append(Gated(schema, name, old, new))

    def commit(self) -> None:
        runs = {run_of(g.new) for g in self.gated} | {run_of(new) for _, _, new in self.deferred}
        if self.gated:
            [run] = runs  # one build publishes the versions of one run
            self.warehouse.execute(set_pointer(run))
        for gated in self.gated:  # invisible: the pointer already selects the new version
            # the build is published now; a view left gated still answers the new rows, the next build settles it
            with contextlib.suppress(WarehouseError):
                self.warehouse.execute(view_statement(gated.schema, gated.name, *settled(gated.schema, gated.new)))
        for schema, name, new in self.deferred:
            self.warehouse.publish_now(schema, name, new)

    def rollback(self) -> None:
        """Un-gate (the pointer never named this run, so readers saw the old versions throughout)."""
        for gated in self.gated:
            self.warehouse.execute(view_statement(gated.schema, gated.name, *settled(gated.schema, gated.old)))

    def _same_columns(self, schema: str, old: str, new: str) -> bool:
        types = self.warehouse.column_types
        return list(types(schema, old).items()) == list(types(schema, new).items())


def settled(schema: str, version: str) -> tuple[exp.Query, dict[str, str]]:
    return reads_version(schema, version), {PUBLISHED: version}


def set_pointer(run_id: str) -> exp.Create:
    reads = exp.select(exp.Literal.string(run_id).as_("run_id"))
    return exp.Create(this=pointer_table(), kind="VIEW", replace=True, expression=reads)
