"""JSON Schema (draft 2020-12) of a spec class, for editors and CI (`kpiframe schema`).

The form is the one editors already read for dbt-style YAML: each spec class a `$defs` entry with
`additionalProperties: false`, a field's default and a title made from its name, `anyOf` for a field
that takes several shapes.
"""

from __future__ import annotations

import inspect
import sys
import types
from datetime import date
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from kpiframe.load.spec_model import NOT_IN_SCHEMA, FieldInfo, Spec, SpecField

JsonSchema = dict[str, Any]
_SCALARS: dict[Any, JsonSchema] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    date: {"format": "date", "type": "string"},
    type(None): {"type": "null"},
    object: {},
    Any: {},
}


def json_schema(spec: type[Spec]) -> JsonSchema:
    """The schema of `spec`, with every spec class it nests under `$defs`."""
    defs: dict[str, JsonSchema] = {}
    root = _record(spec, defs)
    if defs:
        root["$defs"] = {name: defs[name] for name in sorted(defs)}
    ordered: JsonSchema = _sorted(root)
    return ordered


def _record(spec: type[Spec], defs: dict[str, JsonSchema]) -> JsonSchema:
    properties = {}
    for spec_field in spec.model_fields.values():
        if _in_schema(spec_field.annotation):
            properties[spec_field.key] = _property(spec_field, defs)
    schema: JsonSchema = {"additionalProperties": False, "properties": properties}
    if spec.__doc__ and "__doc__" in spec.__dict__:
        schema["description"] = inspect.cleandoc(spec.__doc__)
    required = [f.key for f in spec.model_fields.values() if f.required]
    if required:
        schema["required"] = required
    schema |= {"title": spec.__name__, "type": "object"}
    return schema


def _in_schema(annotation: Any) -> bool:
    return not (get_origin(annotation) is Annotated and any(e is NOT_IN_SCHEMA for e in get_args(annotation)))


def _property(spec_field: SpecField, defs: dict[str, JsonSchema]) -> JsonSchema:
    schema = _of(spec_field.annotation, spec_field.info, defs, sys.modules[spec_field.owner.__module__])
    if not spec_field.required and spec_field.info.default_factory is None:
        schema["default"] = _plain(spec_field.default_value())
    if not _refers(schema):
        schema["title"] = spec_field.key.replace("_", " ").title()
    return schema


def _refers(schema: JsonSchema) -> bool:
    """A field whose schema is a spec class (or that or null) takes the class's title, not its own."""
    return "$ref" in schema or any("$ref" in member for member in schema.get("anyOf", []))


def _of(annotation: Any, info: FieldInfo | None, defs: dict[str, JsonSchema], module: types.ModuleType) -> JsonSchema:
    if isinstance(annotation, str):
        annotation = eval(annotation, vars(module))  # noqa: S307  the project's own source text
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *extras = get_args(annotation)
        found = [e for e in extras if isinstance(e, FieldInfo)]
        return _of(base, found[0] if found and found[0].pattern else info, defs, module)
    if origin in (Union, types.UnionType):
        members = [_of(a, info, defs, module) for a in get_args(annotation)]
        flat = [m for member in members for m in member.get("anyOf", [member])]
        return {"anyOf": flat}
    if origin is Literal:
        options = list(get_args(annotation))
        shape: JsonSchema = {"const": options[0]} if len(options) == 1 else {"enum": options}
        return shape | {"type": "string"}
    if origin is list:
        schema: JsonSchema = {"items": _of(get_args(annotation)[0], None, defs, module), "type": "array"}
        if info is not None and info.min_length is not None:
            schema["minItems"] = info.min_length
        return schema
    if origin is dict:
        values = _of(get_args(annotation)[1], None, defs, module)
        return {"additionalProperties": values or True, "type": "object"}
    if isinstance(annotation, type) and issubclass(annotation, Spec):
        if annotation.__name__ not in defs:
            defs[annotation.__name__] = {}  # taken before recursing: a class met twice is described once
            defs[annotation.__name__] = _record(annotation, defs)
        return {"$ref": f"#/$defs/{annotation.__name__}"}
    return _constraints(dict(_SCALARS[annotation]), info)


def _constraints(schema: JsonSchema, info: FieldInfo | None) -> JsonSchema:
    if info is None:
        return schema
    for key, value in (
        ("pattern", info.pattern),
        ("minimum", info.ge),
        ("maximum", info.le),
        ("exclusiveMinimum", info.gt),
    ):
        if value is not None and schema.get("type") in (("string",) if key == "pattern" else ("integer", "number")):
            schema[key] = value
    return schema


def _plain(value: Any) -> Any:
    if isinstance(value, Spec):
        return value.model_dump(mode="json")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _sorted(schema: Any, keep_order: bool = False) -> Any:
    """Keys in alphabetical order, as the committed files have them, except a record's properties and
    required keys, which keep the order the fields are declared in."""
    if isinstance(schema, list):
        return [_sorted(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    keys = list(schema) if keep_order else sorted(schema)
    return {key: _sorted(schema[key], key == "properties" and not keep_order) for key in keys}
