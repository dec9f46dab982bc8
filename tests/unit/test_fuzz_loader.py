"""Generated YAML thrown at the loader: always diagnostics or a valid project, never a traceback."""

from __future__ import annotations

import io
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from kpiframe.errors import KpiframeError
from kpiframe.project import Project
from tests.conftest import SHOP_PROJECT, write_files

KEYS = [
    "name",
    "type",
    "measure",
    "numerator",
    "denominator",
    "expr",
    "filter",
    "metric",
    "window",
    "grain_to_date",
    "inputs",
    "model",
    "entities",
    "dimensions",
    "measures",
    "agg",
    "time",
    "metrics",
    "datasets",
    "tables",
    "sources",
    "models",
    "columns",
    "offset",
    "alias",
    "given",
    "expect",
    "rows",
]
VALUES = [
    "ratio",
    "simple",
    "derived",
    "cumulative",
    "orders",
    "revenue",
    "order_count",
    "sum",
    "count",
    "1=1; drop table x",
    "{{ ''.__class__ }}",
    "a / b",
    "7 days",
    "month",
    "previous",
    "",
    "null",
]

scalars = st.one_of(st.sampled_from(VALUES), st.text(max_size=12), st.integers(), st.booleans(), st.none())
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.sampled_from(KEYS), children, max_size=5)
    ),
    max_leaves=25,
)


def _dump(document: object) -> str:
    buffer = io.StringIO()
    YAML().dump(document, buffer)
    return buffer.getvalue()


def _load_survives(root: Path, text: str) -> None:
    (root / "metrics" / "fuzz.yml").write_text(text, encoding="utf-8")
    try:
        Project.load(root)
    except KpiframeError as exc:
        assert exc.render()  # a diagnostic that renders; anything else propagates and fails the test


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    document=st.dictionaries(
        st.sampled_from(["metrics", "datasets", "tables", "metric_tests", "models", "sources", "colour"]),
        documents,
        max_size=3,
    )
)
def test_generated_documents_never_crash_the_loader(tmp_path_factory, document):
    root = write_files(tmp_path_factory.mktemp("fuzz"), SHOP_PROJECT)
    _load_survives(root, _dump(document))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.sampled_from(list("metrics:- {}[]'\"\n\t #&*!|>%@`name:ratio,")), max_size=80))
def test_arbitrary_text_never_crashes_the_loader(tmp_path_factory, text):
    root = write_files(tmp_path_factory.mktemp("fuzz"), SHOP_PROJECT)
    _load_survives(root, text)
