"""dbt models, sources, seeds and macros as kpiframe models, sources and macros.

Model SQL is copied: kpiframe's Jinja has `ref`, `source`, `var` and macros like dbt. What differs:
- `{{ config(...) }}` is taken out of the SQL; `materialized='view'|'table'` goes to the model's YAML,
  `incremental`, `ephemeral` and the other settings are reported (kpiframe rebuilds every model in full);
- `{% if is_incremental() %}...{% endif %}` is taken out (never true in a full rebuild);
- `ref('a_seed')` reads the seed as a source table `seeds.<seed>` (load the CSV there);
- any other Jinja call (`this`, `adapter`, a package's macros) is reported with its line.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping

from kpiframe.imports.metricflow_plan import ImportPlan, Item, comment_header, ordered
from kpiframe.imports.metricflow_read import DbtProject, Notes, Raw, SqlModel

CONFIG = re.compile(r"\{\{-?\s*config\s*\((.*?)\)\s*-?\}\}[ \t]*\n?", re.DOTALL)
INCREMENTAL = re.compile(r"\{%-?\s*if\s+is_incremental\(\)\s*-?%\}.*?\{%-?\s*endif\s*-?%\}", re.DOTALL)
JINJA_BLOCK = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
CALL = re.compile(r"\b([A-Za-z_][A-Za-z0-9_.]*)\s*\(")
REF_SEED = re.compile(r"""ref\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\)""")
MACRO_NAME = re.compile(r"\{%-?\s*macro\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(")
KNOWN_CALLS = {"ref", "source", "var", "range", "dict", "list", "lower", "upper", "join", "format", "items"}
SOURCES_FILE = "models/_imported_sources.yml"


def import_models(project: DbtProject, plan: ImportPlan, notes: Notes) -> None:
    """Copy model SQL and macros, and plan the sources and model settings of the dbt YAML."""
    macros = {name for text in project.macros.values() for name in MACRO_NAME.findall(text)}
    for rel, text in sorted(project.macros.items()):
        plan.text_files[f"macros/{rel.rsplit('/', 1)[-1]}"] = comment_header(rel) + text
    for raw in project.of("model"):
        _model_settings(project, plan, raw, notes)
    for model in project.models.values():
        _copy_model(project, plan, model, macros, notes)
    for raw in project.of("source"):
        _source(project, plan, raw, notes)


def passthrough_model(plan: ImportPlan, origin: str, table: str, schema: str, notes: Notes, at: Raw) -> str:
    """A model `select * from {{ source(schema, table) }}` and its source: a dataset over a seed or a
    table MetricFlow names directly (node_relation) reads it through this model."""
    if not table:
        notes.unmapped(at, None, "node_relation", "names no table (alias:)")
        return table
    plan.text_files[f"models/{table}.sql"] = (
        comment_header(origin) + f"select * from {{{{ source('{schema}', '{table}') }}}}\n"
    )
    add_source_table(plan, schema, {"name": table}, origin)
    notes.changed(
        at, None, f"table '{schema}.{table}'", f"read through a generated model '{table}' from source '{schema}'"
    )
    return table


def add_source_table(plan: ImportPlan, schema: str, table: Item, origin: str) -> None:
    """Add a table to the source of that name in SOURCES_FILE (once)."""
    out = plan.yaml_files.get(SOURCES_FILE)
    sources = out.lists.get("sources", []) if out else []
    source = next((s for s in sources if s["name"] == schema), None)
    if source is None:
        plan.add(SOURCES_FILE, "sources", {"name": schema, "schema": schema, "tables": [table]}, origin)
        return
    tables = source["tables"]
    assert isinstance(tables, list)
    if not any(t["name"] == table["name"] for t in tables):
        tables.append(table)
    out_file = plan.yaml_files[SOURCES_FILE]
    if origin not in out_file.origins:
        out_file.origins.append(origin)


def models_path(rel: str, model_paths: tuple[str, ...], suffix: str) -> str:
    parts = rel.split("/")
    if len(parts) > 1 and parts[0] in model_paths:
        parts = parts[1:]
    return "models/" + "/".join(parts).rsplit(".", 1)[0] + suffix


def _copy_model(project: DbtProject, plan: ImportPlan, model: SqlModel, macros: set[str], notes: Notes) -> None:
    at = Raw(model.path, {}, 1)
    subject = f"model '{model.name}'"
    text = model.text
    for found in CONFIG.finditer(text):
        line = text.count("\n", 0, found.start()) + 1
        settings = _config_arguments(found.group(1), Raw(model.path, {}, line), subject, notes)
        _apply_config(project, plan, model, settings, Raw(model.path, {}, line), notes)
    text = CONFIG.sub(_blank_lines, text)
    for found in INCREMENTAL.finditer(text):
        line = text.count("\n", 0, found.start()) + 1
        notes.changed(
            Raw(model.path, {}, line), None, subject, "is_incremental() block removed: kpiframe rebuilds in full"
        )
    text = INCREMENTAL.sub(_blank_lines, text)
    for seed in sorted(set(REF_SEED.findall(text)) & set(project.seeds) - set(project.models)):
        add_source_table(plan, "seeds", {"name": seed, "columns": project.seeds[seed]}, model.path)
        notes.changed(
            at, None, subject, f"ref('{seed}') reads the seed as source table seeds.{seed}: load the CSV there"
        )
        text = re.sub(rf"""ref\(\s*['"]{seed}['"]\s*\)""", f"source('seeds', '{seed}')", text)
    _report_unknown_calls(text, model, macros, notes)
    plan.text_files[models_path(model.path, project.model_paths, ".sql")] = comment_header(model.path) + text


def _blank_lines(found: re.Match[str]) -> str:
    """What a removed block leaves: its line breaks, so every later line keeps its number (a kpiframe
    error in the copy points at the same line of the dbt file, one below for the header)."""
    return "\n" * found.group(0).count("\n")


def _config_arguments(arguments: str, at: Raw, subject: str, notes: Notes) -> dict[str, object]:
    try:
        call = ast.parse(f"config({arguments})", mode="eval").body
        assert isinstance(call, ast.Call)
        return {str(k.arg): ast.literal_eval(k.value) for k in call.keywords}
    except (SyntaxError, ValueError, AssertionError):
        notes.unmapped(at, None, subject, "config(...) is not plain literals; removed, settings not imported")
        return {}


def _apply_config(
    project: DbtProject, plan: ImportPlan, model: SqlModel, settings: Mapping[str, object], at: Raw, notes: Notes
) -> None:
    subject = f"model '{model.name}'"
    materialized = settings.get("materialized")
    if materialized == "view":
        out = plan.model_files.get(model.name) or models_path(model.path, project.model_paths, ".yml")
        plan.add(out, "models", {"name": model.name, "materialized": "view"}, model.path)
    elif materialized not in (None, "table"):
        notes.changed(
            at, None, subject, f"materialized='{materialized}' built as a table (kpiframe has table and view)"
        )
    others = sorted(k for k in settings if k != "materialized")
    if others:
        notes.changed(at, None, subject, f"config {', '.join(others)} dropped (no counterpart in kpiframe)")


def _report_unknown_calls(text: str, model: SqlModel, macros: set[str], notes: Notes) -> None:
    for block in JINJA_BLOCK.finditer(text):
        line = text.count("\n", 0, block.start()) + 1  # the header comment is added after this
        names = set(CALL.findall(block.group(0))) - KNOWN_CALLS - macros
        if "this" in re.findall(r"\b\w+\b", block.group(0)):
            names.add("this")
        for name in sorted(names):
            notes.unmapped(
                Raw(model.path, {}, line),
                None,
                f"model '{model.name}'",
                f"'{name}' is not in kpiframe's Jinja (ref, source, var, macros): copied, replace it by hand",
            )


def _model_settings(project: DbtProject, plan: ImportPlan, raw: Raw, notes: Notes) -> None:
    name = raw.text("name") or ""
    subject = f"model '{name}'"
    config = raw.child("config")
    materialized = (config.text("materialized") if config else None) or raw.text("materialized")
    columns = [
        ordered({"name": c.text("name"), "description": c.text("description"), "type": c.text("data_type")}, ("name",))
        for c in raw.children("columns")
    ]
    item: Item = {"name": name, "description": raw.text("description"), "columns": columns}
    if materialized == "view":
        item["materialized"] = "view"
    elif materialized not in (None, "table"):
        notes.changed(config or raw, "materialized", subject, f"materialized '{materialized}' built as a table")
    for key in raw.key_names():
        # a model's `time_spine:` is read by metricflow_time_spine
        if key not in ("name", "description", "columns", "config", "materialized", "time_spine"):
            notes.unmapped(raw, key, subject, f"'{key}:' not imported (kpiframe checks are `expectations:`)")
    for column in raw.children("columns"):
        for key in column.key_names():
            if key not in ("name", "description", "data_type"):
                notes.unmapped(column, key, f"column '{column.text('name')}' of {subject}", f"'{key}:' not imported")
    out = models_path(raw.path, project.model_paths, ".yml")
    plan.model_files.setdefault(name, out)
    plan.add(out, "models", ordered(item, ("name", "description", "materialized", "columns")), raw.path)


def _source(project: DbtProject, plan: ImportPlan, raw: Raw, notes: Notes) -> None:
    name = raw.text("name") or ""
    subject = f"source '{name}'"
    schema = raw.text("schema") or name
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", schema):
        notes.changed(raw, "schema", subject, f"schema {schema!r} is not a plain name: schema '{name}' used")
        schema = name
    tables = []
    for table in raw.children("tables"):
        columns = [c.text("name") for c in table.children("columns")]
        tables.append(
            ordered({"name": table.text("name"), "description": table.text("description"), "columns": columns}, ())
        )
        for key in table.key_names():
            if key not in ("name", "description", "columns"):
                notes.unmapped(table, key, f"table '{table.text('name')}' of {subject}", f"'{key}:' not imported")
    for key in raw.key_names():
        if key not in ("name", "schema", "description", "tables"):
            notes.unmapped(raw, key, subject, f"'{key}:' not imported")
    item = ordered({"name": name, "schema": schema, "description": raw.text("description"), "tables": tables}, ())
    plan.add(models_path(raw.path, project.model_paths, ".yml"), "sources", item, raw.path)
