"""Readable reports of test runs for the terminal."""

from __future__ import annotations

from kpiframe.cli.output import render
from kpiframe.engine import QueryResult
from kpiframe.quality.metric_tests import CaseResult, unmatched


def render_metric_tests(results: list[CaseResult]) -> tuple[str, int]:
    """A line per case, and for each failure expected and actual rows side by side."""
    lines = []
    failed = 0
    for result in results:
        label = f"{result.test}[{result.case}]"
        if result.passed:
            lines.append(f"PASS  metric test {label}")
            continue
        failed += 1
        lines.append(f"FAIL  metric test {label}  ({result.location})")
        if result.error:
            lines.append(f"      {result.error}")
            continue
        missing, extra = unmatched(result)
        rows = [("expected", *row) for row in missing] + [("actual", *row) for row in extra]
        lines.append(render(QueryResult(["side", *result.columns], rows), "table"))
    lines.append(f"{len(results) - failed} passed, {failed} failed")
    return "\n".join(lines), failed
