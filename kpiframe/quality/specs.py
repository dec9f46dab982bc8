"""Parse `expectations:` lists into `Expectation`s, with compiler-style diagnostics (KF601-KF605).

Parsing never imports Great Expectations: it runs on every compile, and the GX vocabulary is known
from `catalog.py`. Codes: KF601 malformed item, KF602 unknown expectation, KF603 argument that does
not apply, KF604 missing argument, KF605 bad value. (KF600 is the build's "expectations failed".)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kpiframe.errors import Diagnostic, SourceLocation
from kpiframe.quality import custom
from kpiframe.quality.catalog import GX_EXPECTATIONS, allowed_kwargs
from kpiframe.quality.model import SEVERITIES, Expectation
from kpiframe.suggest import did_you_mean

Locate = Callable[[tuple[str | int, ...]], SourceLocation]
ITEM_KEYS = ("severity", "mostly", "description")  # allowed beside the expectation key of an item


@dataclass(frozen=True)
class ShortForm:
    """A kpiframe shorthand for a GX expectation: its GX name and how our argument names map to GX's."""

    gx_kind: str
    names: dict[str, str]
    required: tuple[str, ...]
    one_of: tuple[str, ...] = ()  # at least one of these (a range needs a min or a max)


SHORT_FORMS = {
    "not_null": ShortForm("expect_column_values_to_not_be_null", {"column": "column"}, ("column",)),
    "unique": ShortForm("expect_column_values_to_be_unique", {"column": "column"}, ("column",)),
    "accepted_values": ShortForm(
        "expect_column_values_to_be_in_set", {"column": "column", "values": "value_set"}, ("column", "values")
    ),
    "row_count_between": ShortForm(
        "expect_table_row_count_to_be_between", {"min": "min_value", "max": "max_value"}, (), ("min", "max")
    ),
    "between": ShortForm(
        "expect_column_values_to_be_between",
        {"column": "column", "min": "min_value", "max": "max_value"},
        ("column",),
        ("min", "max"),
    ),
    "matches_regex": ShortForm(
        "expect_column_values_to_match_regex", {"column": "column", "regex": "regex"}, ("column", "regex")
    ),
}
KNOWN_KINDS = sorted({*SHORT_FORMS, *custom.CUSTOM_CHECKS, *GX_EXPECTATIONS})


@dataclass
class _Item:
    """One list item being parsed: where it is, and the problems found so far."""

    index: int
    key: str  # the key as written (positions are looked up by it)
    kind: str  # the normalised kind (a short form's GX name)
    locate: Locate
    problems: list[Diagnostic] = field(default_factory=list)

    def error(self, code: str, message: str, *path: str, hint: str | None = None) -> None:
        where = self.locate((self.index, *path)) if path else self.locate((self.index,))
        self.problems.append(Diagnostic(code, message, where, hint))

    def arg_error(self, code: str, message: str, arg: str, hint: str | None = None) -> None:
        self.error(code, message, self.key, arg, hint=hint)


def parse_expectations(items: list[Any], target: str, locate: Locate) -> tuple[list[Expectation], list[Diagnostic]]:
    """Each item is a mapping with one expectation key plus optional severity, mostly, description."""
    if items is None:
        return [], []
    if not isinstance(items, list):
        return [], [
            Diagnostic(
                "KF601",
                "'expectations' must be a list",
                locate(()),
                "write one '- not_null: column' style item per expectation",
            )
        ]
    expectations: list[Expectation] = []
    problems: list[Diagnostic] = []
    for index, raw in enumerate(items):
        parsed = _parse_item(raw, index, target, locate, problems)
        if parsed is not None:
            expectations.append(parsed)
    return expectations, problems


def _parse_item(raw: Any, index: int, target: str, locate: Locate, problems: list[Diagnostic]) -> Expectation | None:
    kind = _kind_of(raw, index, locate, problems)
    if kind is None:
        return None
    item = _Item(index, kind, kind, locate)
    severity = raw.get("severity", "error")
    if severity not in SEVERITIES:
        item.error(
            "KF605",
            f"severity must be 'error' or 'warn', not {severity!r}",
            "severity",
            hint=did_you_mean(str(severity), SEVERITIES),
        )
    kwargs = _kwargs_of(item, raw[kind])
    if "mostly" in raw:
        _add_mostly(item, raw["mostly"], kwargs)
    problems.extend(item.problems)
    if item.problems or kwargs is None:
        return None
    description = raw.get("description")
    return Expectation(
        item.kind, kwargs, severity, target, locate((index,)), None if description is None else str(description)
    )


def _kind_of(raw: Any, index: int, locate: Locate, problems: list[Diagnostic]) -> str | None:
    """The expectation key of an item, or None with a KF601/KF602 diagnostic."""
    example = "e.g. '- not_null: email' or '- expect_column_values_to_be_unique: {column: lead_id}'"
    if not isinstance(raw, dict):
        problems.append(
            Diagnostic("KF601", "an expectation must be a mapping with one expectation key", locate((index,)), example)
        )
        return None
    keys = [k for k in raw if k not in ITEM_KEYS]
    if len(keys) != 1:
        message = (
            "an expectation item names no expectation"
            if not keys
            else f"one item names {len(keys)} expectations ({', '.join(map(str, keys))})"
        )
        problems.append(
            Diagnostic("KF601", message, locate((index,)), "write each expectation as its own list item, " + example)
        )
        return None
    kind = str(keys[0])
    if kind not in KNOWN_KINDS:
        hint = did_you_mean(kind, KNOWN_KINDS)
        problems.append(
            Diagnostic(
                "KF602",
                f"unknown expectation '{kind}'" + (f" ({hint})" if hint else ""),
                locate((index, kind)),
                None
                if hint
                else "use a Great Expectations name (expect_...), a short form "
                f"({', '.join(SHORT_FORMS)}) or a KPI check ({', '.join(custom.CUSTOM_CHECKS)})",
            )
        )
        return None
    return kind


