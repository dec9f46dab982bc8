"""Serving snapshots: how readers and builds share a DuckDB warehouse without waiting for each other.

DuckDB lets one process write a database file, or many processes read it, never both: a dashboard
holding a read-only connection would make every build fail, and a build would lock every reader out
for its whole length. So readers never open the warehouse file. After each successful build, still
holding the build's own connection (so nothing else writes), kpiframe checkpoints the warehouse and
copies the file to `<warehouse>.serving/<run id>.duckdb`, then points the symbolic link
`<warehouse>.serving/current.duckdb` at it with one atomic rename.

- A reader that opens `current.duckdb` gets one complete build and keeps it for as long as its
  connection lives, whatever builds come after (the old file stays readable through its open handle
  even once it is removed).
- A connection opened after the rename sees the new build; none ever sees half of one.
- Builds never wait for readers: they write the warehouse file, which no reader holds.

The snapshot is a plain file copy (sequential I/O, no re-encoding); the two newest snapshots are kept.
PostgreSQL needs none of this: its MVCC gives readers the same guarantees inside the warehouse.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from sqlglot import exp

from kpiframe.engine import Warehouse, adapter_class
from kpiframe.engine.duckdb_files import CURRENT, current_snapshot, serving_dir
from kpiframe.errors import WarehouseError
from kpiframe.load.specs import WarehouseSpec

KEEP = 2  # the current snapshot and the one before it


def reader_spec(spec: WarehouseSpec) -> WarehouseSpec:
    """Where a reader should connect: a DuckDB warehouse's current snapshot once there is one."""
    if not adapter_class(spec.type).serves_snapshots(spec):
        return spec
    snapshot = current_snapshot(spec.path)
    return spec if snapshot is None else spec.model_copy(update={"path": str(snapshot)})


def publish_snapshot(warehouse: Warehouse, warehouse_path: str, run_id: str) -> Path:
    """Copy the warehouse, as the build left it, to a new snapshot and make it the current one."""
    warehouse.execute(exp.Command(this="CHECKPOINT"))  # every committed change in the file, none in the WAL
    folder = serving_dir(warehouse_path)
    snapshot = folder / f"{run_id}.duckdb"
    partial = folder / f"{run_id}.duckdb.partial"
    try:
        folder.mkdir(exist_ok=True)
        shutil.copyfile(warehouse_path, partial)  # inside the kernel on Linux (sendfile), no Python buffers
        with open(partial, "rb+") as target:
            os.fsync(target.fileno())
        partial.rename(snapshot)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise WarehouseError(
            f"build {run_id} is published in the warehouse, but its serving snapshot could not be written: "
            f"{exc.strerror or exc}",
            code="KF540",
            hint=f"free disk space next to {warehouse_path} and build again; readers keep the previous build",
        ) from None
    link = folder / f".{run_id}.link"
    link.unlink(missing_ok=True)
    link.symlink_to(snapshot.name)
    link.replace(folder / CURRENT)  # atomic: a reader resolves the old target or the new, never neither
    _remove_old(folder)
    return snapshot


def _remove_old(folder: Path) -> None:
    """Keep the newest snapshots; readers still holding an older one keep reading it (POSIX unlink)."""
    snapshots = sorted(folder.glob("*.duckdb"), key=lambda p: p.stat().st_mtime, reverse=True)
    current = (folder / CURRENT).resolve()
    for old in [p for p in snapshots if not p.is_symlink() and p.resolve() != current][KEEP - 1 :]:
        old.unlink(missing_ok=True)
    for leftover in folder.glob("*.partial"):  # a copy a killed build never finished
        leftover.unlink(missing_ok=True)
