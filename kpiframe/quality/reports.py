"""Expectation results for people (a terminal summary), for files (JSON) and for CI (JUnit XML).

JUnit mapping: one <testcase> per expectation, named by target and check. A passed check passes; a
failed `error` is a <failure>; a check that crashed is an <error>; a failed `warn` is reported as
PASSED with the finding in <system-out> (a warning must not turn a CI run red, but must stay visible
in the report). Skipped is kept for checks that did not run, which this package never produces.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from xml.etree import ElementTree

from kpiframe.quality.model import ExpectationResult

_MARKS = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "error": "ERROR"}


def render_results(results: list[ExpectationResult]) -> str:
    """A summary: one line per check, details under the ones that did not pass, then the totals."""
    if not results:
        return "no expectations"
    lines = ["expectations:"]
    # the volume guard counts every source and table on every build: plain passes fold into one line
    folded = [r for r in results if _volume_verdict(r) in ("pass", "no baseline")]
    if folded:
        first = sum(_volume_verdict(r) == "no baseline" for r in folded)
        lines.append(
            f"  {_MARKS['pass']:<5} volume guard: {len(folded) - first} source(s) and table(s) within "
            f"their allowed drop" + (f", {first} counted for the first time (no baseline)" if first else "")
        )
    for result in results:
        if any(result is r for r in folded):
            continue
        expectation = result.expectation
        lines.append(
            f"  {_MARKS[result.status]:<5} {expectation.target}: {expectation.label}"
            + (f" [{expectation.severity}]" if expectation.severity == "warn" else "")
        )
        if result.status != "pass" or _volume_verdict(result) == "accepted":
            lines += [f"        {line}" for line in _details(result)]
    counts = Counter(r.status for r in results)
    lines.append(
        "  "
        + ", ".join(
            f"{counts[s]} {word}"
            for s, word in (("pass", "passed"), ("fail", "failed"), ("warn", "warned"), ("error", "errored"))
            if counts[s] or s in ("pass", "fail")
        )
    )
    return "\n".join(lines)


def _details(result: ExpectationResult) -> list[str]:
    details = []
    if result.expectation.location:
        details.append(f"at {result.expectation.location}")
    if result.error:
        details.append(f"error: {result.error}")
        return details
    if result.expectation.kind == "volume" and isinstance(result.observed_value, dict):
        return [*details, _volume_line(result.observed_value, result.expectation.kwargs.get("max_drop"))]
    if result.unexpected_count is not None:
        of = f" of {result.element_count:,}" if result.element_count is not None else ""
        pct = f" ({result.unexpected_percent:.2f}%)" if _finite(result.unexpected_percent) else ""
        details.append(f"unexpected: {result.unexpected_count:,}{of}{pct}")
    if result.observed_value is not None and result.observed_value != result.unexpected_count:
        details.append(f"observed: {_short(result.observed_value)}")
    if result.sample:
        details.append("sample: " + ", ".join(_short(v) for v in result.sample))
    return details


def _volume_verdict(result: ExpectationResult) -> str | None:
    """The volume guard's verdict (pass, no baseline, accepted, warn, fail), None for other checks."""
    observed = result.observed_value
    if result.expectation.kind != "volume" or not isinstance(observed, dict):
        return None
    return str(observed.get("verdict"))


def _volume_line(observed: dict[str, Any], max_drop: Any) -> str:
    drop = observed.get("drop")
    change = f", -{drop:.1%}" if _finite(drop) else ""
    allowed = f"allowed drop {max_drop:.0%}" if _finite(max_drop) else ""
    verdict = observed.get("verdict")
    note = " (--accept-volume-drop)" if verdict == "accepted" else ""
    return (
        f"rows: {observed.get('previous')} at the last successful build ({observed.get('previous_run')}) "
        f"-> {observed.get('new')} now ({allowed}{change}); {verdict}{note}"
    )


def results_json(results: list[ExpectationResult]) -> list[dict[str, Any]]:
    """Plain JSON values (dates as ISO text, decimals as floats) for target/run_results.json."""
    return [
        {
            "target": r.expectation.target,
            "expectation": r.expectation.kind,
            "kwargs": _plain(r.expectation.kwargs),
            "severity": r.expectation.severity,
            "description": r.expectation.description,
            "location": str(r.expectation.location) if r.expectation.location else None,
            "status": r.status,
            "success": r.success,
            "observed_value": _plain(r.observed_value),
            "element_count": r.element_count,
            "unexpected_count": r.unexpected_count,
            "unexpected_percent": r.unexpected_percent if _finite(r.unexpected_percent) else None,
            "sample": _plain(r.sample),
            "error": r.error,
        }
        for r in results
    ]


def junit_xml(results: list[ExpectationResult], suite_name: str) -> str:
    """JUnit XML, one testsuite per target (model or source), one testcase per expectation."""
    root = ElementTree.Element(
        "testsuites",
        name=suite_name,
        tests=str(len(results)),
        failures=str(sum(r.status == "fail" for r in results)),
        errors=str(sum(r.status == "error" for r in results)),
    )
    by_target: dict[str, list[ExpectationResult]] = {}
    for result in results:
        by_target.setdefault(result.expectation.target, []).append(result)
    for target, group in by_target.items():
        suite = ElementTree.SubElement(
            root,
            "testsuite",
            name=target,
            tests=str(len(group)),
            failures=str(sum(r.status == "fail" for r in group)),
            errors=str(sum(r.status == "error" for r in group)),
            skipped="0",
        )
        for result in group:
            _testcase(suite, result, suite_name)
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _testcase(suite: ElementTree.Element, result: ExpectationResult, suite_name: str) -> None:
    expectation = result.expectation
    case = ElementTree.SubElement(
        suite, "testcase", name=expectation.label, classname=f"{suite_name}.{expectation.target}"
    )
    if expectation.location:
        case.set("file", expectation.location.path)
        case.set("line", str(expectation.location.line))
    text = "\n".join(_details(result))
    if result.status == "fail":
        ElementTree.SubElement(
            case, "failure", message=_first(text, "expectation failed"), type=expectation.kind
        ).text = text
    elif result.status == "error":
        ElementTree.SubElement(
            case, "error", message=_first(result.error or "", "expectation crashed"), type=expectation.kind
        ).text = text
    elif result.status == "warn":
        ElementTree.SubElement(case, "system-out").text = f"WARNING (severity warn, not failing):\n{text}"


def _first(text: str, default: str) -> str:
    lines = [line for line in text.splitlines() if not line.startswith("at ")]
    return lines[0] if lines else default


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, float) and not math.isfinite(value):
        # JSON has no NaN; null would read as a missing value, the opposite of what a `finite` check found
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _short(value: Any) -> str:
    text = json.dumps(_plain(value), default=str)
    return text if len(text) <= 120 else text[:117] + "..."


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
