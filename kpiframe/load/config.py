"""kpi_project.yml: the project's name, warehouse, schemas, calendar, vars and volume guard settings."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from kpiframe.errors import Diagnostic, KpiframeError, ProjectInvalid, SourceLocation
from kpiframe.load.files import YamlDocument, parse_cache, parse_yaml_cached, read_text
from kpiframe.load.spec_model import Problem, Spec, SpecInvalid
from kpiframe.load.specs import ProjectSpec
from kpiframe.suggest import did_you_mean

SpecT = TypeVar("SpecT", bound=Spec)
PROJECT_FILE = "kpi_project.yml"


def load_config(root: Path, cache: Path | None = None) -> ProjectSpec:
    """Read kpi_project.yml; a missing or invalid file is a located error. `cache`: the parse cache to use
    (loading the project passes it; a command that only reads the settings leaves target/ alone)."""
    path = root / PROJECT_FILE
    if not path.is_file():
        raise KpiframeError(
            f"no {PROJECT_FILE} in {root}",
            code="KF010",
            hint="run kpiframe from the project folder or pass --project-dir",
        )
    problems: list[Diagnostic] = []
    text = read_text(path, root, problems)
    doc = parse_yaml_cached(text, PROJECT_FILE, problems, cache) if text is not None else None
    if doc is None:
        raise ProjectInvalid(problems)
    if not isinstance(doc.data, dict):
        raise ProjectInvalid(
            [
                Diagnostic(
                    "KF011",
                    "kpi_project.yml must be a mapping with at least 'name'",
                    SourceLocation(PROJECT_FILE, 1, 1),
                )
            ]
        )
    spec = validate_spec(ProjectSpec, doc.data, doc, (), problems)
    if spec is None:
        raise ProjectInvalid(problems)
    return spec


def project_document(root: Path) -> YamlDocument:
    """kpi_project.yml again, for the line of a setting a later stage finds wrong (the load has parsed it
    already: the parse cache has it)."""
    text = (root / PROJECT_FILE).read_text(encoding="utf-8")
    return parse_yaml_cached(text, PROJECT_FILE, [], parse_cache(root)) or YamlDocument(PROJECT_FILE, {})


def validate_spec(
    model: type[SpecT], data: object, doc: YamlDocument, at: tuple[str | int, ...], problems: list[Diagnostic]
) -> SpecT | None:
    """Validate `data` against a spec class; every problem becomes a diagnostic at its line."""
    try:
        validated: SpecT = model.model_validate(data)
    except SpecInvalid as exc:
        for problem in exc.problems:
            problems.append(_diagnostic_for(problem, model, doc, at))
        return None
    return validated


def _diagnostic_for(problem: Problem, model: type[Spec], doc: YamlDocument, at: tuple[str | int, ...]) -> Diagnostic:
    loc, kind, message = problem
    location = doc.locate((*at, *loc))
    field = ".".join(str(part) for part in (*at, *loc)) or "document"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        return Diagnostic(
            "KF012",
            f"unknown key '{loc[-1]}'",
            location,
            hint=did_you_mean(str(loc[-1]), allowed) or f"allowed keys: {', '.join(allowed)}",
        )
    if kind == "missing":
        return Diagnostic("KF013", f"missing required key '{loc[-1]}'", location)
    return Diagnostic("KF014", f"{field}: {message.removeprefix('Value error, ')}", location)


def _allowed_keys(model: type[Spec], loc: tuple[object, ...]) -> list[str]:
    """Follow the problem's path through nested spec classes to list the keys allowed at that level."""
    current: type[Spec] | None = model
    for part in loc:
        if current is None or isinstance(part, int):
            continue
        field = next((f for f in current.model_fields.values() if f.key == part), None)
        current = _inner_model(field.annotation) if field else None
    if current is None:
        return []
    return sorted(f.key for f in current.model_fields.values())


def _inner_model(annotation: object) -> type[Spec] | None:
    if isinstance(annotation, type) and issubclass(annotation, Spec):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found:
            return found
    return None
