"""MetricFlow metrics as kpiframe metrics: simple, ratio, derived (with offsets), cumulative, conversion.

A metric is imported only when everything it reads was: a metric over a measure that could not be
imported, or over a metric that could not, is reported and left out rather than written half right.
Where MetricFlow filters one input of a ratio or derived metric (`numerator: {name: x, filter: ...}`),
kpiframe says the same with a filtered simple metric of its own, named `<metric>__<input>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kpiframe.imports.metricflow_filters import (
    FINER_THAN_DAY,
    GRAINS,
    TOO_FINE,
    Translation,
    Untranslatable,
    combine,
    translate_filter,
)
from kpiframe.imports.metricflow_plan import ImportPlan, Item, ordered
from kpiframe.imports.metricflow_read import DbtProject, Notes, Raw
from kpiframe.imports.metricflow_semantic import MeasureInfo, metrics_path
from kpiframe.load.specs import OFFSET_TO_GRAINS, check_offset

METRIC_KEYS = ("name", "type", "label", "description", "measure", "filter", "fill_nulls_with", "join_to_timespine")
METRIC_KEYS_MORE: tuple[str, ...] = ("numerator", "denominator", "expr", "inputs", "metric", "window")
METRIC_KEYS_MORE += ("grain_to_date", "period_agg", "grain")
CONVERSION_KEYS = ("base_measure", "conversion_measure", "entity", "window", "calculation", "constant_properties")
CONVERSION_FILTERS = ("base_filter", "conversion_filter")
FILL = "fill_nulls_with"  # kept when None: `fill_nulls_with: null` is MetricFlow's NULL over no rows
SPINE = "join_to_timespine"  # true: every period of kpi_project.yml's `calendar: time_spine:`
HANDLED = {"name", "type", "type_params", "label", "description", "filter", "time_granularity", "config", "meta"}
TYPE_PARAMS = {
    "simple": {"measure"},
    "ratio": {"numerator", "denominator"},
    "derived": {"expr", "metrics"},
    "cumulative": {"measure", "window", "grain_to_date", "cumulative_type_params"},
    "conversion": {"conversion_type_params"},
}
CONVERSION_MEASURE_KEYS = {"name", "fill_nulls_with", "join_to_timespine", "filter"}
DERIVED_INPUT_KEYS = {"name", "alias", "offset_window", "offset_to_grain", "filter"}
ADDITIVE = ("sum", "count")
YEAR_OFFSETS = {("1", "year"), ("12", "month"), ("4", "quarter")}
ALL_TIME_WINDOW = "100 years"  # kpiframe's longest window


class Skip(Exception):
    """The metric cannot be imported; the note is already written."""


@dataclass
class MetricImporter:
    project: DbtProject
    plan: ImportPlan
    notes: Notes
    measures: Mapping[str, MeasureInfo]
    raws: dict[str, Raw] = field(default_factory=dict)
    done: dict[str, Item | None] = field(default_factory=dict)  # name -> imported spec, None if not
    visiting: set[str] = field(default_factory=set)

    def run(self) -> None:
        for raw in self.project.of("metric"):
            self.raws.setdefault(raw.text("name") or "", raw)
        for outs in self.plan.yaml_files.values():  # metrics made by create_metric: true
            for item in outs.lists.get("metrics", []):
                self.done[str(item["name"])] = item
        for name in self.raws:
            self.imported(name)

    def imported(self, name: str) -> Item | None:
        """The kpiframe spec of metric `name`, importing it first; None when it cannot be."""
        if name in self.done:
            return self.done[name]
        raw = self.raws.get(name)
        if raw is None or name in self.visiting:
            return None
        self.visiting.add(name)
        try:
            spec: Item | None = self._metric(raw, name)
        except Skip:
            spec = None
        self.visiting.discard(name)
        self.done[name] = spec
        if spec is not None:
            self._write(spec, raw.path)
        return spec

    def _write(self, spec: Item, source: str) -> None:
        """Plan the metric into the kpiframe file that stands for the dbt file it came from."""
        self.plan.add(
            metrics_path(source, self.project.model_paths),
            "metrics",
            ordered(spec, METRIC_KEYS + METRIC_KEYS_MORE + CONVERSION_KEYS + CONVERSION_FILTERS, keep=(FILL,)),
            source,
        )

    def _metric(self, raw: Raw, name: str) -> Item:
        kind = (raw.text("type") or "").lower()
        subject = f"{kind or 'untyped'} metric '{name}'"
        params = raw.child("type_params") or Raw(raw.path, {}, raw.line)
        builders = {
            "simple": self._simple,
            "ratio": self._ratio,
            "derived": self._derived,
            "cumulative": self._cumulative,
            "conversion": self._conversion,
        }
        if kind not in builders:
            self.notes.unmapped(raw, "type", subject, f"type '{kind}' has no counterpart in kpiframe; not imported")
            raise Skip
        self._report_keys(raw, subject)
        for key in params.key_names():
            if key not in TYPE_PARAMS[kind]:
                self.notes.unmapped(
                    params, key, subject, f"type_params.{key} has no counterpart in kpiframe; not imported"
                )
                raise Skip
        spec: Item = {"name": name, "type": kind, "label": raw.text("label"), "description": raw.text("description")}
        spec.update(builders[kind](raw, params, subject))
        # the metric's time_granularity, else (a simple metric) its measure's time dimension's, if coarse
        spec["grain"] = self._default_grain(raw, subject) or spec.get("grain")
        return spec

    def _report_keys(self, raw: Raw, subject: str) -> None:
        for key in raw.key_names():
            if key not in HANDLED:
                self.notes.unmapped(raw, key, subject, f"'{key}:' has no counterpart in kpiframe; not imported")
        for key in ("config", "meta"):
            if raw.get(key) is not None:
                self.notes.changed(raw, key, subject, f"'{key}:' dropped")

    def _default_grain(self, raw: Raw, subject: str) -> str | None:
        """`time_granularity` (the grain of `metric_time` without one) is the metric's `grain:`."""
        grain = (raw.text("time_granularity") or "").lower()
        if not grain or grain in GRAINS:
            return grain or None
        reason = "finer than kpiframe's finest grain, millisecond" if grain in TOO_FINE else "not a kpiframe grain"
        self.notes.changed(raw, "time_granularity", subject, f"default grain '{grain}' dropped: {reason}")
        return None

    # --- simple ---------------------------------------------------------------------------------------
    def _simple(self, raw: Raw, params: Raw, subject: str) -> Item:
        measure, measure_filter = self._measure_input(params, subject)
        return {
            "measure": measure.name,
            "filter": combine(self._filter(raw, measure, subject), measure_filter),
            FILL: self._fill_nulls(params.child("measure"), subject),
            SPINE: self._join_to_timespine(params.child("measure"), subject),
            "grain": measure.grain,
        }

    def _measure_input(self, params: Raw, subject: str) -> tuple[MeasureInfo, str | None]:
        """The measure of `type_params.measure` (a name, or a mapping with a filter) and its filter."""
        value = params.get("measure")
        if value is None:
            self.notes.unmapped(
                params, None, subject, "no type_params.measure (a metric-level agg is not supported yet)"
            )
            raise Skip
        mapping = params.child("measure")
        name = mapping.text("name") if mapping else str(value)
        measure = self.measures.get(name or "")
        if measure is None:
            self.notes.unmapped(params, "measure", subject, f"measure '{name}' was not imported; not imported")
            raise Skip
        if mapping is None:
            return measure, None
        for key in mapping.key_names():
            if key not in ("name", "filter", "alias", "fill_nulls_with", "join_to_timespine"):
                self.notes.unmapped(mapping, key, subject, f"'{key}:' on the measure input has no counterpart")
                raise Skip
        return measure, self._filter(mapping, measure, subject)

    def _join_to_timespine(self, at: Raw | None, subject: str) -> bool | None:
        """MetricFlow's `join_to_timespine: true` on a measure input is kpiframe's on the metric: every period
        of kpi_project.yml's `calendar: time_spine:`, which the import cannot know (the time spine is a table)."""
        if at is None or at.get("join_to_timespine") is not True:
            return None
        self.notes.changed(
            at,
            "join_to_timespine",
            subject,
            "join_to_timespine: true answers every period of kpi_project.yml's calendar: time_spine: {start, end}: "
            "set it to your time spine's first and last day (without it kpiframe answers the periods from the "
            "first to the last with data, and warns: KF205)",
        )
        return True

    def _fill_nulls(self, at: Raw | None, subject: str) -> int | float | None:
        """The metric's `fill_nulls_with`: MetricFlow's number, or None (NULL where a period or group has
        no rows, MetricFlow's rule)."""
        if at is None:  # `measure: name`, without settings
            return None
        fill = at.get("fill_nulls_with")
        if fill is None:
            return None
        if isinstance(fill, (int, float)) and not isinstance(fill, bool):
            return int(fill) if isinstance(fill, int) else float(fill)  # a plain number, not the reader's type
        self.notes.unmapped(at, "fill_nulls_with", subject, f"fill_nulls_with {fill!r} is not a number; not imported")
        raise Skip

    def _filter(self, at: Raw, measure: MeasureInfo | None, subject: str) -> str | None:
        if at.get("filter") is None:
            return None
        # without a measure (a filter over a ratio's or derived metric's inputs) metric_time stays a
        # placeholder, replaced by each input's own time where the filtered copies are made
        translation: Translation = translate_filter(
            at.get("filter"), lambda: measure.time if measure else "metric_time", metric=self._readable
        )
        if translation.text is None:
            self.notes.unmapped(at, "filter", subject, "; ".join(translation.reasons) + "; not imported")
            raise Skip
        return translation.text

    def _readable(self, name: str, group_by: str) -> str:
        """A metric a filter reads per entity (`Metric('x', group_by=[...])`) must be imported too."""
        if self.imported(name) is None:
            raise Untranslatable(f"Metric('{name}'): '{name}' is no metric the import writes")
        return group_by

    # --- ratio and derived ----------------------------------------------------------------------------
    def _ratio(self, raw: Raw, params: Raw, subject: str) -> Item:
        name = raw.text("name") or ""
        shared = self._filter(raw, None, subject) if raw.get("filter") is not None else None
        return {
            "numerator": self._input(params, "numerator", name, shared, subject)[0],
            "denominator": self._input(params, "denominator", name, shared, subject)[0],
        }

    def _derived(self, raw: Raw, params: Raw, subject: str) -> Item:
        name = raw.text("name") or ""
        shared = self._filter(raw, None, subject) if raw.get("filter") is not None else None
        inputs: list[Item] = []
        for item in params.children("metrics"):
            for key in item.key_names():
                if key not in DERIVED_INPUT_KEYS:
                    self.notes.unmapped(item, key, subject, f"'{key}:' on an input has no counterpart; not imported")
                    raise Skip
            offset = self._offset(item, subject)  # before _input, which may write a filtered copy
            metric, alias = self._input(item, None, name, shared, subject)
            if alias or offset or metric != item.text("name"):
                inputs.append(ordered({"metric": metric, "alias": alias or item.text("name"), "offset": offset}, ()))
        return {"expr": " ".join((params.text("expr") or "").split()), "inputs": inputs}

    def _input(self, at: Raw, key: str | None, parent: str, shared: str | None, subject: str) -> tuple[str, str | None]:
        """(the kpiframe metric an input reads, its alias); a filtered input becomes a filtered copy."""
        node = at.child(key) if key else at
        name = (node.text("name") if node else at.text(key or "name")) or ""
        alias = node.text("alias") if node else None
        spec = self.imported(name)
        if spec is None:
            self.notes.unmapped(at, key, subject, f"reads metric '{name}', which was not imported; not imported")
            raise Skip
        own = self._filter(node, None, subject) if node is not None and node.get("filter") is not None else None
        if own is None and shared is None:
            return name, alias
        if spec["type"] != "simple":
            self.notes.unmapped(at, key, subject, f"a filter on {spec['type']} metric '{name}' has no counterpart")
            raise Skip
        helper = self._unique(f"{parent}__{key or (alias or name)}")
        measure = self.measures[str(spec["measure"])]
        filters = combine(
            _metric_time(spec.get("filter"), measure), _metric_time(shared, measure), _metric_time(own, measure)
        )
        copy: Item = {"name": helper, "type": "simple", "measure": spec["measure"], "filter": filters}
        copy[FILL] = spec.get(FILL)
        copy[SPINE] = spec.get(SPINE)
        copy["description"] = f"'{name}' filtered for '{parent}' (made by kpiframe import metricflow)."
        self.done[helper] = copy
        self._write(copy, at.path)
        return helper, alias or (name if key is None else None)

    def _offset(self, item: Raw, subject: str) -> str | None:
        to_grain = item.text("offset_to_grain")
        if to_grain is not None:
            return self._offset_to_grain(item, to_grain.lower(), subject)
        window = item.text("offset_window")
        if window is None:
            return None
        count, _, unit = window.lower().partition(" ")
        unit = unit.strip().rstrip("s")
        if (count, unit) in YEAR_OFFSETS:
            return "year"
        try:
            offset = check_offset(f"{count} {unit}{'' if count == '1' else 's'}")
        except ValueError:
            self.notes.unmapped(
                item, "offset_window", subject, f"offset_window {window}: kpiframe offsets by milliseconds to years"
            )
            raise Skip from None
        self.notes.changed(
            item,
            "offset_window",
            subject,
            f"offset_window {window} is offset: {offset}, read at grains it moves whole periods of (day grain "
            "always); at others kpiframe refuses it (KF424) where MetricFlow sums the shifted days",
        )
        return offset

    def _offset_to_grain(self, item: Raw, to_grain: str, subject: str) -> str:
        if to_grain not in OFFSET_TO_GRAINS:
            self.notes.unmapped(
                item, "offset_to_grain", subject, f"offset_to_grain {to_grain}: kpiframe offsets to a second to a year"
            )
            raise Skip
        self.notes.changed(
            item,
            "offset_to_grain",
            subject,
            f"offset_to_grain {to_grain} is offset: start of {to_grain}, the same at day grain; at a coarser grain "
            f"kpiframe reads the first period of the {to_grain}, MetricFlow its first day",
        )
        return f"start of {to_grain}"

    def _unique(self, name: str) -> str:
        taken = set(self.raws) | set(self.done) | set(self.measures)
        candidate, number = name, 2
        while candidate in taken:
            candidate, number = f"{name}_{number}", number + 1
        return candidate

    # --- cumulative -----------------------------------------------------------------------------------
    def _cumulative(self, raw: Raw, params: Raw, subject: str) -> Item:
        measure, measure_filter = self._measure_input(params, subject)
        if measure.non_additive:
            self.notes.unmapped(
                params,
                "measure",
                subject,
                f"measure '{measure.name}' is non_additive (one value per period): kpiframe does not accumulate it "
                "(KF204); not imported",
            )
            raise Skip
        if measure.agg not in (*ADDITIVE, "count_distinct"):
            self.notes.unmapped(
                params, "measure", subject, f"accumulating a {measure.agg} is not a running sum; not imported"
            )
            raise Skip
        settings = params.child("cumulative_type_params") or params
        window, grain = (
            settings.text("window") or params.text("window"),
            settings.text("grain_to_date") or params.text("grain_to_date"),
        )
        finer = _finer_than_kpiframe(window, grain)
        if finer:
            key = "grain_to_date" if grain and finer == grain.lower() else "window"
            self.notes.unmapped(
                settings, key, subject, f"{finer} is finer than kpiframe's finest grain, millisecond; not imported"
            )
            raise Skip
        # which day of a coarser period it shows: MetricFlow's default is the first, kpiframe's the last
        period_agg = (settings.text("period_agg") or "first").lower()
        if not window and not grain:
            window = ALL_TIME_WINDOW
            self.notes.changed(raw, "type", subject, f"all-time cumulative imported with window '{ALL_TIME_WINDOW}'")
        filters = combine(self._filter(raw, measure, subject), measure_filter)
        if measure.agg == "count_distinct" and filters:
            self.notes.unmapped(
                params, "measure", subject, "a cumulative count_distinct takes no filter in kpiframe; not imported"
            )
            raise Skip
        measure_input = params.child("measure")
        fill, spine = self._fill_nulls(measure_input, subject), self._join_to_timespine(measure_input, subject)
        base = self._base_metric(raw, measure, filters, fill, spine)
        period = period_agg if period_agg in ("first", "average") else None  # last: kpiframe's default
        return {
            "metric": base,
            "window": window,
            "grain_to_date": grain.lower() if grain else None,
            "period_agg": period,
        }

    def _base_metric(
        self, raw: Raw, measure: MeasureInfo, filters: str | None, fill: int | float | None, spine: bool | None
    ) -> str:
        """A simple metric of the measure (with the filter, fill and time spine): an imported one if any, else
        a new one."""
        wanted = {"type": "simple", "measure": measure.name, "filter": filters, FILL: fill, SPINE: spine}
        for name, spec in self.done.items():
            if spec and all(spec.get(key) == value for key, value in wanted.items()):
                return name
        helper = self._unique(f"{raw.text('name')}__base")
        copy: Item = {"name": helper, "type": "simple", "measure": measure.name, "filter": filters, FILL: fill}
        copy[SPINE] = spine
        copy["description"] = f"What '{raw.text('name')}' accumulates (made by kpiframe import metricflow)."
        self.done[helper] = copy
        self._write(copy, raw.path)
        return helper

    # --- conversion ------------------------------------------------------------------------------------
    def _conversion(self, raw: Raw, params: Raw, subject: str) -> Item:
        """MetricFlow applies a conversion metric's `filter:` (as a query's `--where`) and its base measure's
        `filter:` to the base events: kpiframe's `base_filter`. A filter on the conversion measure MetricFlow
        does not apply (its validation warns); kpiframe applies it to the conversion events, reported."""
        settings = params.child("conversion_type_params") or Raw(raw.path, {}, params.line)
        for key in settings.key_names():
            if key not in CONVERSION_KEYS:
                self.notes.unmapped(settings, key, subject, f"'{key}:' has no counterpart in kpiframe; not imported")
                raise Skip
        base, _, base_filter = self._conversion_input(settings, "base_measure", subject)
        conversion, fill, conversion_filter = self._conversion_input(settings, "conversion_measure", subject)
        spines = [
            self._join_to_timespine(settings.child(key), subject) for key in ("base_measure", "conversion_measure")
        ]
        window = settings.text("window")
        if _finer_than_kpiframe(window, None, FINER_THAN_DAY):
            self.notes.unmapped(settings, "window", subject, f"{window} is finer than a day; not imported")
            raise Skip
        pairs = [
            {"base_property": p.text("base_property"), "conversion_property": p.text("conversion_property")}
            for p in settings.children("constant_properties")
        ]
        if conversion_filter is not None:
            self.notes.changed(
                settings.child("conversion_measure") or settings,
                "filter",
                subject,
                "the conversion measure's filter is conversion_filter: kpiframe keeps only the conversions it "
                "keeps, where MetricFlow does not apply it (it warns), so kpiframe counts fewer conversions where "
                "it drops some",
            )
        return {
            "base_measure": base,
            "conversion_measure": conversion,
            "entity": settings.text("entity"),
            "window": window,
            "calculation": (settings.text("calculation") or "conversion_rate").lower(),
            "constant_properties": pairs,
            "base_filter": combine(self._filter(raw, self.measures[base], subject), base_filter),
            "conversion_filter": conversion_filter,
            FILL: fill,  # MetricFlow's rule without one: NULL conversions (and rate) where none was credited
            SPINE: True if any(spines) else None,
        }

    def _conversion_input(self, settings: Raw, key: str, subject: str) -> tuple[str, int | float | None, str | None]:
        """A conversion's measure (a name, or a mapping), its fill_nulls_with and its filter (translated,
        `metric_time` as the measure's own time)."""
        mapping = settings.child(key)
        name = mapping.text("name") if mapping else settings.text(key)
        if name not in self.measures:
            self.notes.unmapped(settings, key, subject, f"measure '{name}' was not imported; not imported")
            raise Skip
        measure = self.measures[name or ""]
        if measure.non_additive:
            self.notes.unmapped(
                settings, key, subject, f"measure '{name}' is non_additive: no conversion pairs its rows (KF204)"
            )
            raise Skip
        if mapping is None:
            return str(name), None, None
        for extra in mapping.key_names():
            if extra not in CONVERSION_MEASURE_KEYS:
                self.notes.unmapped(mapping, extra, subject, f"'{extra}:' on a conversion's measure has no counterpart")
                raise Skip
        return str(name), self._fill_nulls(mapping, subject), self._filter(mapping, measure, subject)


def _metric_time(text: object, measure: MeasureInfo) -> str | None:
    return None if text is None else str(text).replace("metric_time", measure.time)


def import_metrics(project: DbtProject, plan: ImportPlan, notes: Notes, measures: Mapping[str, MeasureInfo]) -> None:
    MetricImporter(project, plan, notes, measures).run()


def _finer_than_kpiframe(window: str | None, grain: str | None, finer: tuple[str, ...] = TOO_FINE) -> str | None:
    """A cumulative window ('3 microseconds') or grain_to_date finer than kpiframe's finest grain (`finer`:
    the units a conversion's window may not have, which are every unit finer than a day)."""
    unit = (window or "").lower().split(" ")[-1].rstrip("s")
    if unit in finer:
        return window
    return grain.lower() if grain and grain.lower() in finer else None
