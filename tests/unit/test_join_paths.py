"""A dimension reachable by two join paths is read through the shorter one.

A page view has a `user` key of its own (the viewer) and a `listing`, whose own `user` is its host.
`user__home_state` of a view must be the viewer's state: the direct join, not the one through the listing,
whatever order the entities are declared in. Every expected row comes from SQL written here.
"""

from __future__ import annotations

import pytest

from kpiframe.project import Project
from tests.conftest import built_project, hand

DATASETS = """
datasets:
  - name: views
    model: stg_views
    time: viewed_at
    entities:
      - {{name: view, type: primary, expr: view_id}}
{entities}
    measures: [{{name: view_count, agg: count, expr: view_id}}]
  - name: listings
    model: stg_listings
    entities:
      - {{name: listing, type: primary, expr: listing_id}}
      - {{name: user, type: foreign, expr: host_id}}
    dimensions: [{{name: is_lux}}]
  - name: users
    model: stg_users
    entities: [{{name: user, type: primary, expr: user_id}}]
    dimensions: [{{name: home_state}}]
metrics:
  - {{name: views, measure: view_count}}
"""
LISTING = "      - {name: listing, type: foreign, expr: listing_id}"
USER = "      - {name: user, type: foreign, expr: user_id}"
LISTING_FIRST, USER_FIRST = f"{LISTING}\n{USER}", f"{USER}\n{LISTING}"

ROWS = """
    create schema raw;
    create table raw.users (user_id varchar, home_state varchar);
    insert into raw.users values ('u1', 'CA'), ('u2', 'NY'), ('u3', 'TX');
    create table raw.listings (listing_id varchar, host_id varchar, is_lux boolean);
    insert into raw.listings values ('l1', 'u1', true), ('l2', 'u2', false);
    create table raw.views (view_id varchar, user_id varchar, listing_id varchar, viewed_at timestamp);
    insert into raw.views values
      ('v1', 'u2', 'l1', '2026-01-01 10:00'), ('v2', 'u3', 'l1', '2026-01-02 10:00'),
      ('v3', 'u3', 'l2', '2026-01-03 10:00'), ('v4', null, 'l2', '2026-01-04 10:00'),
      ('v5', 'u1', null, '2026-01-05 10:00');
"""


def files(entities: str) -> dict[str, str]:
    return {
        "kpi_project.yml": "name: paths\nwarehouse: {path: paths.duckdb}\n",
        "models/sources.yml": """
            sources:
              - name: raw
                schema: raw
                tables:
                  - {name: users, columns: [user_id, home_state]}
                  - {name: listings, columns: [listing_id, host_id, {name: is_lux, type: BOOLEAN}]}
                  - {name: views, columns: [view_id, user_id, listing_id, {name: viewed_at, type: TIMESTAMP}]}
        """,
        "models/stg_users.sql": "select * from {{ source('raw', 'users') }}",
        "models/stg_listings.sql": "select * from {{ source('raw', 'listings') }}",
        "models/stg_views.sql": "select * from {{ source('raw', 'views') }}",
        "metrics/views.yml": DATASETS.format(entities=entities),
    }


VIEWER_STATE = """
    select u.home_state, l.is_lux, count(*)
    from raw.views v
    left join raw.users u on u.user_id = v.user_id
    left join raw.listings l on l.listing_id = v.listing_id
    group by all
"""


@pytest.mark.parametrize("entities", [LISTING_FIRST, USER_FIRST], ids=["listing first", "user first"])
def test_the_viewers_state_not_the_hosts(tmp_path, entities):
    project: Project = built_project(tmp_path, files(entities), "paths.duckdb", ROWS)
    result = project.query(metrics=["views"], dimensions=["user__home_state", "listing__is_lux"], grain="all")
    got = sorted(((s, lux, int(n)) for s, lux, n in result.rows), key=str)
    expected = sorted(((s, lux, int(n)) for s, lux, n in hand(project, VIEWER_STATE)), key=str)
    assert got == expected
    assert ("TX", True, 1) in got and ("CA", True, 0) not in got  # v2: viewer u3 (TX) of the CA host's listing
