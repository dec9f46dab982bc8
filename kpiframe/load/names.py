"""The names kpiframe derives from other names, each written once.

A node of the project is addressed by a `NodeKey` (its kind and its name); its text form
`kind:name` is only for JSON, reports and state files. Generated models get their names from
`version_model` and `funnel_model`, and the hash that `state:modified` compares from `sql_hash`, so
that the writer of a state and its reader can never disagree.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from sqlglot import exp

# "project" (kpi_project.yml) and "target" (a plan value) are nodes of what `kpiframe diff` compares
NODE_KINDS = ("source", "model", "dataset", "metric", "table", "definition", "funnel", "test", "project", "target")


class NodeKey(NamedTuple):
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"

    @classmethod
    def parse(cls, text: str) -> NodeKey:
        """`kind:name` back to a key; a text without a known kind is refused, not guessed."""
        kind, sep, name = text.partition(":")
        if not sep or kind not in NODE_KINDS or not name:
            raise ValueError(f"not a node key: {text!r} (expected kind:name, kind one of {', '.join(NODE_KINDS)})")
        return cls(kind, name)


def manifest_key(kind: str, name: str) -> str:
    """A node's entry in target/manifest.json ("model.orders"): written by `kpiframe compile`, read by
    `state:modified`."""
    return f"{kind}.{name}"


def version_model(definition: str, version: int) -> str:
    """The model (and dataset) holding the entities that qualify under one version of a definition."""
    return f"{definition}_v{version}"


def membership_model(definition: str) -> str:
    """The model stacking every version of a definition: who qualifies under which version."""
    return f"{definition}_membership"


def funnel_model(funnel: str) -> str:
    """The entity-level model of a funnel: one row per entity, with its time at each stage."""
    return f"funnel_{funnel}"


def funnel_table(funnel: str, dimensions: tuple[str, ...] = ()) -> str:
    """The published monthly-cohort table of a funnel, overall or by its dimensions."""
    return f"{funnel_model(funnel)}_monthly" + "".join(f"_by_{d}" for d in dimensions)


HASHED_DIALECT = "duckdb"  # the SQL text every fingerprint is taken of, whichever engine runs the project


def sql_hash(query: exp.Expr, duckdb_sql: str | None = None) -> str:
    """The fingerprint of a node's SQL: of its DuckDB text whatever the target dialect, so that states
    written by `kpiframe compile --dialect X` compare with any other. `duckdb_sql` is that text when
    the caller has rendered it already (rendering is most of the cost)."""
    text = duckdb_sql if duckdb_sql is not None else query.sql(dialect=HASHED_DIALECT, pretty=True)
    return hashlib.sha256(text.encode()).hexdigest()
