"""Reading a dbt project for `kpiframe import metricflow`: its YAML with the line of every key, its
model SQL, its seeds, and the notes the import gathers about what it could not carry over as it was.

Both shapes MetricFlow reads are accepted: dbt's (`semantic_models:`, `metrics:`, `saved_queries:`
lists in any YAML file of the project) and MetricFlow's own test manifests (one `semantic_model:`,
`metric:` or `saved_query:` per YAML document, tables named by `node_relation:`).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from kpiframe.errors import KpiframeError, SourceLocation

# dbt's kinds of YAML object, by the list key (dbt) or single key (MetricFlow manifests) that holds them
LIST_KEYS = {"semantic_models": "semantic_model", "metrics": "metric", "saved_queries": "saved_query"}
DBT_KEYS = {"sources": "source", "models": "model"}
# project_configuration: MetricFlow's settings beside the semantic models, whose time spines the import
# reads (metricflow_time_spine)
SINGLE_KEYS = {"semantic_model", "metric", "saved_query", "project_configuration"}
# top-level keys that carry no semantics to import (a file's schema version)
QUIET_KEYS = {"version"}
SKIPPED_DIRS = {"target", "dbt_packages", "logs", "node_modules", ".git", ".venv"}
NoteKind = Literal["unmapped", "changed"]


@dataclass(frozen=True)
class Note:
    """Something of the dbt project that was not carried over (unmapped) or was, differently (changed)."""

    kind: NoteKind
    path: str
    line: int
    subject: str  # "metric 'revenue'", "measure 'x' of semantic model 'y'"
    message: str

    def render(self) -> str:
        return f"{self.path}:{self.line}: {self.subject}: {self.message}"


@dataclass
class Notes:
    items: list[Note] = field(default_factory=list)

    def unmapped(self, at: Raw, key: str | None, subject: str, message: str) -> None:
        self.items.append(Note("unmapped", at.path, at.line_of(key), subject, message))

    def changed(self, at: Raw, key: str | None, subject: str, message: str) -> None:
        self.items.append(Note("changed", at.path, at.line_of(key), subject, message))

    def of_kind(self, kind: NoteKind) -> list[Note]:
        return sorted((n for n in self.items if n.kind == kind), key=lambda n: (n.path, n.line, n.message))


@dataclass(frozen=True)
class Raw:
    """One YAML mapping of the dbt project, with its file and the line of each of its keys."""

    path: str  # relative to the dbt project, with /
    data: Mapping[str, object]
    line: int  # 1-based line where the mapping starts

    def line_of(self, key: str | None) -> int:
        lc = getattr(self.data, "lc", None)
        if key is not None and lc is not None and key in self.data:
            return int(lc.key(key)[0]) + 1
        return self.line

    def get(self, key: str) -> object:
        return self.data.get(key)

    def text(self, key: str) -> str | None:
        value = self.data.get(key)
        return None if value is None else str(value).strip()

    def child(self, key: str) -> Raw | None:
        value = self.data.get(key)
        return Raw(self.path, value, self.line_of(key)) if isinstance(value, Mapping) else None

    def children(self, key: str) -> list[Raw]:
        return items_of(self.data.get(key), self.path, self.line_of(key))

    def key_names(self) -> list[str]:
        return [str(k) for k in self.data]


def items_of(value: object, path: str, line: int) -> list[Raw]:
    """The mappings of a YAML list, each with its own line (scalars in the list are left out)."""
    if not isinstance(value, list):
        return []
    lc = getattr(value, "lc", None)
    found = []
    for index, item in enumerate(value):
        if isinstance(item, Mapping):
            item_line = int(lc.item(index)[0]) + 1 if lc is not None else line
            found.append(Raw(path, item, item_line))
    return found


@dataclass(frozen=True)
class SqlModel:
    name: str
    path: str  # relative to the dbt project
    text: str


@dataclass
class DbtProject:
    """What the import reads: YAML objects by kind, model SQL, seeds (name -> header columns)."""

    root: Path
    name: str
    model_paths: tuple[str, ...]
    vars: dict[str, object] = field(default_factory=dict)
    objects: dict[str, list[Raw]] = field(default_factory=dict)  # kind -> items in file order
    models: dict[str, SqlModel] = field(default_factory=dict)
    macros: dict[str, str] = field(default_factory=dict)  # relative path -> text
    seeds: dict[str, list[str]] = field(default_factory=dict)
    notes: Notes = field(default_factory=Notes)

    def of(self, kind: str) -> list[Raw]:
        return self.objects.get(kind, [])


def read_dbt_project(root: Path) -> DbtProject:
    """Read every YAML, SQL and seed file of the dbt project at `root` (KF060 when there is none)."""
    if not root.is_dir():
        raise KpiframeError(f"{root} is not a folder", code="KF060", hint="pass the folder of a dbt project")
    config = _dbt_config(root)
    name = str(config.get("name") or root.resolve().name)
    model_paths = _paths(config.get("model-paths") or config.get("source-paths"), ("models",))
    project = DbtProject(root, name, model_paths)
    raw_vars = config.get("vars")
    if isinstance(raw_vars, Mapping):
        project.vars = {str(k): v for k, v in raw_vars.items()}
    for path in _files(root, (".yml", ".yaml")):
        if path.name != "dbt_project.yml":
            _read_yaml_objects(project, path)
    for path in _files(root, (".sql",)):
        rel = _rel(root, path)
        if rel.split("/")[0] in _paths(config.get("macro-paths"), ("macros",)):
            project.macros[rel] = path.read_text(encoding="utf-8")
        elif rel.split("/")[0] not in ("tests", "analyses", "snapshots"):
            project.models[path.stem] = SqlModel(path.stem, rel, path.read_text(encoding="utf-8"))
    for path in _files(root, (".csv",)):
        with path.open(encoding="utf-8", newline="") as handle:
            project.seeds[path.stem] = next(csv.reader(handle), [])
    if not any(project.of(kind) for kind in LIST_KEYS.values()):
        raise KpiframeError(
            f"no semantic_models:, metrics: or saved_queries: in any YAML file under {root}",
            code="KF060",
            hint="pass the folder of a dbt project that uses the dbt Semantic Layer",
        )
    return project


def _dbt_config(root: Path) -> Mapping[str, object]:
    path = root / "dbt_project.yml"
    if not path.is_file():
        return {}
    documents = list(_load_documents(root, path))
    return documents[0] if documents and isinstance(documents[0], Mapping) else {}


def _paths(value: object, default: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(value, list) and value:
        return tuple(str(v).strip("/") for v in value)
    return default


def _files(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    found = [
        path
        for path in root.rglob("*")
        if path.suffix in suffixes and path.is_file() and not SKIPPED_DIRS & set(path.relative_to(root).parts)
    ]
    return sorted(found, key=lambda p: _rel(root, p))


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _read_yaml_objects(project: DbtProject, path: Path) -> None:
    rel = _rel(project.root, path)
    for document in _load_documents(project.root, path):
        if not isinstance(document, Mapping):
            continue
        top = Raw(rel, document, 1)
        for key in document:
            kind = LIST_KEYS.get(str(key)) or DBT_KEYS.get(str(key))
            if kind:
                project.objects.setdefault(kind, []).extend(top.children(str(key)))
            elif key in SINGLE_KEYS and (child := top.child(str(key))) is not None:
                project.objects.setdefault(str(key), []).append(child)
            elif key not in QUIET_KEYS:
                project.notes.unmapped(top, str(key), f"'{key}:'", "has no counterpart in kpiframe; not imported")


def _load_documents(root: Path, path: Path) -> Iterator[object]:
    """The documents of one YAML file, as ruamel's round-trip nodes (which know their lines)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError

    reader = YAML(typ="rt", pure=True)
    text = path.read_text(encoding="utf-8")
    try:
        yield from list(reader.load_all(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = SourceLocation(_rel(root, path), (mark.line + 1) if mark else 0, (mark.column + 1) if mark else 0)
        raise KpiframeError(f"malformed YAML: {exc.problem}", code="KF061", location=where) from None
