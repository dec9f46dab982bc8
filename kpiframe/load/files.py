"""Discover project files and read YAML keeping a line and column for every node."""

from __future__ import annotations

import contextlib
import hashlib
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from kpiframe.errors import Diagnostic, SourceLocation, relative

# ruamel is imported where a file is parsed: a load whose files all come from the parse cache needs none
# of it. Its nodes are typed Any here for that reason; `node.id` is their kind (scalar, sequence, mapping).
Node = Any

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
# libyaml (ruamel's C parser) is 5-10 times faster than ruamel's pure-Python parser, but it reads YAML
# 1.1 where ruamel reads YAML 1.2. Where both accept a file they give the same values and positions,
# except in files with what this finds: tabs (libyaml accepts them in more places); NEL, LS, PS and a
# lone CR (line breaks in 1.1 only, or handled apart); a byte order mark after the first character
# (counted in columns differently); a %YAML directive (it picks the rules for values); a line of spaces
# only (ruamel refuses one before a block scalar's first line, libyaml does not); a tag, or an anchor or
# alias whose name has more than letters, digits, _ and - (1.2 allows more, such as `&name:`); and in
# files with an empty value (placed after the colon by libyaml, at the next token by ruamel). Those
# files, and every file libyaml refuses (1.2 syntax such as `{at: 2026-01-05 10:00:00}`, or a mistake,
# whose message must be ruamel's), are parsed by the pure-Python parser, as before. Found and checked
# by differential fuzzing of the repository's YAML (tests/unit/test_yaml_parsers.py keeps the cases).
_LIBYAML_MAY_DIFFER = re.compile(
    r"[\t\x85\u2028\u2029]|\r(?!\n)|(?<=[\s\S])\ufeff|^%|^ +\r?$"
    r"|(?:^|[\s\[\]{},])(?:!|[&*][0-9A-Za-z_-]*[^0-9A-Za-z_\s\[\]{},-])",
    re.MULTILINE,
)


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
    fast = _parse_with_libyaml(text, rel_path)
    return fast if fast is not None else _parse_with_ruamel(text, rel_path, problems)


def _parse_with_ruamel(text: str, rel_path: str, problems: list[Diagnostic]) -> YamlDocument | None:
    """ruamel's pure-Python parser (YAML 1.2): what every file was parsed with before libyaml was tried,
    and what still reads and reports what libyaml may read otherwise."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError

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


class _MayDiffer(Exception):
    """libyaml's reading of this file may not be ruamel's: parse it with ruamel's pure-Python parser."""


def _parse_with_libyaml(text: str, rel_path: str) -> YamlDocument | None:
    """The file as libyaml reads it, when that is certainly what ruamel's pure-Python parser reads too
    (see _LIBYAML_MAY_DIFFER); None otherwise, and for any error (parse_yaml reports it as ruamel does)."""
    import ruamel.yaml.main

    if getattr(ruamel.yaml.main, "CParser", None) is None or _LIBYAML_MAY_DIFFER.search(text):
        return None
    yaml = ruamel.yaml.main.YAML(typ="safe")
    try:
        node = yaml.compose(text)
        doc = YamlDocument(rel_path, None)
        doc.data = None if node is None else _to_plain(node, (), _Walk(doc.positions, yaml.constructor, libyaml=True))
    except Exception:  # noqa: BLE001  any refusal, ours included, is the pure-Python parser's to report
        return None
    return doc


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


@dataclass
class _Walk:
    """State of one file's conversion: positions found, nodes already converted, values aliases repeated."""

    positions: dict[KeyPath, tuple[int, int]]
    constructor: Any
    seen: set[int] = field(default_factory=set)
    open: set[int] = field(default_factory=set)  # the nodes being converted: an alias to one is a cycle
    repeated: int = 0
    libyaml: bool = False  # composed by libyaml: an empty value's position would not be ruamel's


def _to_plain(node: Node, path: KeyPath, walk: _Walk, repeating: Node | None = None) -> Any:
    """Turn composed nodes into dicts, lists and scalars, recording each child's position.

    The composer gives an alias the very node object of its anchor, so a node met a second time is
    an alias being expanded: everything under it counts against MAX_ALIAS_VALUES. `repeating` is the
    outermost anchored node being repeated, where a refusal points.
    """
    if id(node) in walk.open:
        _refuse("an alias refers to a node that contains it", node.start_mark)
    repeating = repeating or (node if id(node) in walk.seen else None)
    walk.seen.add(id(node))
    if repeating is not None:
        walk.repeated += 1
        if walk.repeated > MAX_ALIAS_VALUES:
            _refuse(
                f"aliases (*name) expand to more than {MAX_ALIAS_VALUES:,} values; "
                "repeat less, or write the values out",
                repeating.start_mark,
            )
    if node.id == "scalar":
        if walk.libyaml and node.value == "" and not node.style:
            raise _MayDiffer
        return walk.constructor.construct_object(node, deep=True)
    walk.open.add(id(node))
    result = (
        _mapping(node, path, walk, repeating)
        if node.id == "mapping"
        else [_child(child, (*path, index), walk, repeating) for index, child in enumerate(node.value)]
    )
    walk.open.discard(id(node))
    return result


def _mapping(node: Node, path: KeyPath, walk: _Walk, repeating: Node | None) -> dict[Any, Any]:
    result: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        if key_node.id != "scalar":  # a list or mapping as a key: never meant, and costly to print
            _refuse("a key must be a plain value, not a list or mapping", key_node.start_mark)
        key = walk.constructor.construct_object(key_node, deep=True)
        key = key if isinstance(key, (str, int)) else str(key)
        if key in result:
            _refuse(f"duplicate key '{key}'", key_node.start_mark)
        mark = value_node.start_mark if value_node.id == "scalar" else key_node.start_mark
        walk.positions[(*path, str(key))] = (mark.line + 1, mark.column + 1)
        result[key] = _to_plain(value_node, (*path, str(key)), walk, repeating)
    return result


def _refuse(problem: str, mark: Any) -> NoReturn:
    """Stop the parse with a located problem, as ruamel reports its own."""
    from ruamel.yaml.error import MarkedYAMLError

    raise MarkedYAMLError(problem=problem, problem_mark=mark)


def _child(node: Node, path: KeyPath, walk: _Walk, repeating: Node | None) -> Any:
    walk.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    return _to_plain(node, path, walk, repeating)


def discover(root: Path, folder: str, suffixes: tuple[str, ...]) -> list[Path]:
    """Files of a project folder in a stable order, so that builds and manifests are reproducible."""
    base = root / folder
    if not base.is_dir():
        return []
    return sorted(p for p in base.rglob("*") if p.is_file() and p.suffix in suffixes)
