"""Discover project files, read them, and parse YAML (kpiframe.load.yaml_parse) through the parse cache."""

from __future__ import annotations

import contextlib
import hashlib
import pickle
from pathlib import Path

from kpiframe.errors import Diagnostic, SourceLocation, relative
from kpiframe.load.yaml_parse import MAX_ALIAS_VALUES as MAX_ALIAS_VALUES
from kpiframe.load.yaml_parse import KeyPath as KeyPath
from kpiframe.load.yaml_parse import YamlDocument as YamlDocument
from kpiframe.load.yaml_parse import parse_yaml as parse_yaml

# What a YAML file holds before a pydantic spec has checked it (ruamel's scalars are plain Python ones).
YamlValue = str | int | float | bool | None | list["YamlValue"] | dict[str, "YamlValue"]

# A project file is written by hand: a bigger one is a mistake or an attack, and parsing YAML or SQL
# of that size in pure Python would take minutes.
MAX_FILE_BYTES = 5_000_000


def read_text(path: Path, root: Path, problems: list[Diagnostic]) -> str | None:
    """Read a project file as UTF-8; a file that is not UTF-8, or too big, becomes a diagnostic, not a crash."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            problems.append(
                Diagnostic(
                    "KF002",
                    f"file is larger than {MAX_FILE_BYTES // 1_000_000} MB ({path.stat().st_size:,} bytes)",
                    SourceLocation(relative(path, root)),
                    hint="split it, or keep data out of project files",
                )
            )
            return None
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        before = exc.object[: exc.start]  # the line and column of the first bad byte, counted in bytes
        line, column = before.count(b"\n") + 1, exc.start - (before.rfind(b"\n") + 1) + 1
        problems.append(
            Diagnostic(
                "KF002",
                f"file is not valid UTF-8: byte 0x{exc.object[exc.start]:02x} at line {line}, column {column} "
                f"(offset {exc.start})",
                SourceLocation(relative(path, root)),
                hint="save the file as UTF-8 (it may be Latin-1 or Windows-1252)",
            )
        )
    except OSError as exc:
        problems.append(Diagnostic("KF002", f"cannot read file: {exc.strerror}", SourceLocation(relative(path, root))))
    return None


def parse_cache(root: Path) -> Path:
    """Where a project's parsed YAML is kept between runs (see parse_yaml_cached)."""
    return root / "target" / "partial_parse"


def parse_yaml_cached(text: str, rel_path: str, problems: list[Diagnostic], cache: Path | None) -> YamlDocument | None:
    """parse_yaml, remembered by content hash under target/: an unchanged file is not parsed again.

    YAML parsing in pure Python is most of a compile's time; like dbt's partial parsing, a file
    whose bytes did not change reuses its parsed form (the cache is ours, under target/, never
    committed, and keyed by the text itself, so a stale entry cannot be hit).
    """
    if cache is None:
        return parse_yaml(text, rel_path, problems)
    entry = cache / (hashlib.sha256(f"{rel_path}\0{text}".encode()).hexdigest() + ".pickle")
    if entry.is_file():
        try:
            data, positions = pickle.loads(entry.read_bytes())
            return YamlDocument(rel_path, data, positions)
        except Exception:  # an unreadable entry is simply parsed again
            entry.unlink(missing_ok=True)
    doc = parse_yaml(text, rel_path, problems)
    if doc is not None:
        with contextlib.suppress(OSError):  # a read-only project still compiles, only without the cache
            cache.mkdir(parents=True, exist_ok=True)
            entry.write_bytes(pickle.dumps((doc.data, doc.positions)))
    return doc


def discover(root: Path, folder: str, suffixes: tuple[str, ...]) -> list[Path]:
    """Files of a project folder in a stable order, so that builds and manifests are reproducible."""
    base = root / folder
    if not base.is_dir():
        return []
    return sorted(p for p in base.rglob("*") if p.is_file() and p.suffix in suffixes)
