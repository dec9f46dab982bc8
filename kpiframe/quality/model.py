"""The two values the quality package hands around: an expectation as declared, and its result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kpiframe.errors import SourceLocation

SEVERITIES = ("error", "warn")
SAMPLE_SIZE = 5  # unexpected values kept per result: enough to debug, small enough for run_results.json


@dataclass(frozen=True)
class Expectation:
    """One check of one table, as declared under `expectations:` and normalised by `parse_expectations`.

    `kind` is a Great Expectations type (`expect_column_values_to_not_be_null`, ...) or one of ours
    (`freshness`, `rate_between_0_and_1`, `funnel_monotonic`, `within_historical_band`, `references`).
    Short forms (`not_null`, `unique`, ...) are stored under their GX names.
    """

    kind: str
    kwargs: dict[str, Any]
    severity: str
    target: str
    location: SourceLocation | None
    description: str | None = None

    @property
    def label(self) -> str:
        """A short name for people: the kind and its column(s), e.g. `freshness(created_at)`."""
        for key in ("column", "columns", "column_list"):
            if key in self.kwargs:
                value = self.kwargs[key]
                return f"{self.kind}({', '.join(map(str, value)) if isinstance(value, list) else value})"
        if "column_A" in self.kwargs:
            return f"{self.kind}({self.kwargs['column_A']}, {self.kwargs.get('column_B')})"
        return self.kind


@dataclass
class ExpectationResult:
    """What one expectation found. A crashed expectation is a failed result with `error`, never a raise."""

    expectation: Expectation
    success: bool
    observed_value: Any
    element_count: int | None
    unexpected_count: int | None
    unexpected_percent: float | None
    sample: list[Any] = field(default_factory=list)
    error: str | None = None

    @property
    def status(self) -> str:
        """pass, warn (a failed `warn`), fail (a failed `error`) or error (the check itself crashed)."""
        if self.success:
            return "pass"
        if self.error:
            return "error"
        return "warn" if self.expectation.severity == "warn" else "fail"
