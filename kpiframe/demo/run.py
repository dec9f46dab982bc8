"""`kpiframe demo` end to end: open the warehouse, write the demo there, and say plainly why it could not.

The generators replace raw.* in one transaction, so every failure reported here left raw.* as it was:
the messages say so. A full disk (ENOSPC, EFBIG past a file-size limit, a quota, PostgreSQL's disk_full)
and a lack of memory get their own codes, with the warehouse's location and what to do.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Callable, Iterator

import duckdb
from sqlglot import exp

from kpiframe.build.runs import record_baseline_reset
from kpiframe.engine import Warehouse
from kpiframe.errors import KpiframeError
from kpiframe.load.specs import WarehouseSpec

DISK_FULL = "KF520"
OUT_OF_MEMORY = "KF521"
REFUSED = "KF503"  # the warehouse refused a statement, as elsewhere

_DISK_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
# DuckDB reports the OS error only as text, e.g. 'Could not write file "w.duckdb": File too large'
_DISK_WORDS = ("no space left", "file too large", "disk quota", "disk full")
_PG_DISK_FULL, _PG_OUT_OF_MEMORY = "53100", "53200"  # SQLSTATEs
UNCHANGED = "raw.* was left as it was"


def write_demo(
    spec: WarehouseSpec, where: str, seed: int, scale: float, progress: Callable[[str], None] | None = None
) -> dict[str, int]:
    """Replace the raw tables of the warehouse `spec` (described as `where` in messages) by demo data."""
    from kpiframe.engine import connect

    target = connect(spec)
    try:
        with reported_failures(where, postgres=spec.type == "postgres"):
            counts = _generate(target, seed, scale, progress)
            # new demo data is not a shrunken load: the next build's volume guard starts afresh
            record_baseline_reset(target, f"kpiframe demo --seed {seed} --scale {scale}")
            target.close()  # DuckDB writes its checkpoint here: a full disk may show up only now
    except BaseException:
        with contextlib.suppress(Exception):  # already closed, or a dead database: the first error matters
            target.close()
        raise
    return counts


def _generate(target: Warehouse, seed: int, scale: float, progress: Callable[[str], None] | None) -> dict[str, int]:
    from kpiframe.engine.duckdb import DuckDBWarehouse
    from kpiframe.engine.postgres import PostgresWarehouse

    if isinstance(target, PostgresWarehouse):  # generated in DuckDB, then copied over
        from kpiframe.demo.to_postgres import generate_demo_on_postgres

        return generate_demo_on_postgres(target, seed, scale, progress)
    from kpiframe.demo.generator import generate_demo

    if isinstance(target, DuckDBWarehouse):
        return generate_demo(target.con, seed=seed, scale=scale, progress=progress)
    return _generate_through_parquet(target, seed, scale, progress)


def _generate_through_parquet(
    target: Warehouse, seed: int, scale: float, progress: Callable[[str], None] | None
) -> dict[str, int]:
    """Generated in an in-memory DuckDB, then loaded into `target` by `load_raw_through_parquet`."""
    from kpiframe.build.runs import ensure_schemas
    from kpiframe.demo.contract import SCHEMA
    from kpiframe.demo.generator import generate_demo

    ensure_schemas(target, {SCHEMA})  # a warehouse that refuses the schema fails before the generating
    with duckdb.connect() as source:
        counts = generate_demo(source, seed=seed, scale=scale, progress=progress)
        load_raw_through_parquet(source, target, progress)
    return counts


def load_raw_through_parquet(
    source: duckdb.DuckDBPyConnection, target: Warehouse, progress: Callable[[str], None] | None = None
) -> None:
    """Copy the raw tables of the contract from the DuckDB `source` into `target`: each written to Parquet,
    loaded into `raw.<table>__kf_new` by the warehouse (`Warehouse.load_parquet`, Spark's), and only when
    all are loaded published the way a build publishes (`stage_for_publish`, `publish_table`): on Spark
    each raw name switches to its new table in one metastore call, and a failure before that leaves raw.*
    as it was."""
    import tempfile
    import uuid
    from pathlib import Path

    from kpiframe.build.runs import ensure_schemas
    from kpiframe.demo.contract import RAW_TABLES, SCHEMA
    from kpiframe.demo.staging import raw_table, staging_name

    ensure_schemas(target, {SCHEMA})
    with tempfile.TemporaryDirectory(prefix="kf-demo-") as folder:
        for table in RAW_TABLES:
            copy = exp.Copy(this=raw_table(table), kind=False, files=[exp.Literal.string(f"{folder}/{table}.parquet")])
            copy.set("params", [exp.CopyParameter(this=exp.var("FORMAT"), expression=exp.var("PARQUET"))])
            source.execute(copy.sql(dialect="duckdb"))
            target.load_parquet(SCHEMA, staging_name(table), Path(folder) / f"{table}.parquet")
            if progress is not None:
                progress(f"{table}: copied to {target.dialect}")
    version = uuid.uuid4().hex[:12]
    physical = {table: target.stage_for_publish(SCHEMA, table, staging_name(table), version) for table in RAW_TABLES}
    with target.transaction():
        for table in RAW_TABLES:
            target.publish_table(SCHEMA, table, physical[table])
    target.drop_superseded({SCHEMA})


@contextlib.contextmanager
def reported_failures(where: str, postgres: bool = False) -> Iterator[None]:
    """Turn the warehouse's and the OS's errors into KpiframeErrors; our own bugs stay internal errors."""
    try:
        yield
    except KpiframeError:
        raise
    except Exception as exc:
        error = translate(exc, where, postgres)
        if error is None:
            raise
        raise error from exc


def translate(exc: BaseException, where: str, postgres: bool = False) -> KpiframeError | None:
    """The KpiframeError that explains `exc`, or None when it is not the warehouse's or the OS's."""
    detail = _first_line(exc)
    kind = _resource(exc)
    if kind == "disk":
        place = "the PostgreSQL server's disk" if postgres else f"the disk holding {where}"
        return KpiframeError(
            f"out of disk space writing the demo data into {where} ({detail}); {UNCHANGED}",
            code=DISK_FULL,
            hint=f"free space on {place} (while it writes, the demo needs room for the new "
            "tables beside the old ones), or rerun `kpiframe demo` with a smaller --scale",
        )
    if kind == "memory":
        return KpiframeError(
            f"out of memory generating the demo data for {where} ({detail}); {UNCHANGED}",
            code=OUT_OF_MEMORY,
            hint="rerun `kpiframe demo` with a smaller --scale, or raise the warehouse's "
            "memory_limit in kpi_project.yml",
        )
    if _is_warehouse_error(exc):
        return KpiframeError(
            f"the warehouse {where} refused the demo data: {detail}; {UNCHANGED}",
            code=REFUSED,
            hint="rerun with --debug for the details",
        )
    return None


def _resource(exc: BaseException) -> str | None:
    """'disk', 'memory' or None: which resource ran out, if that is what `exc` says."""
    if isinstance(exc, (duckdb.OutOfMemoryException, MemoryError)):
        return "memory"
    if isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS:
        return "disk"
    sqlstate = getattr(exc, "sqlstate", None)  # psycopg's errors carry PostgreSQL's code
    if sqlstate in (_PG_DISK_FULL, _PG_OUT_OF_MEMORY):
        return "disk" if sqlstate == _PG_DISK_FULL else "memory"
    if _is_warehouse_error(exc) or isinstance(exc, OSError):
        text = str(exc).lower()
        if any(word in text for word in _DISK_WORDS):
            return "disk"
        if "out of memory" in text:
            return "memory"
    return None


def _is_warehouse_error(exc: BaseException) -> bool:
    if isinstance(exc, duckdb.Error):
        return True
    try:
        import psycopg
    except ImportError:  # DuckDB users may not have the driver
        return False
    return isinstance(exc, psycopg.Error)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
