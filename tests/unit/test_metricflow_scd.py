"""`kpiframe import metricflow` of slowly changing dimensions (`validity_params`).

A hand-written MetricFlow manifest (ours, not MetricFlow's SCD test manifest) over tables of MetricFlow's
copied conformance snapshots (tests/fixtures/metricflow/conformance/table_snapshots): bookings, listings that
change over time (`dim_listings`, a row per listing and period from `active_from` to `active_to`), the
latest users, and lux listings reached through a mapping. The listing and lux-listing semantic models mark
their windows with `validity_params` and key their versions with a `natural` entity; the import writes
`validity: start` / `end` and a primary entity, so a booking reads the listing's version of its own day.
Every number is compared with SQL written here over the snapshot tables. The conformance harness
(test_metricflow_conformance.py) runs MetricFlow's six itest_scd.yaml cases against this same manifest.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import duckdb
import pytest
import yaml

from kpiframe.imports.metricflow import plan_import, write_import
from kpiframe.project import Project

SEMANTIC_MODELS = {
    "bookings": """
        semantic_model:
          name: bookings
          node_relation: {schema_name: $source_schema, alias: fct_bookings}
          defaults: {agg_time_dimension: ds}
          entities:
            - {name: booking, type: primary, expr: "guest_id || listing_id || cast(ds as varchar)"}
            - {name: listing, type: foreign, expr: listing_id}
          dimensions:
            - {name: ds, type: time, type_params: {time_granularity: day}}
            - {name: is_instant, type: categorical}
          measures:
            - {name: bookings, expr: "1", agg: sum}
    """,
    "listings": """
        semantic_model:
          name: listings
          node_relation: {schema_name: $source_schema, alias: dim_listings}
          entities:
            - {name: listing, type: natural, expr: listing_id}
            - {name: user, type: foreign, expr: user_id}
          dimensions:
            - name: window_start
              type: time
              expr: active_from
              type_params: {time_granularity: day, validity_params: {is_start: true}}
            - name: window_end
              type: time
              expr: active_to
              type_params: {time_granularity: day, validity_params: {is_end: true}}
            - {name: capacity, type: categorical}
            - {name: is_lux, type: categorical}
            - {name: country, type: categorical}
    """,
    "users_latest": """
        semantic_model:
          name: users_latest
          node_relation: {schema_name: $source_schema, alias: dim_users_latest}
          entities: [{name: user, type: primary, expr: user_id}]
          dimensions: [{name: home_state_latest, type: categorical}]
    """,
    "lux_mapping": """
        semantic_model:
          name: lux_mapping
          node_relation: {schema_name: $source_schema, alias: dim_lux_listing_id_mapping}
          entities:
            - {name: listing, type: primary, expr: listing_id}
            - {name: lux_listing, type: foreign, expr: lux_listing_id}
    """,
    "lux_listings": """
        semantic_model:
          name: lux_listings
          node_relation: {schema_name: $source_schema, alias: dim_lux_listings}
          entities: [{name: lux_listing, type: natural, expr: lux_listing_id}]
          dimensions:
            - {name: valid_from, type: time, type_params: {time_granularity: day, validity_params: {is_start: true}}}
            - {name: valid_to, type: time, type_params: {time_granularity: day, validity_params: {is_end: true}}}
            - {name: is_confirmed_lux, type: categorical}
    """,
}
METRICS = """
    metric: {name: bookings, type: simple, type_params: {measure: bookings}}
    ---
    metric:
      name: family_bookings
      type: simple
      type_params: {measure: bookings}
      filter: "{{ Dimension('listing__capacity') }} >= 3"
    ---
    metric:
      name: potentially_lux_bookings
      type: simple
      type_params: {measure: bookings}
      filter: "{{ Dimension('listing__is_lux') }} OR {{ Dimension('listing__is_lux') }} IS NULL"
"""
SNAPSHOTS = Path(__file__).resolve().parents[1] / "fixtures" / "metricflow" / "conformance" / "table_snapshots"
TABLES = ("fct_bookings", "dim_listings", "dim_users_latest", "dim_lux_listing_id_mapping", "dim_lux_listings")
TYPES = {"TIME": "TIMESTAMP", "STRING": "VARCHAR", "FLOAT": "DOUBLE", "INT": "BIGINT", "BOOLEAN": "BOOLEAN"}


def write_scd_manifest(folder: Path) -> Path:
    """The manifest as MetricFlow reads it: one file per semantic model, and the metrics."""
    for name, text in SEMANTIC_MODELS.items():
        path = folder / "semantic_models" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    (folder / "metrics.yaml").write_text(textwrap.dedent(METRICS).lstrip(), encoding="utf-8")
    return folder


def load_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema source_schema")
    for table in TABLES:
        snapshot = yaml.safe_load((SNAPSHOTS / f"{table}.yaml").read_text(encoding="utf-8"))["table_snapshot"]
        columns = snapshot["column_definitions"]
        con.execute(
            f"create table source_schema.{table} ({', '.join(c['name'] + ' ' + TYPES[c['type']] for c in columns)})"
        )
        marks = ", ".join("?" for _ in columns)
        rows = [[None if v is None else str(v) for v in row] for row in snapshot["rows"]]
        con.executemany(f"insert into source_schema.{table} values ({marks})", rows)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory):
    manifest = write_scd_manifest(tmp_path_factory.mktemp("scd_manifest"))
    root = tmp_path_factory.mktemp("scd_kpis")
    result = plan_import(manifest, root)
    write_import(result)
    with duckdb.connect(str(root / "warehouse.duckdb")) as con:
        load_tables(con)
    project = Project.load(root)
    project.build()
    return project, result, root


def _datasets(files: dict[str, str]) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for path, text in files.items():
        if path.startswith("metrics/"):
            for dataset in (yaml.safe_load(text) or {}).get("datasets", []):
                found[dataset["name"]] = dataset
    return found


def hand(root: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        return sorted(con.execute(sql).fetchall(), key=str)


def answer(project: Project, **request: object) -> list[tuple]:
    return sorted((tuple(row) for row in project.query(**request).rows), key=str)


LISTING_ON_ITS_DAY = """
    from source_schema.fct_bookings a left join source_schema.dim_listings b on a.listing_id = b.listing_id
      and cast(a.ds as date) >= cast(b.active_from as date)
      and (b.active_to is null or cast(a.ds as date) < cast(b.active_to as date))
