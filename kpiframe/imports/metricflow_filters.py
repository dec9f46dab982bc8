"""MetricFlow's filter templates in kpiframe's filter syntax.

MetricFlow writes a filter as SQL with Jinja calls that name what it groups by:
`{{ Dimension('customer__country') }} = 'MX'`, `{{ TimeDimension('metric_time', 'month') }} >= '2024-01-01'`,
`{{ Entity('listing') }} IS NOT NULL`, `{{ Metric('bookings', group_by=['listing']) }} > 2`. kpiframe
names the same things directly: a dimension is `<primary entity>__<name>` (the name MetricFlow uses too),
an entity of the metric's own dataset is its bare name, a metric per entity `listing__bookings`
(kpiframe.sql.metric_filters), and a time at a grain is `date_trunc('month', lead__created_at)`. `metric_time` is the
measure's aggregation time, so it translates only where one measure is concerned.

A date part (`{{ TimeDimension('metric_time', date_part_name='month') }}`, `Dimension('x').date_part('dow')`)
is kpiframe's date-part name, `metric_time__extract_month`, in a request's `--where` (the scans resolve
metric_time there, each to its own time); a metric's filter, which kpiframe resolves without date parts,
does not take one.

The calls are parsed as Python expressions (their syntax), never evaluated.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from kpiframe.sql.calendar import SUBDAY_GRAINS
from kpiframe.sql.date_parts import METRIC_TIME, date_part_name, grain_name

# A template or a quoted SQL value ('text', or "a name"), whichever starts first: a template holds quotes
# (`Dimension('x')`) and a value may hold braces (a campaign named '{{ first_name }}'), so neither is read
# inside the other. Values and names are kept as written; a template inside one is text, not a call.
PIECE = re.compile(
    r"(?P<template>\{\{-?\s*(?P<call>.*?)\s*-?\}\})|(?P<quoted>'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")", re.DOTALL
)
GRAINS = ("day", "week", "month", "quarter", "year", *SUBDAY_GRAINS)  # MetricFlow's that kpiframe has
FINER_THAN_DAY = ("nanosecond", "microsecond", "millisecond", "second", "minute", "hour")
TOO_FINE = ("nanosecond", "microsecond")  # finer than kpiframe's finest grain, millisecond
MetricTime = Callable[[], str | None]  # the qualified time dimension metric_time stands for, if one
EntityName = Callable[[str], str]  # what an `Entity('x')` is written as; raises Untranslatable if nothing
# `Metric('x', group_by=['g'])`: the group-by as kpiframe names it; Untranslatable when x is no metric there is
MetricCheck = Callable[[str, str], str]


class Untranslatable(Exception):
    """A template kpiframe has no way to say; the message says which and why."""


@dataclass(frozen=True)
class _Call:
    """One template call: `TimeDimension('booking__ds', 'month')` is ('TimeDimension', 'booking__ds', 'month')."""

    kind: str  # Dimension, TimeDimension, Entity or Metric
    name: str
    grain: str | None = None
    date_part: str | None = None
    group_by: str | None = None  # Metric('bookings', group_by=['listing']): the entity it is taken per


@dataclass
class Translation:
    text: str | None  # None: not translated (see `reasons`)
    reasons: list[str] = field(default_factory=list)


def bare_entity(name: str) -> str:
    """An entity of the metric's own dataset, by its bare name (what a metric's `filter:` may name)."""
    return name.split("__")[-1]


def translate_filter(
    value: object,
    metric_time: MetricTime,
    entity: EntityName = bare_entity,
    *,
    date_parts: bool = False,
    custom_grains: Collection[str] = (),
    metric: MetricCheck = lambda name, group_by: group_by,
) -> Translation:
    """A MetricFlow `filter:` (a string or a list of strings, all of which must hold) in kpiframe syntax;
    `date_parts`: the filter is a request's, which may name date parts and the project's `custom_grains`
    (`{{ TimeDimension('metric_time', 'alien_day') }}` is `metric_time__alien_day`)."""
    parts = value if isinstance(value, list) else [value]
    texts = [str(part) for part in parts if part is not None and str(part).strip()]
    custom = tuple(custom_grains) if date_parts else ()
    try:
        translated = [
            _rewrite(text, lambda call: _call(call, metric_time, entity, date_parts, custom, metric)) for text in texts
        ]
    except Untranslatable as exc:
        return Translation(None, [str(exc)])
    if not translated:
        return Translation(None, ["empty filter"])
    if len(translated) == 1:
        return Translation(translated[0])
    return Translation(" AND ".join(f"({text})" for text in translated))


def has_template(text: str) -> bool:
    """Whether `text` calls a template outside its quoted values."""
    return any(piece.group("template") for piece in PIECE.finditer(text))


def _rewrite(text: str, translate: Callable[[str], str]) -> str:
    """`text` with each template translated, its quoted values and names as written, and the rest's
    whitespace (a YAML filter's line breaks) collapsed to single spaces."""
    out: list[str] = []
    at = 0
    for piece in PIECE.finditer(text):
        out.append(_spaces(text[at : piece.start()]))
        out.append(translate(piece.group("call")) if piece.group("template") else piece.group("quoted"))
        at = piece.end()
    out.append(_spaces(text[at:]))
    return "".join(out).strip()


def _spaces(sql: str) -> str:
    return re.sub(r"\s+", " ", sql)


def combine(*filters: str | None) -> str | None:
    """Filters that must all hold, as one (kpiframe takes one `filter:` per metric)."""
    present = [f for f in filters if f]
    if len(present) <= 1:
        return present[0] if present else None
    return " AND ".join(f"({f})" for f in present)


def group_by_item(text: str) -> tuple[str, str]:
    """A saved query's `group_by:` item as (kind, value): ('dimension', 'customer__country'), ('dimension',
    'customer') for Entity('customer'), ('grain', 'month') for metric_time; Untranslatable otherwise."""
    call = _parse_call(text.strip().removeprefix("{{").removesuffix("}}").strip())
    if call.date_part is None and call.kind == "TimeDimension" and call.name == METRIC_TIME:
        return "grain", call.grain or "day"
    if call.date_part is None and call.kind in ("Dimension", "Entity") and call.grain is None:
        return "dimension", call.name  # an entity groups by its key, named by the same path
    raise Untranslatable(f"group_by {text!r}: kpiframe tables group by metric_time, dimensions and entities only")


def _call(
    inner: str,
    metric_time: MetricTime,
    entity: EntityName,
    date_parts: bool,
    custom: tuple[str, ...],
    metric: MetricCheck,
) -> str:
    call = _parse_call(inner, custom)
    if call.kind == "Entity":
        return entity(call.name)
    if call.kind == "Metric":
        return f"{metric(call.name, call.group_by or '')}__{call.name}"
    if call.date_part is not None:
        return _date_part(call, inner, date_parts)
    if call.grain is not None and call.grain in custom:  # the scans resolve metric_time's, each its own time
        return grain_name(call.name, call.grain)
    if call.kind == "Dimension" and call.grain is None and call.name != METRIC_TIME:
        return call.name
    name = call.name
    if name == METRIC_TIME:
        resolved = metric_time()
        if resolved is None:
            raise Untranslatable("metric_time in a filter over several measures: kpiframe has no metric_time")
        name = resolved
    if call.grain in (None, "day"):
        return name
    if date_parts and call.name != METRIC_TIME and call.name != _own_time(metric_time):
        return grain_name(call.name, call.grain)  # a request's, of another time: the row's period column
    return f"date_trunc('{call.grain}', {name})"


def _own_time(metric_time: MetricTime) -> str | None:
    """The metrics' own time, None when they have none in common (kpiframe.sql.time_grains)."""
    try:
        return metric_time()
    except Untranslatable:
        return None


def _date_part(call: _Call, inner: str, date_parts: bool) -> str:
    """kpiframe's name of a date part, `booking__ds__extract_dow`; the query's filter check reports an
    unknown part or the part of a dimension that is no time, as for kpiframe's own names."""
    if not date_parts:
        raise Untranslatable(
            f"a date part in '{{{{ {inner} }}}}': a metric's filter takes none in kpiframe "
            f"(a query's --where does: {date_part_name(call.name, call.date_part or '')} = 1)"
        )
    if call.grain not in (None, "day"):  # the part of the period's first day: rarely what is meant
        raise Untranslatable(f"'{{{{ {inner} }}}}' asks for a grain and a date part: kpiframe takes one of them")
    return date_part_name(call.name, (call.date_part or "").lower())


def _parse_call(inner: str, custom: tuple[str, ...] = ()) -> _Call:
    """The kind, name, grain and date part of one template call."""
    try:
        tree = ast.parse(inner, mode="eval").body
    except SyntaxError:
        raise Untranslatable(f"'{{{{ {inner} }}}}' is not a call MetricFlow documents") from None
    chained: dict[str, str] = {}
    while isinstance(tree, ast.Call) and isinstance(tree.func, ast.Attribute):  # Dimension('x').grain('month')
        method = tree.func.attr
        if method not in ("grain", "date_part") or len(tree.args) != 1:
            raise Untranslatable(f"'.{method}(...)' in '{{{{ {inner} }}}}' has no counterpart in kpiframe")
        chained.setdefault(method, _literal(tree.args[0], inner))  # the last call wins, as it applies last
        tree = tree.func.value
    if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name)):
        raise Untranslatable(f"'{{{{ {inner} }}}}' is not a call MetricFlow documents")
    kind = tree.func.id
    if kind not in ("Dimension", "TimeDimension", "Entity", "Metric"):
        raise Untranslatable(f"'{kind}(...)' in a filter has no counterpart in kpiframe")
    if not tree.args:
        raise Untranslatable(f"'{{{{ {inner} }}}}' names nothing")
    name = _literal(tree.args[0], inner)
    if kind == "Metric":
        return _Call(kind, name, group_by=_metric_group_by(tree, inner))
    grain, date_part = chained.get("grain"), chained.get("date_part")
    for keyword in tree.keywords:
        if keyword.arg in ("time_granularity_name", "time_granularity", "grain"):
            grain = _literal(keyword.value, inner)
        elif keyword.arg == "date_part_name":
            date_part = _literal(keyword.value, inner)
        elif keyword.arg != "entity_path":  # kpiframe names carry no path: the join is unambiguous
            raise Untranslatable(f"'{keyword.arg}=' in '{{{{ {inner} }}}}' has no counterpart in kpiframe")
    if kind == "TimeDimension" and len(tree.args) > 1:
        grain = _literal(tree.args[1], inner)
    return _Call(kind, name, _grain(grain, inner, custom), date_part)