def _kwargs_of(item: _Item, value: Any) -> dict[str, Any] | None:
    """The GX (or custom-check) kwargs of an item's expectation, checked against what it accepts."""
    kind = item.kind
    if kind in SHORT_FORMS:
        short = SHORT_FORMS[kind]
        given = _as_mapping(item, value, "column" in short.required)
        if given is None:
            return None
        item.kind = short.gx_kind  # stored under its GX name; the location still points at the short form
        return _short_form(item, kind, short, given)
    required, optional = custom.CUSTOM_CHECKS.get(kind) or GX_EXPECTATIONS[kind]
    given = _as_mapping(item, value, "column" in required)
    if given is None:
        return None
    _check_names(item, given, required, optional)
    if kind in custom.CUSTOM_CHECKS:
        for arg, message in custom.check_arguments(kind, given):
            item.arg_error("KF605", message, arg)
        return custom.normalise(kind, given)
    _check_gx_values(item, given)
    return dict(given)


def _short_form(item: _Item, name: str, short: ShortForm, given: dict[str, Any]) -> dict[str, Any]:
    gx_names = set(allowed_kwargs(short.gx_kind))
    kwargs: dict[str, Any] = {}
    for key, value in given.items():
        if key in short.names:
            kwargs[short.names[key]] = value
        elif key in gx_names and key not in short.names.values():
            kwargs[key] = value  # GX extras such as row_condition or strict_min pass through
        else:
            hint = did_you_mean(str(key), short.names)
            item.arg_error(
                "KF603",
                f"'{name}' takes no argument '{key}'",
                str(key),
                hint=hint or f"'{name}' takes {', '.join(short.names)}",
            )
    for key in short.required:
        if key not in given:
            item.error("KF604", f"'{name}' needs '{key}'", name, hint=f"'{name}' takes {', '.join(short.names)}")
    if short.one_of and not any(k in given for k in short.one_of):
        item.error("KF604", f"'{name}' needs {' or '.join(short.one_of)}", name)
    _check_gx_values(item, kwargs)
    return kwargs


def _as_mapping(item: _Item, value: Any, takes_column: bool) -> dict[str, Any] | None:
    """Arguments as a mapping; a bare name is the column (`- not_null: email`)."""
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, str) and takes_column:
        return {"column": value}
    if value is None and not takes_column:
        return {}
    shape = "a column name or a mapping of arguments" if takes_column else "a mapping of arguments"
    item.error("KF605", f"the arguments of '{item.key}' must be {shape}", item.key)
    return None


def _check_names(item: _Item, given: dict[str, Any], required: tuple[str, ...], optional: tuple[str, ...]) -> None:
    allowed = (*required, *optional)
    for key in given:
        if key not in allowed:
            hint = did_you_mean(key, allowed)
            item.arg_error(
                "KF603",
                f"'{item.key}' takes no argument '{key}'",
                key,
                hint=hint or f"it takes {', '.join(allowed) or 'no arguments'}",
            )
    for key in required:
        if key not in given:
            item.error("KF604", f"'{item.key}' needs '{key}'", item.key, hint=f"required: {', '.join(required)}")


def _check_gx_values(item: _Item, kwargs: dict[str, Any]) -> None:
    """Cheap type checks of common GX arguments; GX itself checks the rest when the suite is built."""
    for key in ("column", "column_A", "column_B"):
        if key in kwargs and not (isinstance(kwargs[key], str) and kwargs[key].strip()):
            item.arg_error("KF605", f"'{key}' must be a column name", key)
    for key in ("value_set", "column_list"):
        if key in kwargs and not isinstance(kwargs[key], list):
            item.arg_error("KF605", f"'{key}' must be a list", key)
    if "regex" in kwargs and not isinstance(kwargs["regex"], str):
        item.arg_error("KF605", "'regex' must be a string", "regex")
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if isinstance(low, (int, float)) and isinstance(high, (int, float)) and low > high:
        item.error("KF605", f"the minimum {low} is above the maximum {high}", item.key)


def _add_mostly(item: _Item, mostly: Any, kwargs: dict[str, Any] | None) -> None:
    if not (_number(mostly) and 0 <= mostly <= 1):
        item.error("KF605", f"mostly must be a fraction between 0 and 1, not {mostly!r}", "mostly")
        return
    if item.kind in custom.CUSTOM_CHECKS or "mostly" not in allowed_kwargs(item.kind):
        item.error(
            "KF603",
            f"mostly does not apply to '{item.key}'",
            "mostly",
            hint="mostly applies to checks of single values, such as not_null or between",
        )
        return
    if kwargs is not None:
        kwargs["mostly"] = mostly


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
