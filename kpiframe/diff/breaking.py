"""Which changes break readers of the published tables, and why; what each change reaches downstream."""

from __future__ import annotations

from collections import defaultdict

from kpiframe.diff.changes import (
    DOCUMENTATION,
    PROJECT,
    Edges,
    Snapshot,
    alters_meaning,
    breaks_readers,
    doc_only,
    reach,
    segments,
)
from kpiframe.diff.model import ObjectChange
from kpiframe.load.names import NodeKey

READS_NUMBERS = ("metric", "table")
HOSTS = ("definition", "funnel")  # they generate models and datasets


def meaning_flow(
    found: dict[NodeKey, ObjectChange], graph: Edges
) -> tuple[list[NodeKey], dict[NodeKey, list[NodeKey]]]:
    """The objects whose own change alters meaning, and for every object downstream the ones it comes from.

    A definition or funnel alters meaning only through what it generates, so those are the seeds.
    """
    seeds = sorted(key for key, change in found.items() if change.meaning_changed and change.kind not in HOSTS)
    origins: dict[NodeKey, list[NodeKey]] = defaultdict(list)
    for seed in seeds:
        for key in reach(graph, seed):
            origins[key].append(seed)
    return seeds, origins


def assess(
    reported: list[ObjectChange],
    found: dict[NodeKey, ObjectChange],
    graph: Edges,
    before: dict[NodeKey, Snapshot],
    after: dict[NodeKey, Snapshot],
) -> list[ObjectChange]:
    """Fill downstream, tables, breaking and reasons; add published tables affected only from upstream."""
    seeds, origins = meaning_flow(found, graph)
    owners = {s.key: s.owner for s in [*before.values(), *after.values()] if s.owner}
    judge = _Judge(graph, set(seeds), origins, owners, before, after)
    judge.generated = {host: [k for k in found if owners.get(k) == host] for host in set(owners.values())}
    judge.calendar = calendar_grains(found.get(PROJECT))
    listed = {c.node for c in reported}
    affected = [
        ObjectChange("table", key.name, "affected", after[key].path)
        for key in sorted(origins)
        if key.kind == "table" and key not in listed and key in before and key in after
    ]
    for change in [*reported, *affected]:
        judge.fill(change)
    return [*reported, *[c for c in affected if c.breaking]]


def documentation(path: str) -> bool:
    return bool(DOCUMENTATION & set(segments(path)))


def _few(names: list[str], most: int = 12) -> str:
    return ", ".join(names[:most]) + (f" … (+{len(names) - most})" if len(names) > most else "")


def calendar_grains(change: ObjectChange | None) -> set[str] | None:
    """The grains whose periods a change of kpi_project.yml moves (None: every published table moves)."""
    grains: set[str] = set()
    for field in change.fields if change else []:
        if field.path.startswith("schemas"):
            return None
        if field.path == "calendar.week_start":
            grains.add("week")
        elif field.path.startswith("calendar."):
            grains |= {"fiscal_quarter", "fiscal_year"}
    return grains