def _metric_group_by(tree: ast.Call, inner: str) -> str:
    """The one entity a `Metric('bookings', ['listing'])` (or `group_by=['listing']`) is taken per."""
    found = [k.value for k in tree.keywords if k.arg == "group_by"] or tree.args[1:2]
    if any(k.arg != "group_by" for k in tree.keywords) or len(tree.args) > 2:
        raise Untranslatable(f"'{{{{ {inner} }}}}': kpiframe takes a metric's name and group_by only")
    if not found or not isinstance(found[0], ast.List | ast.Tuple) or len(found[0].elts) != 1:
        raise Untranslatable(f"'{{{{ {inner} }}}}': a metric in a filter is taken per exactly one entity")
    return _literal(found[0].elts[0], inner)


def _literal(node: ast.expr, inner: str) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    raise Untranslatable(f"'{{{{ {inner} }}}}' holds a value that is not a plain string")


def _grain(grain: str | None, inner: str, custom: tuple[str, ...] = ()) -> str | None:
    if grain is None:
        return None
    if grain in custom:
        return grain
    grain = grain.lower()
    if grain in TOO_FINE:
        raise Untranslatable(f"grain '{grain}' in '{{{{ {inner} }}}}': kpiframe's finest grain is millisecond")
    if grain not in GRAINS:
        raise Untranslatable(f"grain '{grain}' in '{{{{ {inner} }}}}' is not one of kpiframe's grains")
    return grain
