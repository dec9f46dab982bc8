"""`kpiframe demo` end to end: open the warehouse, write the demo there, and say plainly why it could not.

The generators replace raw.* in one transaction, so every failure reported here left raw.* as it was:
the messages say so. A full disk (ENOSPC, EFBIG past a file-size limit, a quota, PostgreSQL's disk_full)
and a lack of memory get their own codes, with the warehouse's location and what to do.
"""

from __future__ import annotations

import contextlib
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

UNCHANGED = "raw.* was left as it was"


def write_demo(
    spec: WarehouseSpec, where: str, seed: int, scale: float, progress: Callable[[str], None] | None = None
) -> dict[str, int]:
    """Replace the raw tables of the warehouse `spec` (described as `where` in messages) by demo data."""
    from kpiframe.engine import connect

    target = connect(spec)
    try:
        with reported_failures(where, target):
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
def reported_failures(where: str, target: type[Warehouse] | Warehouse) -> Iterator[None]:
    """Turn the warehouse's and the OS's errors into KpiframeErrors; our own bugs stay internal errors.
    `target`'s adapter tells what an error says (`Warehouse.failure_kind`) and which disk to free."""
    try:
        yield
    except KpiframeError:
        raise
    except Exception as exc:
        error = translate(exc, where, target)
        if error is None:
            raise
        raise error from exc


def translate(exc: BaseException, where: str, target: type[Warehouse] | Warehouse) -> KpiframeError | None:
    """The KpiframeError that explains `exc`, or None when it is not the warehouse's or the OS's."""
    detail = _first_line(exc)
    kind = target.failure_kind(exc)
    if kind == "disk":
        place = target.data_disk or f"the disk holding {where}"
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
    if kind == "refused":
        return KpiframeError(
            f"the warehouse {where} refused the demo data: {detail}; {UNCHANGED}",
            code=REFUSED,
            hint="rerun with --debug for the details",
        )
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
