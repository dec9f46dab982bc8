"""The volume guard: a load that empties or shrinks a table never replaces good published tables.

Each build counts the rows of the sources it reads and of the metric tables it is about to publish,
and compares each count with the same table's count at the last successful build (kept in
`kpiframe.runs`). A table that lost more than its allowed fraction of rows (`max_drop`), or became
empty after having rows, fails the guard at its severity: `error` stops the build like a failed
error expectation (exit code 3, nothing published), `warn` is reported and the build goes on, `off`
only records the count. A table without a previous count (a first build) passes.

    volume_guard: {max_drop: 0.5, sources: warn, tables: error}     # kpi_project.yml, the defaults
    volume: {max_drop: 0.9, severity: warn}                         # on one table or source table

Verdicts become results of kind `volume` beside the expectations (terminal summary,
target/run_results.json, JUnit XML, kpiframe.expectation_results) and go into the run record
(`kpiframe.runs.volume`, JSON per table).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from kpiframe.build.plan import CompiledNode
from kpiframe.build.runs import BASELINE_RESET, META_SCHEMA, STAGING_SUFFIX, table
from kpiframe.engine import Warehouse
from kpiframe.errors import ExpectationsFailed, KpiframeError, SourceLocation
from kpiframe.load.files import parse_yaml_cached, read_text
from kpiframe.load.loaded import LoadedProject, Source
from kpiframe.load.names import funnel_table
from kpiframe.load.specs import VolumeSpec
from kpiframe.quality.model import Expectation, ExpectationResult
from kpiframe.suggest import did_you_mean

KIND = "volume"
PASSED = ("pass", "no baseline", "accepted", "off")


class VolumeDropped(ExpectationsFailed):
    """A table shrank beyond its allowed drop at severity error; exit code 3 like failed expectations."""


@dataclass(frozen=True)
class VolumeRule:
    max_drop: float  # the fraction of rows a table may lose between two successful builds
    severity: str  # error | warn | off


@dataclass(frozen=True)
class GuardTarget:
    """One table the guard counts: a source as it is, a metric table on its staging copy."""

    kind: str  # source | table
    schema: str
    name: str
    rule: VolumeRule
    location: SourceLocation | None

    @property
    def key(self) -> str:
        """The name in the run record, as in rows_per_table: schema.table."""
        return f"{self.schema}.{self.name}"

    @property
    def target(self) -> str:
        """The name in results, as expectations name their targets."""
        return f"source {self.key}" if self.kind == "source" else f"table {self.name}"

    @property
    def counted(self) -> str:
        return self.name + STAGING_SUFFIX if self.kind == "table" else self.name


@dataclass
class Verdict:
    target: GuardTarget
    previous: int | None
    previous_run: str | None
    new: int
    accepted: bool

    @property
    def drop(self) -> float | None:
        """The fraction of rows lost since the last successful build (negative when it grew)."""
        if not self.previous:
            return None
        return (self.previous - self.new) / self.previous

    @property
    def too_big(self) -> bool:
        if not self.previous or self.previous <= 0:
            return False
        # an emptied table is always caught, even with max_drop: 1 (a failed load, not a real drop)
        return self.new == 0 or (self.drop or 0) > self.target.rule.max_drop

    @property
    def verdict(self) -> str:
        """pass | no baseline | accepted | warn | fail | off."""
        if self.target.rule.severity == "off":
            return "off"
        if self.previous is None:
            return "no baseline"
        if not self.too_big:
            return "pass"
        if self.accepted:
            return "accepted"
        return "fail" if self.target.rule.severity == "error" else "warn"

    def record(self) -> dict[str, Any]:
        return {
            "kind": self.target.kind,
            "previous": self.previous,
            "previous_run": self.previous_run,
            "new": self.new,
            "max_drop": self.target.rule.max_drop,
            "severity": self.target.rule.severity,
            "verdict": self.verdict,
        }

    def describe(self) -> str:
        """For the error message: `metrics.sales_monthly 154 -> 0 rows (-100%)`."""
        return f"{self.target.key} {self.previous or 0:,} -> {self.new:,} rows (-{self.drop or 0:.0%})"

    def result(self) -> ExpectationResult:
        rule = self.target.rule
        expectation = Expectation(
            KIND,
            {"max_drop": rule.max_drop},
            "warn" if rule.severity == "warn" else "error",
            self.target.target,
            self.target.location,
            f"at most {rule.max_drop:.0%} fewer rows than at the last successful build",
        )
        observed = {
            "previous": self.previous,
            "new": self.new,
            "drop": self.drop,
            "verdict": self.verdict,
            "previous_run": self.previous_run,
        }
        return ExpectationResult(expectation, self.verdict in PASSED, observed, self.new, None, None)


@dataclass
class VolumeGuard:
    targets: list[GuardTarget]
    accepted: set[str] = field(default_factory=set)  # keys whose drop the user accepted for this build
    verdicts: list[Verdict] = field(default_factory=list)
    notify: Callable[[str], None] | None = None

    @classmethod
    def for_build(
        cls,
        graph: LoadedProject,
        nodes: list[CompiledNode],
        accept: Iterable[str] = (),
        notify: Callable[[str], None] | None = None,
    ) -> VolumeGuard:
        """Guard the metric tables among `nodes` and the sources their models read."""
        targets = [*_source_targets(graph, nodes), *_table_targets(graph, nodes)]
        return cls(targets, _accepted_keys(targets, accept), notify=notify)

    def measure(self, warehouse: Warehouse) -> dict[str, dict[str, Any]]:
        """Count each target and compare with the last successful build; the run record's entries."""
        before = previous_counts(warehouse, {target.key for target in self.targets})
        self.verdicts = []
        for target in self.targets:
            count = warehouse.query(exp.select(exp.Count(this=exp.Star())).from_(table(target.schema, target.counted)))
            previous, run_id = before.get(target.key, (None, None))
            self.verdicts.append(Verdict(target, previous, run_id, int(count.rows[0][0]), target.key in self.accepted))
        if self.notify and self.verdicts:
            self.notify(self.summary())
        return {v.target.key: v.record() for v in self.verdicts}

    def summary(self) -> str:
        """One line for the terminal: what was counted and how many tables shrank too far."""
        counts = Counter(v.verdict for v in self.verdicts)
        sources = sum(v.target.kind == "source" for v in self.verdicts)
        shrank = counts["fail"] + counts["warn"] + counts["accepted"]
        parts = [
            f"{counts[verdict]} {word}"
            for verdict, word in (
                ("fail", "failed"),
                ("warn", "warned"),
                ("accepted", "accepted"),
                ("no baseline", "counted for the first time"),
            )
            if counts[verdict]
        ]
        return (
            f"volume guard: counted {sources} source(s) and {len(self.verdicts) - sources} table(s) against "
            f"the last successful build; {shrank} shrank beyond their allowed drop"
            + (f" ({', '.join(parts)})" if parts else "")
        )

    def results(self) -> list[ExpectationResult]:
        return [v.result() for v in self.verdicts if v.verdict != "off"]

    def stop_on_errors(self) -> None:
        failed = [v for v in self.verdicts if v.verdict == "fail"]
        if not failed:
            return
        shrunk = ", ".join(v.describe() for v in failed)
        names = ",".join(v.target.name for v in failed)
        raise VolumeDropped(
            f"volume guard: {len(failed)} table(s) would shrink beyond their allowed drop since the last "
            f"successful build: {shrunk}",
            code="KF610",
            location=failed[0].target.location,
            hint=f"nothing was published. If the load failed, reload and build again. If the drop is real, "
            f"rerun with `kpiframe build --accept-volume-drop {names}`, or raise `max_drop` "
            "(`volume: {max_drop: 0.9}` on the table or source, or `volume_guard:` in kpi_project.yml)",
        )


