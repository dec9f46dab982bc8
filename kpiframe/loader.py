"""Discover project files and read YAML keeping a line and column for every node."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from kpiframe.errors import Diagnostic, SourceLocation, relative

KeyPath = tuple[str | int, ...]


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


@dataclass
class TextFile:
    path: str
    text: str


def read_text(path: Path, root: Path, problems: list[Diagnostic]) -> str | None:
    """Read a project file as UTF-8; a file that is not UTF-8 becomes a diagnostic, not a crash."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(Diagnostic(
            "KF002", f"file is not valid UTF-8 (byte {exc.start})",
            SourceLocation(relative(path, root)), hint="save the file as UTF-8"))
    except OSError as exc:
        problems.append(Diagnostic("KF002", f"cannot read file: {exc.strerror}",
                                   SourceLocation(relative(path, root))))
    return None


def parse_yaml(text: str, rel_path: str, problems: list[Diagnostic]) -> YamlDocument | None:
    """Parse YAML text; syntax errors become a KF003 diagnostic at the offending line."""
    yaml = YAML(typ="rt")
    try:
        node = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = exc.problem or exc.context or "malformed YAML"
        problems.append(Diagnostic("KF003", f"malformed YAML: {message}",
                                   SourceLocation(rel_path, line, column)))
        return None
    except Exception as exc:  # ruamel raises a few unmarked errors (e.g. bad unicode escapes)
        problems.append(Diagnostic("KF003", f"malformed YAML: {exc}", SourceLocation(rel_path, 1, 1)))
        return None
    doc = YamlDocument(rel_path, None)
    doc.data = _to_plain(node, (), doc.positions)
    return doc


def _to_plain(node: Any, path: KeyPath, positions: dict[KeyPath, tuple[int, int]]) -> Any:
    """Turn ruamel's commented nodes into dicts and lists, recording each child's position."""
    if isinstance(node, CommentedMap):
        result: dict[Any, Any] = {}
        for key, value in node.items():
            line, col = node.lc.value(key) if not isinstance(value, (CommentedMap, CommentedSeq)) \
                else node.lc.key(key)
            positions[(*path, str(key))] = (line + 1, col + 1)
            result[str(key) if not isinstance(key, (str, int)) else key] = _to_plain(
                value, (*path, str(key)), positions)
        return result
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            line, col = node.lc.item(index)
            positions[(*path, index)] = (line + 1, col + 1)
            items.append(_to_plain(value, (*path, index), positions))
        return items
    return node


def discover(root: Path, folder: str, suffixes: tuple[str, ...]) -> list[Path]:
    """Files of a project folder in a stable order, so that builds and manifests are reproducible."""
    base = root / folder
    if not base.is_dir():
        return []
    return sorted(p for p in base.rglob("*") if p.is_file() and p.suffix in suffixes)
