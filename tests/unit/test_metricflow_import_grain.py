"""`kpiframe import metricflow`: a metric's default grain when it sets no `time_granularity`.

MetricFlow answers `metric_time` without a grain at the metric's `time_granularity`, else at the finest grain
its time dimension has: a monthly table (`ds` with `time_granularity: month`) answers by month. The import
writes that as the metric's `grain:`. Fixture: MetricFlow's extended_date_manifest (see NOTICE.md there).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from kpiframe.imports.metricflow import plan_import

EXTENDED = Path(__file__).resolve().parent.parent / "fixtures" / "metricflow" / "conformance" / "extended_date_manifest"


def metrics_written(tmp_path: Path) -> dict[str, dict[str, object]]:
    result = plan_import(EXTENDED, tmp_path)
    found: dict[str, dict[str, object]] = {}
    for path, text in result.files.items():
        if path.startswith("metrics/"):
            for metric in (yaml.safe_load(text) or {}).get("metrics", []):
                found[metric["name"]] = metric
    return found


def test_a_metric_over_a_monthly_time_dimension_answers_by_month(tmp_path):
    metrics = metrics_written(tmp_path)
    assert metrics["bookings_monthly"].get("grain") == "month"  # create_metric: true over ds at month
    assert "grain" not in metrics["bookings"]  # a daily time dimension: day, kpiframe's own default


def test_ratio_and_derived_metrics_keep_their_own_default(tmp_path):
    metrics = metrics_written(tmp_path)
    assert "grain" not in metrics["monthly_bookings_to_daily_bookings"]
    assert "grain" not in metrics["bookings_last_month"]
