"""Partitions: a time dimension with `partition: true`, and the joins between two partitioned datasets.

A dimension dataset with a row per user and day (`users`, partitioned by `ds`) is one row per user *in each
partition*: a many-to-one join to it from a dataset that declares a partition too (`verifications`, by `ds`)
equates the two partitions as well as the key, so a verification reads its user's row of its own day. A join
where one side has no partition is on the key alone, as before. Every expected row comes from SQL written
here over the raw tables, never from kpiframe's own answer. Also: the load errors of a misplaced partition
(KF114, KF115), the implied key check of a partitioned dataset, and the MetricFlow import of `is_partition`.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from kpiframe.errors import ProjectInvalid
from kpiframe.imports.metricflow import plan_import, write_import
from kpiframe.project import Project
from tests.conftest import built_project, hand, write_files

DATASETS = """
datasets:
  - name: users
    model: stg_users
    time: created_at
    entities: [{name: user, type: primary, expr: user_id}]
    dimensions:
      - {name: ds, type: time, partition: true}
      - {name: created_at, type: time}
      - {name: home_state}
  - name: users_latest
    model: stg_users_latest
    primary_entity: user
    entities: [{name: user, type: unique, expr: user_id}]
    dimensions: [{name: home_state_latest}]
  - name: verifications
    model: stg_verifications
    time: verified_at
    entities:
      - {name: verification, type: primary, expr: verification_id}
      - {name: user, type: foreign, expr: user_id}
    dimensions:
      - {name: ds, type: time, partition: true}
      - {name: verified_at, type: time}
      - {name: kind}
    measures: [{name: verification_count, agg: count, expr: verification_id}]
  - name: logins
    model: stg_logins
    time: logged_at
    entities:
      - {name: login, type: primary, expr: login_id}
      - {name: user, type: foreign, expr: user_id}
    measures: [{name: login_count, agg: count, expr: login_id}]
metrics:
  - {name: verifications, measure: verification_count}
  - {name: logins, measure: login_count}
"""

FILES = {
    "kpi_project.yml": "name: partitions\nwarehouse: {path: partitions.duckdb}\nquery: {without_time: all}\n",
    "models/sources.yml": """
        sources:
          - name: raw
            schema: raw
            tables:
              - name: users
                columns: [user_id, {name: ds, type: DATE}, {name: created_at, type: DATE}, home_state]
              - name: users_latest
                columns: [user_id, home_state_latest]
              - name: verifications
                columns: [verification_id, user_id, {name: ds, type: DATE}, {name: verified_at, type: TIMESTAMP}, kind]
              - name: logins
                columns: [login_id, user_id, {name: logged_at, type: TIMESTAMP}]
    """,
    "models/stg_users.sql": "select * from {{ source('raw', 'users') }}",
    "models/stg_users_latest.sql": "select * from {{ source('raw', 'users_latest') }}",
    "models/stg_verifications.sql": "select * from {{ source('raw', 'verifications') }}",
    "models/stg_logins.sql": "select * from {{ source('raw', 'logins') }}",
    "metrics/partitions.yml": DATASETS,
}

# u1 moves from CA to WA on 2 January; u2 stays in CA; u3 has no row on 2 January; a user row and a
# verification without a partition (NULL ds) match nothing.
ROWS = """
    create schema raw;
    create table raw.users (user_id varchar, ds date, created_at date, home_state varchar);
    insert into raw.users values
      ('u1', '2026-01-01', '2025-06-01', 'CA'), ('u1', '2026-01-02', '2025-06-01', 'WA'),
      ('u2', '2026-01-01', '2025-07-01', 'CA'), ('u2', '2026-01-02', '2025-07-01', 'CA'),
      ('u3', '2026-01-01', '2025-08-01', 'TX'),
      ('u4', null, '2025-09-01', 'NY');
    create table raw.users_latest (user_id varchar, home_state_latest varchar);
    insert into raw.users_latest values ('u1', 'WA'), ('u2', 'CA'), ('u3', 'TX'), ('u4', 'NY');
    create table raw.verifications (verification_id varchar, user_id varchar, ds date, verified_at timestamp,
                                    kind varchar);
    insert into raw.verifications values
      ('v1', 'u1', '2026-01-01', '2026-01-01 09:00', 'passport'),
      ('v2', 'u2', '2026-01-01', '2026-01-01 10:00', 'license'),
      ('v3', 'u1', '2026-01-02', '2026-01-02 09:00', 'passport'),
      ('v4', 'u2', '2026-01-02', '2026-01-02 11:00', 'passport'),
      ('v5', 'u3', '2026-01-02', '2026-01-02 12:00', 'license'),
      ('v6', 'u4', null, '2026-01-03 08:00', 'license'),
      ('v7', 'u1', '2026-01-03', '2026-01-03 09:00', 'passport');
    create table raw.logins (login_id varchar, user_id varchar, logged_at timestamp);
    insert into raw.logins values ('l1', 'u1', '2026-01-01 08:00'), ('l2', 'u3', '2026-01-02 08:00');
