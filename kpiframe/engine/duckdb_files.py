"""DuckDB files on disk, without sqlglot or the driver: which file a reader opens (the serving snapshot of
kpiframe/build/serving.py) and which files are refused. The adapter (kpiframe.engine.duckdb) and the
replay of a cached query (kpiframe.engine.replay) both open files through these rules."""

from __future__ import annotations

from pathlib import Path

from kpiframe.errors import WarehouseError

CURRENT = "current.duckdb"  # the link readers open, to the newest complete build's snapshot

# The first bytes of a DuckDB file hold this magic at offset 8; other files are refused before DuckDB sees
# them, because DuckDB opens a SQLite file (and others) through an extension it would fetch and load.
_MAGIC, _MAGIC_AT = b"DUCK", 8
_LOOKS_LIKE = (
    (b"SQLite format 3\0", "a SQLite database"),
    (b"PAR1", "a Parquet file"),
    (b"PGDMP", "a PostgreSQL dump"),
)


def serving_dir(warehouse_path: str | Path) -> Path:
    return Path(f"{warehouse_path}.serving")


def current_snapshot(warehouse_path: str | Path) -> Path | None:
    """The stable path readers open (a link to the newest complete build), or None before the first."""
    link = serving_dir(warehouse_path) / CURRENT
    return link if link.exists() else None


def refuse_foreign_file(path: str) -> None:
    """An existing file that is not a DuckDB database is refused by its first bytes."""
    file = Path(path)
    if path == ":memory:" or not file.is_file():
        return
    try:
        with file.open("rb") as handle:
            head = handle.read(16)  # enough for the DuckDB magic and for SQLite's "SQLite format 3\0"
    except OSError:
        return  # unreadable: DuckDB's own error says why
    # a short head may be a file another process is creating: DuckDB's own open then decides
    if len(head) >= _MAGIC_AT + len(_MAGIC) and head[_MAGIC_AT : _MAGIC_AT + len(_MAGIC)] != _MAGIC:
        raise not_duckdb(path, head)


def not_duckdb(path: str, head: bytes) -> WarehouseError:
    kind = next((name for magic, name in _LOOKS_LIKE if head.startswith(magic)), None)
    looks = f" (it is {kind})" if kind else ""
    return WarehouseError(
        f"warehouse {path} is not a DuckDB database file{looks}",
        code="KF505",
        hint="point --warehouse (or warehouse.path in kpi_project.yml) at a DuckDB file, or at a path that does "
        "not exist yet to create one; for PostgreSQL pass its DSN (postgresql://... or 'host=... dbname=...'). "
        "kpiframe never loads DuckDB extensions, so it cannot read other formats as a warehouse",
    )
