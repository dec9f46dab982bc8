"""kpi_project.yml: the project's name, warehouse, schemas, calendar, vars and volume guard settings."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from kpiframe.errors import Diagnostic, KpiframeError, ProjectInvalid, SourceLocation
from kpiframe.load.files import YamlDocument, parse_yaml_cached, read_text
from kpiframe.load.specs import ProjectSpec
from kpiframe.suggest import did_you_mean

SpecT = TypeVar("SpecT", bound=BaseModel)
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


def validate_spec(
    model: type[SpecT], data: object, doc: YamlDocument, at: tuple[str | int, ...], problems: list[Diagnostic]
) -> SpecT | None:
    """Validate `data` against a spec model; every pydantic error becomes a diagnostic at its line."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            problems.append(_diagnostic_for(error, model, doc, at))
        return None


def _diagnostic_for(
    error: ErrorDetails, model: type[BaseModel], doc: YamlDocument, at: tuple[str | int, ...]
) -> Diagnostic:
    loc = tuple(error["loc"])
    location = doc.locate((*at, *loc))
    field = ".".join(str(part) for part in (*at, *loc)) or "document"
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        return Diagnostic(
            "KF012",
            f"unknown key '{loc[-1]}'",
            location,
            hint=did_you_mean(str(loc[-1]), allowed) or f"allowed keys: {', '.join(allowed)}",
        )
    if error["type"] == "missing":
        return Diagnostic("KF013", f"missing required key '{loc[-1]}'", location)
    message = error["msg"].removeprefix("Value error, ")
    return Diagnostic("KF014", f"{field}: {message}", location)


def _allowed_keys(model: type[BaseModel], loc: tuple[object, ...]) -> list[str]:
    """Follow the error's path through nested spec models to list the keys allowed at that level."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None or isinstance(part, int):
            continue
        field = current.model_fields.get(str(part))
        current = _inner_model(field.annotation) if field else None
    if current is None:
        return []
    return sorted(f.alias or name for name, f in current.model_fields.items())


def _inner_model(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found:
            return found
    return None
