"""Discover project files and read YAML keeping a line and column for every node."""

from __future__ import annotations

import contextlib
import hashlib
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kpiframe.errors import Diagnostic, SourceLocation, relative

KeyPath = tuple[str | int, ...]
# What a YAML file holds before a pydantic spec has checked it (ruamel's scalars are plain Python ones).
YamlValue = str | int | float | bool | None | list["YamlValue"] | dict[str, "YamlValue"]

# An alias (*name) repeats the node its anchor (&name) marks. Nine lines of aliases of aliases
# ("billion laughs") stand for 10**9 values, so the values an alias repeats are counted and
# capped: real project files repeat a few hundred at most.
MAX_ALIAS_VALUES = 100_000
# A project file is written by hand: a bigger one is a mistake or an attack, and parsing YAML or SQL
# of that size in pure Python would take minutes.
MAX_FILE_BYTES = 5_000_000


@dataclass
class YamlDocument:
    """A parsed YAML file as plain Python data, plus the position of each node by its key path."""

    path: str
    data: Any
    positions: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)

    def locate(self, key_path: KeyPath = ()) -> SourceLocation:
        """The position of the deepest known node on `key_path` (the file itself when none is known)."""
        for end in range(len(key_path), -1, -1):
            found = self.positions.get(tuple(key_path[:end]))
            if found:
                return SourceLocation(self.path, found[0], found[1])
        return SourceLocation(self.path, 1, 1)


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


def parse_yaml(text: str, rel_path: str, problems: list[Diagnostic]) -> YamlDocument | None:
    """Parse YAML text; syntax errors become a KF003 diagnostic at the offending line."""
    yaml = YAML(typ="safe", pure=True)  # the node tree carries positions; no comment bookkeeping needed
    try:
        node = yaml.compose(text)
        doc = YamlDocument(rel_path, None)
        doc.data = None if node is None else _to_plain(node, (), _Walk(doc.positions, yaml.constructor))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = exc.problem or exc.context or "malformed YAML"
        problems.append(Diagnostic("KF003", f"malformed YAML: {message}", SourceLocation(rel_path, line, column)))
        return None
    except Exception as exc:  # ruamel raises a few unmarked errors (e.g. bad unicode escapes)
        problems.append(Diagnostic("KF003", f"malformed YAML: {exc}", SourceLocation(rel_path, 1, 1)))
        return None
    return doc


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


@dataclass
class _Walk:
    """State of one file's conversion: positions found, nodes already converted, values aliases repeated."""

    positions: dict[KeyPath, tuple[int, int]]
    constructor: Any
    seen: set[int] = field(default_factory=set)
    open: set[int] = field(default_factory=set)  # the nodes being converted: an alias to one is a cycle
    repeated: int = 0


def _to_plain(node: Node, path: KeyPath, walk: _Walk, repeating: Node | None = None) -> Any:
    """Turn composed nodes into dicts, lists and scalars, recording each child's position.

    The composer gives an alias the very node object of its anchor, so a node met a second time is
    an alias being expanded: everything under it counts against MAX_ALIAS_VALUES. `repeating` is the
    outermost anchored node being repeated, where a refusal points.
    """
    if id(node) in walk.open:
        raise MarkedYAMLError(problem="an alias refers to a node that contains it", problem_mark=node.start_mark)
    repeating = repeating or (node if id(node) in walk.seen else None)
    walk.seen.add(id(node))
    if repeating is not None:
        walk.repeated += 1
        if walk.repeated > MAX_ALIAS_VALUES:
            raise MarkedYAMLError(
                problem=f"aliases (*name) expand to more than {MAX_ALIAS_VALUES:,} values; "
                "repeat less, or write the values out",
                problem_mark=repeating.start_mark,
            )
    if not isinstance(node, (MappingNode, SequenceNode)):
        return walk.constructor.construct_object(node, deep=True)
    walk.open.add(id(node))
    result = (
        _mapping(node, path, walk, repeating)
        if isinstance(node, MappingNode)
        else [_child(child, (*path, index), walk, repeating) for index, child in enumerate(node.value)]
    )
    walk.open.discard(id(node))
    return result


def _mapping(node: MappingNode, path: KeyPath, walk: _Walk, repeating: Node | None) -> dict[Any, Any]:
    result: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, ScalarNode):  # a list or mapping as a key: never meant, and costly to print
            raise MarkedYAMLError(
                problem="a key must be a plain value, not a list or mapping", problem_mark=key_node.start_mark
            )
        key = walk.constructor.construct_object(key_node, deep=True)
        key = key if isinstance(key, (str, int)) else str(key)
        if key in result:
            raise MarkedYAMLError(problem=f"duplicate key '{key}'", problem_mark=key_node.start_mark)
        mark = value_node.start_mark if isinstance(value_node, ScalarNode) else key_node.start_mark
        walk.positions[(*path, str(key))] = (mark.line + 1, mark.column + 1)
        result[key] = _to_plain(value_node, (*path, str(key)), walk, repeating)
    return result


def _child(node: Node, path: KeyPath, walk: _Walk, repeating: Node | None) -> Any:
    walk.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    return _to_plain(node, path, walk, repeating)


def discover(root: Path, folder: str, suffixes: tuple[str, ...]) -> list[Path]:
    """Files of a project folder in a stable order, so that builds and manifests are reproducible."""
    base = root / folder
    if not base.is_dir():
        return []
    return sorted(p for p in base.rglob("*") if p.is_file() and p.suffix in suffixes)
