"""JSON Schemas of the project files, generated from the specs, for editors (completion, checks as you type)
and CI. They are kept in the repository under schemas/; a test checks they equal what this code generates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kpiframe.load.spec_model import Spec
from kpiframe.load.spec_schema import json_schema
from kpiframe.load.specs import ProjectFileSpec, ProjectSpec

DRAFT = "https://json-schema.org/draft/2020-12/schema"
FILES: dict[str, tuple[type[Spec], str]] = {
    "kpi_project.schema.json": (ProjectSpec, "kpi_project.yml: name, warehouse, schemas, calendar and vars"),
    "project_file.schema.json": (
        ProjectFileSpec,
        "any YAML file under models/ or metrics/: sources, models, "
        "datasets, metrics, tables, metric tests, definitions, funnels",
    ),
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema, in a stable form."""
    found = {}
    for name, (spec, description) in FILES.items():
        schema = json_schema(spec)
        found[name] = {
            "$schema": DRAFT,
            "title": schema.pop("title"),
            "description": f"kpiframe {description}.",
            **schema,
        }
    return found


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def write_schemas(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in json_schemas().items():
        path = folder / name
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written


def stale_schemas(folder: Path) -> list[str]:
    """The schema files in `folder` that are missing or differ from what the specs generate."""
    return [
        name
        for name, schema in json_schemas().items()
        if not (folder / name).is_file() or (folder / name).read_text(encoding="utf-8") != render(schema)
    ]