"""

PARTITIONED = """
    from raw.verifications v
    left join raw.users u on v.user_id = u.user_id and v.ds = u.ds
    where v.verified_at is not null
"""


@pytest.fixture(scope="module")
def partitions(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return built_project(tmp_path_factory.mktemp("partitions"), FILES, "partitions.duckdb", ROWS)


def answer(project: Project, **request: object) -> list[tuple]:
    result = project.query(**request)
    return sorted((tuple(float(v) if isinstance(v, int) else v for v in row) for row in result.rows), key=str)


def by_hand(project: Project, sql: str) -> list[tuple]:
    return sorted((tuple(float(v) if isinstance(v, int) else v for v in row) for row in hand(project, sql)), key=str)


def test_a_dimension_of_a_partitioned_dataset_is_read_in_the_same_partition(partitions):
    # u1's verification of 2 January counts in WA, where a join on the user alone would count it in CA and WA
    got = answer(partitions, metrics=["verifications"], dimensions=["user__home_state"])
    expected = by_hand(partitions, f"select u.home_state, count(v.verification_id) {PARTITIONED} group by 1")
    assert got == expected
    assert (
        ("WA", 1.0) in got and ("CA", 3.0) in got and (None, 3.0) in got
    )  # v6 (NULL ds); v5, v7: no user row that day
    assert sum(n for _, n in got) == 7  # no verification is counted twice


def test_grouped_by_the_partition_and_a_dimension(partitions):
    got = answer(partitions, metrics=["verifications"], dimensions=["verification__ds", "user__home_state"])
    expected = by_hand(partitions, f"select v.ds, u.home_state, count(v.verification_id) {PARTITIONED} group by 1, 2")
    assert got == expected
    assert (None, None, 1.0) in got  # the verification without a partition: its own group, no user's state


def test_by_period_and_dimension(partitions):
    got = answer(partitions, metrics=["verifications"], dimensions=["user__home_state"], grain="day")
    got = [row for row in got if row[-1]]  # kpiframe also answers 0 for every other (day, state)
    expected = by_hand(
        partitions,
        f"select cast(v.verified_at as date), u.home_state, count(v.verification_id) {PARTITIONED} group by 1, 2",
    )
    assert got == expected


def test_a_filter_on_the_partition(partitions):
    got = answer(
        partitions,
        metrics=["verifications"],
        dimensions=["user__home_state"],
        where="verification__ds >= '2026-01-02'",
    )
    expected = by_hand(
        partitions,
        f"select u.home_state, count(v.verification_id) {PARTITIONED} and v.ds >= date '2026-01-02' group by 1",
    )
    assert got == expected == [("CA", 1.0), ("WA", 1.0), (None, 2.0)]  # v5, v7: their user has no row that day


def test_a_filter_on_the_joined_dataset_reads_the_same_partition(partitions):
    got = answer(
        partitions, metrics=["verifications"], dimensions=["verification__kind"], where="user__home_state = 'CA'"
    )
    expected = by_hand(
        partitions, f"select v.kind, count(v.verification_id) {PARTITIONED} and u.home_state = 'CA' group by 1"
    )
    assert got == expected


def test_a_partitioned_fact_joins_an_unpartitioned_dimension_on_the_key_alone(partitions):
    got = answer(partitions, metrics=["verifications"], dimensions=["user__home_state_latest"])
    expected = by_hand(
        partitions,
        """select l.home_state_latest, count(v.verification_id) from raw.verifications v
           left join raw.users_latest l on v.user_id = l.user_id
           where v.verified_at is not null group by 1""",
    )
    assert got == expected


def test_an_unpartitioned_fact_joins_a_partitioned_dimension_on_the_key_alone(partitions):
    # no partition on the logins' side: every row of the user joins, as in a project without partitions
    got = answer(partitions, metrics=["logins"], dimensions=["user__home_state"])
    expected = by_hand(
        partitions,
        """select u.home_state, count(g.login_id) from raw.logins g left join raw.users u on g.user_id = u.user_id
           where g.logged_at is not null group by 1""",
    )
    assert got == expected


def test_the_generated_join_equates_key_and_partition(partitions):
    sql = partitions.explain(metrics=["verifications"], dimensions=["user__home_state"])
    normalized = " ".join(sql.split())
    assert 'ON "t"."user_id" = "j1"."user_id" AND "t"."ds" = "j1"."ds"' in normalized, sql
    sql = partitions.explain(metrics=["verifications"], dimensions=["user__home_state_latest"])
    assert 'ON "t"."user_id" = "j1"."user_id" WHERE' in " ".join(sql.split()), sql


def test_the_key_check_of_a_partitioned_dataset_is_per_partition(partitions):
    checks = partitions.graph.expectations
    [users] = checks[("model", "stg_users")]
    assert (users.kind, users.kwargs, users.severity) == (
        "expect_compound_columns_to_be_unique",
        {"column_list": ["user_id", "ds"]},
        "warn",
    )
    assert "one row per user_id in each partition ds" in (users.description or "")
    [latest] = checks[("model", "stg_users_latest")]
    assert (latest.kind, latest.kwargs) == ("expect_column_values_to_be_unique", {"column": "user_id"})
    found = {r.expectation.target: r.status for r in partitions.last_expectation_results}
    assert found["model stg_users (implied by dataset users: one row per user_id and ds)"] == "pass"


def test_a_declared_compound_unique_replaces_the_implied_key_check(tmp_path: Path):
    files = {**FILES, "models/users.yml": "models:\n  - name: stg_users\n    expectations:\n"}
    files["models/users.yml"] += "      - expect_compound_columns_to_be_unique: {column_list: [DS, user_id]}\n"
    project = Project.load(write_files(tmp_path, files))
    [declared] = project.graph.expectations[("model", "stg_users")]
    assert declared.severity == "error" and not (declared.description or "").startswith("implied")


def _load_errors(tmp_path: Path, old: str, new: str) -> tuple[list[str], int]:
    text = DATASETS.replace(old, new, 1)
    assert text != DATASETS
    with pytest.raises(ProjectInvalid) as caught:
        Project.load(write_files(tmp_path, {**FILES, "metrics/partitions.yml": text}))
    written = textwrap.dedent(text).lstrip().splitlines()
    line = next(n for n, row in enumerate(written, 1) if new.strip() in row)
    return [d.render() for d in caught.value.diagnostics], line


def test_a_partition_on_a_categorical_dimension_is_an_error_at_its_line(tmp_path):
    found, line = _load_errors(tmp_path, "- {name: kind}", "- {name: kind, partition: true}")
    found = [f for f in found if "KF114" in f]
    assert len(found) == 1 and found[0].startswith(f"metrics/partitions.yml:{line}:"), found
    assert "'kind' of dataset 'verifications' is a partition but not a time" in found[0]
    assert "add type: time" in found[0]


def test_a_second_partition_is_an_error_at_its_line(tmp_path):
    found, line = _load_errors(
        tmp_path, "- {name: verified_at, type: time}", "- {name: verified_at, type: time, partition: true}"
    )
    assert len(found) == 1 and "error[KF115]" in found[0], found
    assert found[0].startswith(f"metrics/partitions.yml:{line}:"), found
    assert "second partition, 'verified_at' (the first is 'ds')" in found[0]


def test_partition_takes_true_or_false(tmp_path):
    found, line = _load_errors(tmp_path, "- {name: kind}", "- {name: kind, partition: yes please}")
    found = [f for f in found if "KF201" not in f]  # the dataset that does not parse has no measures either
    assert len(found) == 1 and "error[KF014]" in found[0] and found[0].startswith(f"metrics/partitions.yml:{line}:"), (
        found
    )


def test_without_partitions_the_join_is_on_the_key_alone(tmp_path):
    files = {**FILES, "metrics/partitions.yml": DATASETS.replace(", partition: true", "")}
    project = built_project(tmp_path, files, "partitions.duckdb", ROWS)
    got = answer(project, metrics=["verifications"], dimensions=["user__home_state"])
    expected = by_hand(
        project,
        """select u.home_state, count(v.verification_id) from raw.verifications v
           left join raw.users u on v.user_id = u.user_id where v.verified_at is not null group by 1""",
    )
    assert got == expected
    assert sum(n for _, n in got) == 12  # u1's and u2's verifications, counted once per day of their user
    [key] = project.graph.expectations[("model", "stg_users")]
    assert key.kwargs == {"column": "user_id"}


# --- the MetricFlow import --------------------------------------------------------------------------------

SIMPLE = Path(__file__).resolve().parent.parent / "fixtures" / "metricflow" / "conformance" / "simple_manifest"


def _datasets(files: dict[str, str]) -> dict[str, dict[str, object]]:
    found: dict[str, dict[str, object]] = {}
    for path, text in files.items():
        if path.startswith("metrics/"):
            for dataset in (yaml.safe_load(text) or {}).get("datasets", []):
                found[dataset["name"]] = dataset
    return found


def test_is_partition_is_imported_as_the_datasets_partition(tmp_path):
    result = plan_import(SIMPLE, tmp_path)
    datasets = _datasets(result.files)
    partitioned = {
        name: [d["name"] for d in dataset.get("dimensions", []) if d.get("partition")]
        for name, dataset in datasets.items()
    }
    assert {name: dims for name, dims in partitioned.items() if dims} == {
        "bookings_source": ["ds_partitioned"],
        "id_verifications": ["ds_partitioned"],
        "users_ds_source": ["ds_partitioned"],
        "views_source": ["ds_partitioned"],
    }
    assert not [n for n in result.unmapped() if "is_partition" in n.message]


def test_a_partition_kpiframe_cannot_keep_is_reported_at_its_line(tmp_path):
    manifest = shutil.copytree(SIMPLE, tmp_path / "manifest")
    path = manifest / "semantic_models" / "id_verifications.yaml"
    text = path.read_text(encoding="utf-8")
    for dimension in ("    - name: verification_type\n      type: categorical\n", "    - name: ds\n      type: time\n"):
        text = text.replace(dimension, dimension + "      is_partition: true\n", 1)
    path.write_text(text, encoding="utf-8")
    result = plan_import(manifest, tmp_path / "out")
    lines = text.splitlines()
    notes = {n.line: n.message for n in result.unmapped() if n.path.endswith("id_verifications.yaml")}
    first = next(n for n, row in enumerate(lines, 1) if "is_partition: true" in row)  # on ds: kept
    second, third = [n for n, row in enumerate(lines, 1) if "is_partition: true" in row][1:]
    assert first not in notes
    assert "a second partition of the semantic model" in notes[second]
    assert "not a time dimension" in notes[third]
    [dataset] = [d for n, d in _datasets(result.files).items() if n == "id_verifications"]
    assert [d["name"] for d in dataset["dimensions"] if d.get("partition")] == ["ds"]


def test_partitions_of_different_names_are_said_to_be_equated(tmp_path):
    manifest = shutil.copytree(SIMPLE, tmp_path / "manifest")
    path = manifest / "semantic_models" / "id_verifications.yaml"
    text = path.read_text(encoding="utf-8").replace("ds_partitioned", "day_partition")
    path.write_text(text, encoding="utf-8")
    result = plan_import(manifest, tmp_path / "out")
    changed = [n for n in result.changed() if "partition" in n.message]
    assert any(n.path.endswith("id_verifications.yaml") and "'ds_partitioned'" in n.message for n in changed)


def test_the_imported_simple_manifest_loads_with_its_partitions(tmp_path):
    write_import(plan_import(SIMPLE, tmp_path))
    project = Project.load(tmp_path)
    assert project.layer.datasets["users_ds_source"].partition is not None  # loaded: no KF114 or KF115


def test_the_per_partition_key_check_runs_without_great_expectations(tmp_path: Path):
    """Like every implied key check, (key, partition) is one counting query: a project that declares no check
    of its own builds without loading Great Expectations. A (user, day) loaded twice is found, row by row."""
    import json
    import subprocess
    import sys

    import duckdb

    root = write_files(tmp_path, FILES)
    with duckdb.connect(str(root / "partitions.duckdb")) as con:
        con.execute(ROWS)
        con.execute("insert into raw.users values ('u1', '2026-01-01', '2025-06-01', 'CA')")
        [(repeated,)] = con.execute(
            "select count(*) from (select count(*) over (partition by user_id, ds) as n from raw.users "
            "where user_id is not null and ds is not null) where n > 1"
        ).fetchall()
    script = (
        "import json, sys; from kpiframe.project import Project; p = Project.load(sys.argv[1]); p.build(); "
        "print(json.dumps(['great_expectations' in sys.modules, "
        "[(r.expectation.kind, r.status, r.unexpected_count) for r in p.last_expectation_results "
        "if r.expectation.target.startswith('model stg_users ')]]))"
    )
    done = subprocess.run([sys.executable, "-c", script, str(root)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    gx_loaded, found = json.loads(done.stdout.strip().splitlines()[-1])
    assert repeated == 2
    assert found == [["expect_compound_columns_to_be_unique", "warn", repeated]]
    assert gx_loaded is False


# Two joins away: a partitioned fact (`prompts`: a reminder shown on a login, a row per prompt and day) reaches
# the partitioned `users` through the unpartitioned `logins`. Its user's row is the one of the prompt's own
# day (MetricFlow's rule), not every day of the user.
PROMPTS = """
  - name: prompts
    model: stg_prompts
    time: shown_at
    entities:
      - {name: prompt, type: primary, expr: prompt_id}
      - {name: login, type: foreign, expr: login_id}
    dimensions: [{name: ds, type: time, partition: true}]
    measures: [{name: prompt_count, agg: count, expr: prompt_id}]
