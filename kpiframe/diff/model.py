"""The diff report as data: what changed, what it reaches, whether it breaks readers, what it does to numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kpiframe.load.names import NodeKey


@dataclass
class FieldChange:
    """One YAML field, by its path in the object (`measures[lead_count].expr`), from old to new."""

    path: str
    old: Any
    new: Any


@dataclass
class ColumnChange:
    column: str
    change: str  # added | removed | retyped
    old_type: str | None = None
    new_type: str | None = None


@dataclass
class PeriodValue:
    period: str
    old: float | None
    new: float | None

    @property
    def delta(self) -> float | None:
        return None if self.old is None or self.new is None else self.new - self.old

    @property
    def delta_pct(self) -> float | None:
        return None if self.delta is None or not self.old else self.delta / self.old


@dataclass
class EntityPeriod(PeriodValue):
    left: int = 0
    entered: int = 0
    left_examples: list[str] = field(default_factory=list)
    entered_examples: list[str] = field(default_factory=list)


@dataclass
class Series:
    """Per-period values of one metric, or the members of one definition version, in both states."""

    name: str  # the metric, or "mql v2 vs v1"
    kind: str  # metric | definition
    old_label: str
    new_label: str
    unit: str | None = None
    entity: str | None = None  # definitions: what is counted (lead)
    periods: list[PeriodValue] = field(default_factory=list)
    error: str | None = None  # why it could not be computed


@dataclass
class ObjectChange:
    kind: str  # project | source | model | dataset | metric | table | target | definition | funnel
    name: str
    status: str  # added | removed | changed
    path: str | None = None
    fields: list[FieldChange] = field(default_factory=list)
    sql: list[str] = field(default_factory=list)
    columns: list[ColumnChange] = field(default_factory=list)
    generated: list[str] = field(default_factory=list)  # changes of the models a definition or funnel generates
    meaning_changed: bool = False  # its own change alters what some number means
    breaking: bool = False
    reasons: list[str] = field(default_factory=list)
    downstream: list[str] = field(default_factory=list)  # str(NodeKey): "kind:name", nearest first
    tables: list[str] = field(default_factory=list)  # published tables among downstream (and itself)
    series: list[str] = field(default_factory=list)  # names of the Series that show its value impact

    @property
    def node(self) -> NodeKey:
        return NodeKey(self.kind, self.name)

    @property
    def key(self) -> str:
        """The text form of `node`, "kind:name", as the JSON report writes it."""
        return str(self.node)


@dataclass
class StateInfo:
    label: str
    ref: str | None
    commit: str | None


@dataclass
class DiffReport:
    base: StateInfo
    head: StateInfo
    grain: str
    periods: int
    changes: list[ObjectChange] = field(default_factory=list)
    series: dict[str, Series] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # e.g. why value impact was skipped

    @property
    def breaking(self) -> list[ObjectChange]:
        return [c for c in self.changes if c.breaking]
