"""kpi_project.yml: the project's name, warehouse, schemas, calendar, vars and volume guard settings."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from kpiframe.errors import Diagnostic, KpiframeError, ProjectInvalid, SourceLocation
from kpiframe.load.files import YamlDocument, parse_yaml_cached, read_text
from kpiframe.load.specs import ProjectSpec, WarehouseSpec
from kpiframe.suggest import did_you_mean

SpecT = TypeVar("SpecT", bound=BaseModel)
PROJECT_FILE = "kpi_project.yml"
WAREHOUSE_ENV = "KPIFRAME_WAREHOUSE"


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


def resolve_warehouse(spec: ProjectSpec, root: Path, override: str | None) -> WarehouseSpec:
    """--warehouse beats KPIFRAME_WAREHOUSE beats kpi_project.yml. The value names its engine: a PostgreSQL
    DSN is PostgreSQL whatever the project's default (never a DuckDB file named after the DSN), anything
    else a DuckDB file, relative to the project."""
    chosen = override or os.environ.get(WAREHOUSE_ENV)
    if chosen and is_postgres_dsn(chosen):
        return spec.warehouse.model_copy(update={"type": "postgres", "dsn": chosen})
    if chosen and chosen.startswith(SPARK_PREFIX):  # spark:local[2], spark:sc://host:15002 (docs/spark.md)
        return _spark(spec.warehouse.model_copy(update={"master": chosen.removeprefix(SPARK_PREFIX)}), root)
    if not chosen and spec.warehouse.type == "spark":
        return _spark(spec.warehouse, root)
    if not chosen and spec.warehouse.type == "postgres":
        return spec.warehouse
    chosen = chosen or spec.warehouse.path
    path = chosen if chosen == ":memory:" or Path(chosen).is_absolute() else str(root / chosen)
    return spec.warehouse.model_copy(update={"type": "duckdb", "path": path})


SPARK_PREFIX = "spark:"


def _spark(spec: WarehouseSpec, root: Path) -> WarehouseSpec:
    """Spark, its warehouse folder relative to the project (a URL such as s3a://... stays as written)."""
    folder = spec.warehouse_dir
    if "://" not in folder and not Path(folder).is_absolute():
        folder = str(root / folder)
    return spec.model_copy(update={"type": "spark", "warehouse_dir": folder})


# libpq's connection strings: a URI, or key=value pairs with at least one of these keys
_DSN_SCHEMES = ("postgresql://", "postgres://")
_DSN_KEY = re.compile(
    r"(?:^|\s)(?:host|hostaddr|port|dbname|user|password|passfile|service|sslmode|"
    r"connect_timeout|application_name|options)\s*=",
    re.IGNORECASE,
)


def is_postgres_dsn(value: str) -> bool:
    text = value.strip()
    return text.lower().startswith(_DSN_SCHEMES) or bool(_DSN_KEY.search(text))


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


def warehouse_label(spec: WarehouseSpec) -> str:
    """Where the data is, for messages: the DuckDB file, or PostgreSQL's database and host (no password)."""
    if spec.type == "spark":
        return f"Spark ({spec.master}, tables in {spec.warehouse_dir})"
    if spec.type != "postgres":
        return spec.path
    import psycopg

    try:
        info = psycopg.conninfo.conninfo_to_dict(spec.dsn or "")
    except psycopg.Error:
        return "PostgreSQL"
    return f"PostgreSQL database {info.get('dbname', '?')} on {info.get('host', 'localhost')}"
