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

from kpiframe.build.runs import record_baseline_reset
from kpiframe.demo.contract import RAW_TABLES, SCHEMA
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
        with reported_failures(where, disk=target.data_disk):
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
    """The generator writes DuckDB SQL into the DuckDB connection the warehouse offers (`load_source`: its
    own, or a new in-memory one), and the warehouse takes the raw tables from there its own way
    (`load_tables`: nothing to do, COPY, or Parquet files)."""
    from kpiframe.demo.generator import generate_demo

    with target.load_source(SCHEMA) as source:
        counts = generate_demo(source, seed=seed, scale=scale, progress=progress)
        target.load_tables(source, SCHEMA, RAW_TABLES, progress)
    return counts


def load_raw_tables(
    source: duckdb.DuckDBPyConnection, target: Warehouse, progress: Callable[[str], None] | None = None
) -> None:
    """Replace the raw tables of the contract in `target` by those of the DuckDB `source`, all at once
    (`Warehouse.load_tables`)."""
    target.load_tables(source, SCHEMA, RAW_TABLES, progress)


load_raw_through_parquet = load_raw_tables  # its earlier name (tests/integration/test_spark_acceptance.py)


@contextlib.contextmanager
def reported_failures(where: str, disk: str | None = None) -> Iterator[None]:
    """Turn the warehouse's and the OS's errors into KpiframeErrors; our own bugs stay internal errors.
    `disk`: the disk to free when it is full, if not the one holding `where` (`Warehouse.data_disk`)."""
    try:
        yield
    except KpiframeError:
        raise
    except Exception as exc:
        error = translate(exc, where, disk)
        if error is None:
            raise
        raise error from exc


def translate(exc: BaseException, where: str, disk: str | None = None) -> KpiframeError | None:
    """The KpiframeError that explains `exc`, or None when it is not the warehouse's or the OS's."""
    detail = _first_line(exc)
    kind = _resource(exc)
    if kind == "disk":
        place = disk or f"the disk holding {where}"
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
