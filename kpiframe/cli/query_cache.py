"""Repeated `kpiframe query` requests without loading the project again.

Most of a query's time goes to importing the compiler and loading the project (reading, validating and
compiling every file); the SQL that comes out depends only on the project's files, the request and
kpiframe itself. So after answering, the command keeps the SQL text it ran under
target/query_cache/<key>.json, where the key is a hash of everything that decided that text:

- the request (metrics, dimensions, grain, range, filter, comparison, order, limit, saved query) and
  --warehouse;
- the content of every file the loader reads: kpi_project.yml, definitions.lock, and every file under
  macros/, models/ and metrics/ (tests/test_query_cache.py checks this list against the files a load
  really opens);
- every KPIFRAME_* environment variable (KPIFRAME_WAREHOUSE chooses the warehouse);
- the Python version, kpiframe's own source files (their sizes and modification times) and sqlglot's
  version, which write the SQL.

A later request with the same key runs the kept text against the current build (kpiframe.engine.replay):
the data is always read anew, only the compiling is skipped. A missing or unreadable entry, an engine
without replay, or any error while replaying falls back to the full path, which reports errors as usual.
`kpiframe query --no-cache` always takes the full path.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from kpiframe.engine.result import QueryResult

FORMAT = 1  # of an entry: a change of its fields changes every key
KEEP = 256  # entries; the least recently written go first
PROJECT_FILES = ("kpi_project.yml", "definitions.lock")
PROJECT_FOLDERS = ("macros", "models", "metrics")
_PACKAGE = Path(__file__).resolve().parents[1]


@dataclass
class CachedAnswer:
    """What the full path would print: the rows, each period's coverage, units and formats."""

    result: QueryResult
    coverage: dict[date, Any]
    units: dict[str, str]
    formats: dict[str, str]


def cache_dir(project_dir: str | Path) -> Path:
    return Path(project_dir).resolve() / "target" / "query_cache"


def request_key(project_dir: str | Path, warehouse: str | None, request: Mapping[str, Any]) -> str | None:
    """The hash of everything that decides a request's SQL; None when a project file cannot be read."""
    root = Path(project_dir).resolve()
    digest = hashlib.sha256()
    fixed = {
        "format": FORMAT,
        "python": sys.version,
        "sqlglot": _sqlglot_version(),
        "request": request,
        "warehouse": warehouse,
        "root": str(root),
        "env": sorted((k, v) for k, v in os.environ.items() if k.startswith("KPIFRAME_")),
    }
    digest.update(json.dumps(fixed, sort_keys=True, default=str).encode())
    try:  # a file removed or unreadable while we look: no key, so the full path runs and says what is wrong
        for name, stat in _code_files():
            digest.update(f"\0code {name} {stat}".encode())
        for path in project_files(root):
            digest.update(f"\0file {path.relative_to(root)}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    except OSError:
        return None
    return digest.hexdigest()


def project_files(root: Path) -> list[Path]:
    """Every file the loader may read, in a stable order (a superset of what kpiframe.load.read reads)."""
    found = [root / name for name in PROJECT_FILES if (root / name).is_file()]
    for folder in PROJECT_FOLDERS:
        if (root / folder).is_dir():
            found += sorted(p for p in (root / folder).rglob("*") if p.is_file())
    return found


def cached_answer(project_dir: str | Path, key: str) -> CachedAnswer | None:
    """The answer from the entry `key` run against the current build, or None (no entry, or it cannot be
    replayed here): the caller then takes the full path."""
    entry = _read(cache_dir(project_dir) / f"{key}.json")
    if entry is None:
        return None
    from kpiframe.engine.replay import replay
    from kpiframe.sql.coverage import answer_coverage

    try:
        results = replay(entry["recipe"], entry["statements"])
    except Exception:  # noqa: BLE001  # the full path reports the warehouse's errors with their hints
        return None
    found: dict[date, Any] = {}
    if len(results) > 1:  # the second statement reads the last day with data
        found = dict(answer_coverage(results[0].rows, entry["grain"], entry["periods"], results[1].rows[0][0]))
    return CachedAnswer(results[0], found, entry["units"], entry["formats"])


def store(project_dir: str | Path, key: str, entry: Mapping[str, Any]) -> None:
    """Keep an answered request's SQL; a project folder that cannot be written simply has no cache."""
    folder = cache_dir(project_dir)
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        # written whole, then renamed: a reader never sees half an entry
        with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".partial", delete=False, encoding="utf-8") as out:
            json.dump(entry, out)
        os.replace(out.name, folder / f"{key}.json")
        _prune(folder)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    fields = {"recipe": dict, "statements": list, "grain": str, "periods": bool, "units": dict, "formats": dict}
    if not isinstance(entry, dict) or any(not isinstance(entry.get(k), kind) for k, kind in fields.items()):
        return None
    return entry


def _prune(folder: Path) -> None:
    entries = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    for stale in entries[:-KEEP]:
        stale.unlink(missing_ok=True)


def _code_files() -> Iterator[tuple[str, tuple[int, int]]]:
    """kpiframe's Python files with their size and modification time: an edited or upgraded kpiframe (an
    editable install included) writes other SQL, so its entries must not match."""
    for path in sorted(_PACKAGE.rglob("*.py")):
        stat = path.stat()
        yield str(path.relative_to(_PACKAGE)), (stat.st_size, stat.st_mtime_ns)


def _sqlglot_version() -> str:
    """sqlglot's version, read from its package without importing it (its import is what a hit saves)."""
    spec = importlib.util.find_spec("sqlglot")
    if spec is None or spec.origin is None:
        return "missing"
    version_file = Path(spec.origin).parent / "_version.py"
    try:
        return version_file.read_text(encoding="utf-8")
    except OSError:
        return "unknown"