"""


@pytest.fixture(scope="module")
def two_hops(tmp_path_factory: pytest.TempPathFactory) -> Project:
    datasets = DATASETS.replace("metrics:\n", PROMPTS.lstrip("\n") + "metrics:\n", 1)
    datasets += "  - {name: prompts, measure: prompt_count}\n"
    files = {**FILES, "metrics/partitions.yml": datasets}
    files["models/stg_prompts.sql"] = "select * from raw.prompts"
    rows = (
        ROWS
        + """
        create table raw.prompts (prompt_id varchar, login_id varchar, ds date, shown_at timestamp);
        insert into raw.prompts values
          ('p1', 'l1', '2026-01-01', '2026-01-01 08:01'), ('p2', 'l1', '2026-01-02', '2026-01-02 08:01'),
          ('p3', 'l2', '2026-01-02', '2026-01-02 08:05'), ('p4', 'l2', '2026-01-03', '2026-01-03 08:05');
    """
    )
    return built_project(tmp_path_factory.mktemp("two_hops"), files, "partitions.duckdb", rows)


def test_two_joins_away_a_partition_is_equated_with_the_facts_own(two_hops):
    got = answer(two_hops, metrics=["prompts"], dimensions=["user__home_state"])
    expected = by_hand(
        two_hops,
        "select u.home_state, count(p.prompt_id) from raw.prompts p "
        "left join raw.logins l on p.login_id = l.login_id "
        "left join raw.users u on l.user_id = u.user_id and p.ds = u.ds group by 1",
    )
    assert got == expected
    # u1's prompts: CA on 1 January, WA on 2 January (a join on the user alone counts each twice); u3's
    # only row is of 1 January, so its prompts of 2 and 3 January find none
    assert got == sorted([("CA", 1.0), ("WA", 1.0), (None, 2.0)], key=str)
