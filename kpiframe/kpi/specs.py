"""The shape of `trees:`, `targets:` and `benchmarks:` items and of `kpi:` in kpi_project.yml.

As everywhere in kpiframe, a misspelt key is an error at its line.
"""

# No `from __future__ import annotations` here: a field's annotation is then a type already, not text to
# evaluate when its check is first compiled.

from datetime import date
from typing import Literal, Union

from kpiframe.load.spec_model import Spec, check_field, check_record, field
from kpiframe.load.specs import NAME_PATTERN

Direction = Literal["higher", "lower"]
Timing = Literal["leading", "lagging"]
Cadence = Literal["weekly", "monthly", "quarterly"]
TargetGrain = Literal["month", "quarter", "year"]


class NodeSpec(Spec):
    """A metric in a tree. Owner, direction and timing default to the metric's own metadata."""

    metric: str = field(pattern=NAME_PATTERN)
    label: str | None = None
    description: str | None = None
    owner: str | None = None
    direction: Direction | None = None
    timing: Timing | None = None
    cadence: Cadence | None = None
    grain: TargetGrain | None = None  # the period its targets are set for


class KsfSpec(Spec):
    """A key success factor: a qualitative statement, measured by the KPIs under it."""

    name: str = field(pattern=NAME_PATTERN)
    label: str | None = None
    description: str | None = None
    owner: str | None = None
    kpis: list[NodeSpec] = []


class FormulaSpec(Spec):
    """`metric = expr` over other metrics, e.g. pipeline = opportunities * avg_opportunity_amount."""

    metric: str = field(pattern=NAME_PATTERN)
    expr: str
    # months by which a child's period precedes the parent's: {mqls: 1} reads MQLs of the month before
    lag: dict[str, int] = {}
    tolerance: float | None = field(default=None, gt=0)  # relative; kpi.formula_tolerance when not set
    solve_for: str | None = None  # the child that plan-targets solves for; the others keep their history

    @check_field("lag")
    def _lags_in_range(cls, lag: dict[str, int]) -> dict[str, int]:
        for name, months in lag.items():
            if not 0 <= months <= 24:
                raise ValueError(f"lag of '{name}' must be between 0 and 24 months, not {months}")
        return lag


class TreeSpec(Spec):
    name: str = field(pattern=NAME_PATTERN)
    label: str | None = None
    description: str | None = None
    kgi: NodeSpec
    ksfs: list[KsfSpec] = []
    formulas: list[FormulaSpec] = []
    drivers: list[NodeSpec] = []  # metadata of metrics that appear only in formulas (rates, sizes)


class BaselineSpec(Spec):
    """Trailing `periods` complete periods of history, times `factor`."""

    periods: int = field(default=3, ge=1, le=36)
    factor: float = field(default=1.0, gt=0)


class TargetValueSpec(Spec):
    """One target value: a number, a baseline from history, a benchmark, or derived from the parent."""

    value: float | None = None
    baseline: BaselineSpec | None = None
    benchmark: str | None = None  # a library entry; omitted: the benchmark attached to the metric
    point: Literal["low", "mid", "high"] | None = None
    derived: bool = False

    @check_record
    def _one_source(self) -> "TargetValueSpec":
        sources = [
            self.value is not None,
            self.baseline is not None,
            self.benchmark is not None or self.point is not None,
            self.derived,
        ]
        if sum(sources) != 1:
            raise ValueError("give exactly one of value, baseline, benchmark (or point) and derived")
        return self


TargetValue = Union[float, Literal["derived"], TargetValueSpec]  # noqa: UP007 - runtime alias


class TargetSpec(Spec):
    """Targets of one metric in one scenario (and optionally one dimension value), per period."""

    metric: str = field(pattern=NAME_PATTERN)
    scenario: str = field(default="plan", pattern=NAME_PATTERN)  # plan, stretch, reforecast, ...
    dimension: dict[str, str] | None = None  # {lead__channel: paid_search}
    since: date | None = None  # when this version took effect; the latest one on or before --as-of wins
    reason: str | None = None  # why the target was set or changed: reviewers read it in the diff
    author: str | None = None
    values: dict[str, TargetValue]

    @check_field("dimension")
    def _one_dimension(cls, dimension: dict[str, str] | None) -> dict[str, str] | None:
        if dimension is not None and len(dimension) != 1:
            raise ValueError("dimension takes exactly one name: value pair, e.g. {lead__channel: email}")
        return dimension


class BenchmarkSpec(Spec):
    """A typical range beside a metric: from kpiframe's library (`use`) or written here (low/high)."""

    metric: str = field(pattern=NAME_PATTERN)
    use: str | None = None
    low: float | None = None
    high: float | None = None
    source: str | None = None

    @check_record
    def _library_or_range(self) -> "BenchmarkSpec":
        own = self.low is not None or self.high is not None
        if (self.use is not None) != own:
            return self
        raise ValueError("give either use: <library entry> or low/high, not both and not neither")


class StatusThresholds(Spec):
    """Projected attainment at or above on_track is on track, at or above at_risk at risk, else off track."""

    on_track: float = field(default=0.95, gt=0)
    at_risk: float = field(default=0.85, gt=0)

    @check_record
    def _ordered(self) -> "StatusThresholds":
        if self.at_risk > self.on_track:
            raise ValueError("at_risk must not be above on_track")
        return self


class PacingSettings(Spec):
    weeks: int = field(default=8, ge=1, le=52)  # trailing weeks of the weekday profile
    seasonality: bool = True  # scale by month-of-year factors learnt from history


class KpiSettings(Spec):
    """`kpi:` in kpi_project.yml."""

    status_thresholds: StatusThresholds = field(default_factory=StatusThresholds)
    pacing: PacingSettings = field(default_factory=PacingSettings)
    formula_tolerance: float = field(default=0.01, gt=0)
    plan_window: int = field(default=3, ge=1, le=24)  # trailing months of rates used by plan-targets
    baseline_periods: int = field(default=3, ge=1, le=24)  # trailing periods the achievability lint compares with
    vanity_min_correlation: float = field(default=0.3, ge=0, le=1)
    max_lag_months: int = field(default=3, ge=0, le=12)
    lint_errors: list[str] = []  # lint codes or names raised from warnings to errors
