"""The OpenAPI 3.1 document of the HTTP API, served at GET /openapi.json.

Written out by hand as a dict: the API is small and its shapes are stable. tests/unit/test_http_api.py
validates the document with openapi-spec-validator, checks that it documents exactly the routes the
application has, and checks real responses against the schemas here.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from kpiframe.kpi.report import STATUS_FIELDS
from kpiframe.sql.calendar import GRAINS, PERIOD_GRAINS, REQUEST_GRAINS

OPENAPI_VERSION = "3.1.0"


def _nullable(kind: str, **more: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **more}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: str) -> dict[str, Any]:
    return {status: {"$ref": f"#/components/responses/{ERROR_RESPONSES[status]}"} for status in statuses}


ERROR_RESPONSES = {
    "400": "Refused",
    "401": "Unauthorized",
    "413": "TooLarge",
    "422": "Malformed",
    "500": "InternalError",
}

DATE = {"type": "string", "format": "date", "examples": ["2026-10-01"]}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "hint"],
                "additionalProperties": False,
                "properties": {
                    "code": {
                        "type": "string",
                        "pattern": "^KF[0-9]{3}$",
                        "description": "Stable error code; every code is explained in docs/errors.md.",
                    },
                    "message": {"type": "string"},
                    "hint": _nullable("string", description="What to do about it, when kpiframe knows."),
                },
            }
        },
    },
    "Metric": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "name",
            "label",
            "type",
            "unit",
            "format",
            "description",
            "owner",
            "direction",
            "timing",
            "tags",
            "kpi_trees",
            "dimensions",
            "grains",
        ],
        "properties": {
            "name": {"type": "string", "description": "What `metrics` of a query names."},
            "label": {"type": "string", "description": "The metric's label, else its name."},
            "type": {"enum": ["simple", "ratio", "derived", "cumulative", "conversion"]},
            "unit": {"enum": ["count", "currency", "percent", "ratio", "number", "hours", None]},
            "format": _nullable("string", description='Spreadsheet-style display pattern, e.g. "0.0%".'),
            "description": _nullable("string"),
            "owner": _nullable("string"),
            "direction": {
                "enum": ["higher", "lower", None],
                "description": "Which way is better: the metric's node in the first KPI tree holding it, else "
                "the metric's own `direction:`.",
            },
            "timing": {"enum": ["leading", "lagging", None]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "kpi_trees": {
                "type": "array",
                "items": {"type": "string"},
                "description": "The KPI trees with a node for this metric.",
            },
            "dimensions": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Qualified dimensions (entity__name) a query of this metric can use in `by` and "
                "`where`; the short name works too when it is unambiguous.",
            },
            "grains": {
                "type": "array",
                "items": {"enum": list(PERIOD_GRAINS)},
                "description": "The grains a query of this metric can ask for.",
            },
        },
    },
    "MetricCatalog": {
        "type": "object",
        "required": ["metrics"],
        "additionalProperties": False,
        "properties": {"metrics": {"type": "array", "items": _ref("Metric")}},
    },
    "QueryRequest": {
        "type": "object",
        "required": ["metrics"],
        "additionalProperties": False,
        "properties": {
            "metrics": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Metric names (GET /v1/metrics lists them); at least one.",
                "examples": [["leads", "lead_to_mql_rate"]],
            },
            "by": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "Dimensions to group by, e.g. lead__channel (or channel when unambiguous).",
            },
            "grain": _nullable(
                "string",
                enum=[*REQUEST_GRAINS, None],
                description="Period of the rows. Default (null): the grain of a MetricFlow metric_time__<grain> in "
                "`by`, else the metrics' own `grain:` when they all declare the same, else month. `all`: no "
                "period_start column; one row per dimension combination, each metric over the whole range.",
            ),
            "start": {
                **DATE,
                "description": "First period start to return (inclusive); default: the first with data. At grain "
                "`all`, the first day counted.",
            },
            "end": {
                **DATE,
                "description": "Last period start to return (inclusive); default: the last with data. At grain "
                "`all`, the last day counted.",
            },
            "start_time": _nullable(
                "string",
                description="An instant (ISO 8601, 2026-03-01T02:30:00, or a date) whose period is the first "
                "returned: MetricFlow's time constraint, with a time of day at a sub-day grain. Not with `start`.",
                examples=["2026-03-01T02:30:00"],
            ),
            "end_time": _nullable(
                "string",
                description="An instant whose period is the last returned. Not with `end`.",
                examples=["2026-03-01T05:10:00"],
            ),
            "where": _nullable(
                "string",
                maxLength=2000,
                description="A filter over the requested metrics' dimensions, e.g. lead__country = 'DE'. Held to "
                "the same allow-list as `kpiframe query --where` (docs/security.md): refused with 400 "
                "KF410 or KF412.",
            ),
            "compare": {
                "enum": ["previous", "year", None],
                "description": "Add <metric>__previous or <metric>__year_ago and <metric>__change columns.",
            },
            "order": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "Sort the rows by these columns: a metric, a dimension of `by`, metric_time or "
                "period_start; -name sorts descending. Unknown names: 400 KF418.",
                "examples": [["-leads", "metric_time"]],
            },
            "limit": _nullable("integer", minimum=0, description="At most this many rows (after `order`)."),
            "min_max": {
                "type": "boolean",
                "default": False,
                "description": "With no metric: one row, the first and last value of each dimension of `by` "
                "(<name>__min, <name>__max), e.g. the range of a date picker. With a metric: 400 KF434.",
            },
            "sql": {"type": "boolean", "default": False, "description": "Also return the SQL that was run."},
        },
    },
    "QueryResult": {
        "type": "object",
        "required": ["columns", "rows", "units"],
        "additionalProperties": False,
        "properties": {
            "columns": {
                "type": "array",
                "items": {"type": "string"},
                "description": "period_start (none at grain `all`), then each dimension of `by`, then each metric "
                "(and its comparison columns).",
            },
            "rows": {
                "type": "array",
                "items": {"type": "array", "items": {"type": ["string", "number", "boolean", "null"]}},
                "description": "One array per row, values in the order of `columns`: dates as YYYY-MM-DD, "
                "numbers as JSON numbers, NULL as null. Every period of the range has a row for each "
                "dimension combination in the data.",
            },
            "units": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "The unit of each metric column that has one (a percent is a fraction: 0.069 is 6.9 %).",
            },
            "sql": {"type": "string", "description": "The SQL, when the request asked for it."},
        },
    },
    "StatusReport": {
        "type": "object",
        "required": ["tree", "label", "scenario", "as_of", "rows"],
        "additionalProperties": False,
        "properties": {
            "tree": {"type": "string"},
            "label": {"type": "string"},
            "scenario": {"type": "string"},
            "as_of": {**DATE, "description": "The last day of data counted."},
            "rows": {"type": "array", "items": _ref("StatusRow")},
        },
    },
    "StatusRow": {
        "type": "object",
        "additionalProperties": False,
        "description": "One row of `kpiframe status --format json`: a node of the tree (or one dimension "
        "value of it that has targets), then benchmarked metrics outside the tree.",
        "required": list(STATUS_FIELDS),  # the same fields, in the same order, as the CLI's JSON
        "properties": {
            "tree": {"type": "string"},
            "node": {"type": "string", "description": "The node's label (and dimension value, lag)."},
            "role": {"enum": ["kgi", "kpi", "driver", "benchmark"]},
            "ksf": _nullable("string"),
            "metric": {"type": "string"},
            "dimension": _nullable("string", description="dimension=value for a per-dimension target."),
            "period": {"type": "string", "description": "The node's period holding as_of: 2026-11, 2026-Q4, 2026."},
            "grain": {"enum": ["month", "quarter", "year"]},
            "as_of": DATE,
            "day": {"type": "integer", "description": "Days of the period up to as_of."},
            "days": {"type": "integer", "description": "Days in the period."},
            "actual": _nullable("number", description="The value to date."),
            "target": _nullable("number"),
            "attainment": _nullable(
                "number", description="Actual to date over target (target over actual when lower is better)."
            ),
            "gap": _nullable("number"),
            "projection": _nullable("number", description="The value projected to the period's end."),
            "projected_attainment": _nullable("number"),
            "status": {"enum": ["on track", "at risk", "off track", "no target", "no data"]},
            "owner": _nullable("string"),
            "direction": {"enum": ["higher", "lower", None]},
            "timing": {"enum": ["leading", "lagging", None]},
            "cadence": _nullable("string"),
            "unit": _nullable("string"),
            "benchmark": _nullable("string"),
            "benchmark_verdict": _nullable("string"),
            "scenario": {"type": "string"},
            "target_source": _nullable("string"),
        },
    },
    "FunnelReport": {
        "type": "object",
        "required": ["funnel", "order", "order_rule", "window_days", "conversion", "rows", "bottleneck"],
        "additionalProperties": False,
        "properties": {
            "funnel": {"type": "string"},
            "order": {"enum": ["strict", "independent"]},
            "order_rule": {"type": "string", "description": "What counting at a stage means under this order."},
            "window_days": {"type": "integer"},
            "conversion": {"type": "string", "description": "What the conversion columns divide by."},
            "rows": {"type": "array", "items": _ref("FunnelRow")},
            "bottleneck": {"oneOf": [_ref("Bottleneck"), {"type": "null"}]},
        },
    },
    "FunnelRow": {
        "type": "object",
        "description": "One row per cohort, dimension value and stage, as `kpiframe funnel --format json`; "
        "each dimension of `by` is one more property.",
        "required": [
            "cohort_start",
            "stage",
            "entities",
            "conversion_from_previous",
            "conversion_from_first",
            "median_hours_from_previous",
            "p90_hours_from_previous",
        ],
        "properties": {
            "cohort_start": DATE,
            "stage": {"type": "string"},
            "entities": {"type": "integer"},
            "conversion_from_previous": _nullable("number"),
            "conversion_from_first": _nullable("number"),
            "median_hours_from_previous": _nullable("number"),
            "p90_hours_from_previous": _nullable("number"),
        },
        "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
    },
    "Bottleneck": {
        "type": "object",
        "required": ["cohort_start", "step", "conversion", "trailing_average", "trailing_cohorts", "change_points"],
        "additionalProperties": False,
        "description": "The stage whose conversion fell furthest below its trailing average, among cohorts "
        "whose window has closed.",
        "properties": {
            "cohort_start": DATE,
            "step": {"type": "string"},
            "conversion": {"type": "number"},
            "trailing_average": {"type": "number"},
            "trailing_cohorts": {"type": "integer"},
            "change_points": {"type": "number"},
        },
    },
}

RESPONSES: dict[str, Any] = {
    "Refused": _json(
        _ref("Error"),
        "kpiframe refused the request: an unknown metric, dimension, grain, tree or funnel (the hint suggests "
        "the closest name), a refused `where` filter (KF410, KF412), ...",
    ),
    "Unauthorized": _json(_ref("Error"), "The server needs a token and the request had none or another (KF972)."),
    "TooLarge": _json(_ref("Error"), "The body is over 1 MB (KF971)."),
    "Malformed": _json(
        _ref("Error"),
        "The body is not a JSON object of the documented fields, or a field or parameter has the wrong type, "
        "is unknown or is repeated (KF971).",
    ),
    "InternalError": _json(_ref("Error"), "A bug in kpiframe (KF999); the server's log has the traceback."),
}


def _query_parameter(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


PATHS: dict[str, Any] = {
    "/v1/metrics": {
        "get": {
            "operationId": "listMetrics",
            "summary": "The metric catalog",
            "description": "Every metric of the project with what it means, who owns it, which way is better, "
            "and the dimensions and grains a query of it can use.",
            "responses": {"200": _json(_ref("MetricCatalog"), "The metrics."), **_errors("401", "422", "500")},
        }
    },
    "/v1/query": {
        "post": {
            "operationId": "queryMetrics",
            "summary": "Answer a metric query",
            "description": "What `kpiframe query` answers: period_start (none at grain `all`), the dimensions, "
            "one column per metric, read from what the last build published.",
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("QueryRequest")}}},
            "responses": {
                "200": _json(_ref("QueryResult"), "The rows."),
                **_errors("400", "401", "413", "422", "500"),
            },
        }
    },
    "/v1/status": {
        "get": {
            "operationId": "kpiStatus",
            "summary": "KPI status",
            "description": "What `kpiframe status --format json` prints: each node's actual to date, target, "
            "attainment, projection and status.",
            "parameters": [
                _query_parameter("tree", {"type": "string"}, "Tree name; not needed when the project has one."),
                _query_parameter(
                    "as_of", DATE, "Last day of data to count (default: the last day with data, before today)."
                ),
                _query_parameter(
                    "period",
                    {"type": "string", "pattern": "^[0-9]{4}(-(0[1-9]|1[0-2])|-Q[1-4])?$", "examples": ["2026-Q3"]},
                    "The status as of this period's last day (2026-10, 2026-Q3 or 2026), or as of the last day "
                    "with data when that comes first; not with as_of.",
                ),
                _query_parameter(
                    "scenario", {"type": "string", "default": "plan"}, "Target scenario; falls back to plan."
                ),
            ],
            "responses": {"200": _json(_ref("StatusReport"), "The status."), **_errors("400", "401", "422", "500")},
        }
    },
    "/v1/funnels/{name}": {
        "get": {
            "operationId": "funnel",
            "summary": "A funnel per cohort and stage",
            "description": "What `kpiframe funnel NAME --format json` prints: the order rule, one row per "
            "cohort and stage, and the bottleneck.",
            "parameters": [
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                {
                    "name": "by",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "array", "items": {"type": "string"}},
                    "style": "form",
                    "explode": True,
                    "description": "A dimension of the funnel; repeat for several (by=channel&by=country).",
                },
                _query_parameter("grain", {"enum": list(GRAINS), "default": "month"}, "Cohort grain."),
                _query_parameter("start", DATE, "First cohort to return."),
                _query_parameter("end", DATE, "Last cohort to return."),
                _query_parameter(
                    "order",
                    {"enum": ["strict", "independent"]},
                    "strict: a stage counts only after every earlier stage, in order; independent: each stage "
                    "on its own. Default: the funnel's own `order:`.",
                ),
            ],
            "responses": {"200": _json(_ref("FunnelReport"), "The funnel."), **_errors("400", "401", "422", "500")},
        }
    },
    "/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "responses": {
                "200": {"description": "The OpenAPI document.", "content": {"application/json": {"schema": {}}}},
                **_errors("401", "422"),
            },
        }
    },
}


def openapi_document(project: str) -> dict[str, Any]:
    """The document for a server of `project`."""
    try:
        version = metadata.version("kpiframe")
    except metadata.PackageNotFoundError:
        version = "0"
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": f"kpiframe HTTP API: {project}",
            "version": version,
            "description": "The metrics of a kpiframe project as JSON: the catalog, metric queries, KPI status "
            "and funnels, read from what the last build published. Errors are "
            '{"error": {"code", "message", "hint"}} with a KF code (docs/errors.md). When the server was '
            "started with KPIFRAME_SERVE_TOKEN, every request needs `Authorization: Bearer <token>`.",
        },
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "responses": RESPONSES,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The value of KPIFRAME_SERVE_TOKEN on the server; not needed when the "
                    "server listens on loopback without one.",
                }
            },
        },
        "security": [{"bearer": []}, {}],
    }