def previous_counts(warehouse: Warehouse, keys: set[str]) -> dict[str, tuple[int, str]]:
    """schema.table -> (rows, run id) at the newest successful build that counted the table, for `keys`.

    Sources are counted only by the guard (`volume`); published tables also by `rows_per_table`, so
    runs recorded before the guard existed give tables their baseline too. The search stops at the
    newest baseline reset (`kpiframe demo` replaced raw.*).
    """
    status = exp.column("status", quoted=True)
    runs = (
        exp.select(
            exp.column("run_id", quoted=True),
            exp.column("volume", quoted=True),
            exp.column("rows_per_table", quoted=True),
            status.copy(),
        )
        .from_(table(META_SCHEMA, "runs"))
        .where(
            exp.In(this=status.copy(), expressions=[exp.Literal.string("success"), exp.Literal.string(BASELINE_RESET)])
        )
        .order_by(exp.Ordered(this=exp.column("started_at", quoted=True), desc=True))
    )
    found: dict[str, tuple[int, str]] = {}
    for run_id, volume, rows, state in warehouse.query(runs).rows:
        if state == BASELINE_RESET:  # the raw data was replaced wholesale here: older counts do not apply
            break
        counts = {key: entry.get("new") for key, entry in _json(volume).items() if isinstance(entry, dict)}
        counts.update({key: value for key, value in _json(rows).items() if key not in counts})
        for key, value in counts.items():
            if key in keys and key not in found and isinstance(value, int) and value >= 0:  # -1: a view
                found[key] = (value, str(run_id))
        if len(found) == len(keys):  # newest first: older runs cannot change a table already found
            break
    return found


