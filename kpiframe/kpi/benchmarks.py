"""Typical ranges of marketing rates, shipped with kpiframe, to show beside a project's own values.

A Python dict rather than a data file, so that it ships with the package without package-data set-up.
The ranges are the ones practitioners commonly quote; they are a sanity check, not a target.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Benchmark:
    name: str
    label: str
    low: float | None  # None: no lower bound ("under 0.5 %")
    high: float | None
    source: str = "kpiframe benchmark library"

    def point(self, which: str = "mid") -> float | None:
        """The low end, the high end or the middle of the range (an open end yields the other end)."""
        if which == "low":
            return self.low if self.low is not None else self.high
        if which == "high":
            return self.high if self.high is not None else self.low
        if self.low is None or self.high is None:
            return self.low if self.high is None else self.high
        return (self.low + self.high) / 2

    def verdict(self, value: float | None) -> str | None:
        if value is None:
            return None
        if self.low is not None and value < self.low:
            return "below"
        if self.high is not None and value > self.high:
            return "above"
        return "within"

    def describe(self, unit: str | None) -> str:
        def show(number: float) -> str:
            return f"{number * 100:g} %" if unit in (None, "percent") else f"{number:,g}"

        if self.low is None and self.high is not None:
            return f"under {show(self.high)}"
        if self.high is None and self.low is not None:
            return f"over {show(self.low)}"
        return f"{show(self.low or 0)}–{show(self.high or 0)}"


LIBRARY: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark("email_open", "Email open rate", 0.20, 0.25),
        Benchmark("email_click", "Email click rate", 0.02, 0.05),
        Benchmark("email_unsubscribe", "Email unsubscribe rate", None, 0.005),
        Benchmark("search_ad_ctr", "Search ad click-through rate", 0.03, 0.05),
        Benchmark("b2b_landing_page_cvr", "B2B landing-page conversion rate", 0.02, 0.05),
        Benchmark("webinar_attendance", "Webinar attendance rate", 0.40, 0.60),
        Benchmark("attendee_to_opportunity", "Webinar attendee-to-opportunity rate", 0.10, 0.20),
    )
}