class _Judge:
    def __init__(
        self,
        graph: Edges,
        seeds: set[NodeKey],
        origins: dict[NodeKey, list[NodeKey]],
        owners: dict[NodeKey, NodeKey],
        before: dict[NodeKey, Snapshot],
        after: dict[NodeKey, Snapshot],
    ) -> None:
        self.graph, self.seeds, self.origins, self.owners = graph, seeds, origins, owners
        self.before, self.after = before, after
        self.generated: dict[NodeKey, list[NodeKey]] = {}  # definition or funnel -> its generated objects that changed
        self.calendar: set[str] | None = set()  # grains a calendar change moves

    def project_reaches(self, table: NodeKey) -> bool:
        """A calendar change matters to a published table only at the grains it moves (week start: weeks)."""
        snapshot = self.after.get(table) or self.before.get(table)
        grain = str(snapshot.data.get("grain", "month")) if snapshot else "month"
        return PROJECT in self.seeds and (self.calendar is None or grain in self.calendar)

    def origins_for(self, key: NodeKey, table: NodeKey) -> list[NodeKey]:
        return [o for o in self.origins.get(key, []) if o != PROJECT or self.project_reaches(table)]

    def changed(self, key: NodeKey) -> bool:
        return key in self.seeds or key in self.origins

    def label(self, key: NodeKey) -> str:
        owner = self.owners.get(key)
        return f"{owner.kind} {owner.name} ({key.kind} {key.name})" if owner else f"{key.kind} {key.name}"

    def whence(self, key: NodeKey) -> str:
        return self._names(self.origins.get(key, []))

    def _names(self, keys: list[NodeKey]) -> str:
        return ", ".join(dict.fromkeys(self.label(k) for k in keys))

    def fill(self, change: ObjectChange) -> None:
        down = reach(self.graph, change.node)
        if change.kind in HOSTS and change.status == "changed":
            # what its change reaches: the generated objects that changed and what reads them
            mine = self.generated.get(change.node, [])
            down = list(dict.fromkeys([*mine, *[k for key in mine for k in reach(self.graph, key)]]))
        change.downstream = [str(k) for k in down if k != PROJECT]
        change.tables = [k.name for k in ([change.node] if change.kind == "table" else []) + down if k.kind == "table"]
        if change.kind == "target":
            change.reasons = ["a target is a goal, not a published number"]
        elif change.status == "added":
            change.reasons = ["added: nothing read it before"]
        elif change.status == "removed":
            change.breaking = change.kind in ("metric", "table") or bool(change.tables)
            change.reasons = [
                "removed"
                + (
                    f"; published tables read it: {', '.join(change.tables)}"
                    if change.tables and change.kind != "table"
                    else ""
                )
            ]
        elif change.kind == "table":
            self._table(change)
        else:
            self._other(change, down)

    def _table(self, change: ObjectChange) -> None:
        reasons: list[str] = []
        fine: list[str] = []
        for column in change.columns:
            text = f"column {column.column} {column.change}" + (
                f" ({column.old_type} → {column.new_type})" if column.change == "retyped" else ""
            )
            (reasons if breaks_readers(column) else fine).append(text)
        for field in change.fields:
            if field.path.split(".")[0] in ("grain", "dimensions"):
                reasons.append(f"{field.path} changed: {field.old} → {field.new}")
            elif field.path == "metrics" and not any(c.change == "added" for c in change.columns):
                added = [m for m in field.new or [] if m not in (field.old or [])]
                if added:
                    fine.append(f"metric(s) added: {', '.join(added)}")
            elif doc_only(field):
                kind = "documentation" if documentation(field.path) else "no number changes"
                fine.append(f"{field.path} changed ({kind})")
        key = change.node
        old, new = self.before.get(key), self.after.get(key)
        common = [
            m for m in (old.data.get("metrics", []) if old else []) if m in (new.data.get("metrics", []) if new else [])
        ]
        for metric in common:
            metric_key = NodeKey("metric", metric)
            origins = self.origins_for(metric_key, key)
            if metric_key in self.seeds or origins:
                origin = "its definition changed" if metric_key in self.seeds else f"upstream: {self._names(origins)}"
                reasons.append(f"metric {metric} changed meaning ({origin})")
        readers = {k for k, targets in self.graph.items() if key in targets and k.kind != "metric"}
        for upstream in sorted(readers - {PROJECT}):
            origins = self.origins_for(upstream, key)
            if upstream in self.seeds or origins:
                where = "" if upstream in self.seeds else f", upstream: {self._names(origins)}"
                reasons.append(f"{self.label(upstream)} changed{where}")
        if self.project_reaches(key):
            reasons.append("the project's calendar or schemas changed")
        change.breaking = bool(reasons)
        change.meaning_changed = change.meaning_changed or change.breaking
        change.reasons = reasons or fine or ["no published column or number changes"]

    def _other(self, change: ObjectChange, down: list[NodeKey]) -> None:
        key = change.node
        own = change.meaning_changed
        upstream = self.whence(key) if key in self.origins else ""
        # numbers that existed before and now mean something else (a metric or table just added has no readers)
        readers = [
            k
            for k in ([key] if change.kind == "metric" else []) + down
            if k.kind in READS_NUMBERS
            and self.changed(k)
            and k in self.before
            and k in self.after
            and (key != PROJECT or k.kind != "table" or self.project_reaches(k))
        ]
        # a metric means something else when anything upstream changed; other objects break only by their own change
        if (own or (upstream and change.kind == "metric")) and readers:
            change.breaking = True
            if own:
                change.reasons.append(f"its meaning changed: {self._what(change)}")
            if upstream:
                change.reasons.append(f"upstream change: {upstream}")
            metrics = [k.name for k in readers if k.kind == "metric" and k != key]
            if metrics:
                change.reasons.append(f"metrics whose meaning changes: {_few(metrics)}")
            tables = [k.name for k in readers if k.kind == "table"]
            if tables:
                change.reasons.append(f"published tables affected: {_few(tables)}")
            return
        if own:
            change.reasons = ["no metric or published table that existed before reads it"]
            return
        fields = ", ".join(f.path for f in change.fields)
        added = ", ".join(c.column for c in change.columns if c.change == "added")
        if fields:  # what is left: documentation, checks, or new measures or dimensions nothing used before
            if all(documentation(f.path) for f in change.fields):
                change.reasons.append(f"documentation only: {fields}")
            elif all(f.old is None for f in change.fields):
                change.reasons.append(f"adds {fields}")
            else:
                change.reasons.append(f"no number changes: {fields}")
        if added:
            change.reasons.append(f"column(s) added: {added}")
        change.reasons = change.reasons or ["no number changes"]
        if upstream:
            change.reasons.append(f"what it reads changed upstream ({upstream}): see there")

    @staticmethod
    def _what(change: ObjectChange) -> str:
        if change.kind in HOSTS:  # its meaning is what it generates
            return ", ".join([f.path for f in change.fields if not doc_only(f)] + ["the models it generates"])
        parts = [f.path for f in change.fields if alters_meaning(change.kind, f)]
        return ", ".join(parts + (["SQL"] if change.sql else [])) or "definition"