def _json(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except (TypeError, ValueError):  # a hand-edited record: no baseline rather than a failed build
        return {}
    return value if isinstance(value, dict) else {}


def _rule(override: VolumeSpec | None, max_drop: float, severity: str) -> VolumeRule:
    if override is None:
        return VolumeRule(max_drop, severity)
    return VolumeRule(max_drop if override.max_drop is None else override.max_drop, override.severity or severity)


def _table_targets(graph: LoadedProject, nodes: list[CompiledNode]) -> list[GuardTarget]:
    settings = graph.config.volume_guard
    targets = []
    for node in nodes:
        if node.kind != "table" or node.materialized != "table":
            continue  # a view holds no rows of its own
        located = graph.tables.get(node.name)
        override = getattr(located.spec, "volume", None) if located else None
        location = (located.at("volume") if override else located.location) if located else _funnel_at(graph, node)
        targets.append(
            GuardTarget("table", node.schema, node.name, _rule(override, settings.max_drop, settings.tables), location)
        )
    return targets


def _funnel_at(graph: LoadedProject, node: CompiledNode) -> SourceLocation | None:
    """A funnel's published tables (funnel_<name>_monthly[_by_<dimension>]) point at the funnel."""
    for located in graph.funnels.values():
        if node.name.startswith(funnel_table(located.spec.name)):
            return located.location
    return SourceLocation(node.path) if node.path else None


def _source_targets(graph: LoadedProject, nodes: list[CompiledNode]) -> list[GuardTarget]:
    settings = graph.config.volume_guard
    keys = {
        key
        for node in nodes
        if node.kind == "model" and node.name in graph.models
        for key in graph.models[node.name].sources
    }
    targets = []
    for key in sorted(keys):
        source = graph.sources.get(key)
        if source is None:
            continue
        override, location = _source_override(graph, source)
        targets.append(
            GuardTarget(
                "source", source.schema, source.table, _rule(override, settings.max_drop, settings.sources), location
            )
        )
    return targets


def _source_override(graph: LoadedProject, source: Source) -> tuple[VolumeSpec | None, SourceLocation]:
    """The `volume:` of a source table, read back from its YAML file, and where the table is declared.

    The graph keeps a source's contract (columns, types) but not its spec. The file was validated
    when the project loaded (SourceTableSpec has `volume`), and its parse is cached under target/.
    """
    rel = source.location.path
    text = read_text(graph.root / rel, graph.root, [])
    doc = parse_yaml_cached(text, rel, [], graph.root / "target" / "partial_parse") if text is not None else None
    data = doc.data if doc is not None and isinstance(doc.data, dict) else {}
    for i, item in enumerate(data.get("sources") or []):
        if not isinstance(item, dict) or item.get("name") != source.name:
            continue
        for j, spec in enumerate(item.get("tables") or []):
            if not isinstance(spec, dict) or spec.get("name") != source.table:
                continue
            assert doc is not None
            at = ("sources", i, "tables", j)
            if spec.get("volume") is None:
                return None, doc.locate(at)
            return VolumeSpec.model_validate(spec["volume"]), doc.locate((*at, "volume"))
    return None, source.location


def _accepted_keys(targets: list[GuardTarget], names: Iterable[str]) -> set[str]:
    """--accept-volume-drop NAME: a table's name, or schema.table; an unknown name is an error."""
    by_name: dict[str, set[str]] = {}
    for target in targets:
        for alias in (target.name, target.key):
            by_name.setdefault(alias, set()).add(target.key)
    accepted: set[str] = set()
    for name in names:
        if name not in by_name:
            known = sorted(by_name)
            raise KpiframeError(
                f"--accept-volume-drop {name}: this build guards no table of that name",
                code="KF611",
                hint=did_you_mean(name, known) or f"guarded: {', '.join(known) or 'nothing'}",
            )
        accepted |= by_name[name]
    return accepted