"""


def test_validity_params_are_the_datasets_window_and_natural_keys_are_primary(imported):
    _, result, _ = imported
    datasets = _datasets(result.files)
    windows = {
        name: {d["name"]: d["validity"] for d in dataset.get("dimensions", []) if d.get("validity")}
        for name, dataset in datasets.items()
    }
    assert {name: window for name, window in windows.items() if window} == {
        "listings": {"window_start": "start", "window_end": "end"},
        "lux_listings": {"valid_from": "start", "valid_to": "end"},
    }
    assert {"name": "listing", "type": "primary", "expr": "listing_id"} in datasets["listings"]["entities"]
    assert not [n for n in result.unmapped() if "validity_params" in n.message or "natural" in n.message]
    assert any("natural entity" in n.message for n in result.changed())


def test_bookings_by_the_capacity_of_their_listing_that_day(imported):
    project, _, root = imported
    got = answer(project, metrics=["bookings"], dimensions=["listing__capacity"], grain="day")
    got = [row for row in got if row[-1] is not None]
    expected = hand(root, f"select cast(a.ds as date), b.capacity, sum(1) {LISTING_ON_ITS_DAY} group by 1, 2")
    assert got == expected and len(got) > 3


def test_a_metric_filtered_by_a_versioned_dimension(imported):
    project, _, root = imported
    got = answer(project, metrics=["family_bookings"], dimensions=["booking__is_instant"])
    expected = hand(root, f"select a.is_instant, sum(1) {LISTING_ON_ITS_DAY} where b.capacity >= 3 group by 1")
    assert got == expected


def test_a_dimension_reached_through_a_versioned_dataset(imported):
    project, _, root = imported
    got = answer(project, metrics=["bookings"], dimensions=["user__home_state_latest"])
    expected = hand(
        root,
        f"""select c.home_state_latest, sum(1) {LISTING_ON_ITS_DAY}
        left join source_schema.dim_users_latest c on b.user_id = c.user_id group by 1""",
    )
    assert got == expected


def test_a_versioned_dataset_reached_through_another(imported):
    project, _, root = imported
    got = answer(project, metrics=["bookings"], dimensions=["lux_listing__is_confirmed_lux"])
    expected = hand(
        root,
        """select c.is_confirmed_lux, sum(1) from source_schema.fct_bookings a
        left join source_schema.dim_lux_listing_id_mapping b on a.listing_id = b.listing_id
        left join source_schema.dim_lux_listings c on b.lux_listing_id = c.lux_listing_id
          and cast(a.ds as date) >= cast(c.valid_from as date)
          and (c.valid_to is null or cast(a.ds as date) < cast(c.valid_to as date))
        group by 1""",
    )
    assert got == expected


def test_a_window_kpiframe_cannot_keep_is_reported_at_its_line(tmp_path):
    manifest = write_scd_manifest(tmp_path / "manifest")
    path = manifest / "semantic_models" / "lux_listings.yaml"
    text = path.read_text(encoding="utf-8").replace("is_start: true", "is_end: true")  # two ends, no start
    path.write_text(text, encoding="utf-8")
    result = plan_import(manifest, tmp_path / "out")
    notes = [n for n in result.unmapped() if n.path.endswith("lux_listings.yaml")]
    lines = text.splitlines()
    ends = [n for n, row in enumerate(lines, 1) if "is_end: true" in row]
    assert {n.line for n in notes if "validity_params" in n.message} == set(ends)
    assert any("the semantic model has no is_start" in n.message for n in notes)
    assert any("entity type 'natural'" in n.message for n in notes)  # no window: not a versioned key
    dataset = _datasets(result.files)["lux_listings"]
    assert [d["name"] for d in dataset["dimensions"]] == ["valid_from", "valid_to", "is_confirmed_lux"]
    assert not any(d.get("validity") for d in dataset["dimensions"])
