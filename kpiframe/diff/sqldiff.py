"""What changed between two SELECTs, clause by clause, read from sqlglot trees rather than from text.

Layout, comments, keyword case and the order of AND-ed conditions do not count as changes. What does
is said per clause: a column added, removed or recomputed, a condition added or removed, a join, a
CTE or a subquery changed (inside it, the same again). Anything else falls back to sqlglot's own tree
diff (`sqlglot.diff`), summarized to the outermost nodes inserted, removed or updated.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.diff import Insert, Remove, Update

MAX_SNIPPET = 160
MAX_EDITS = 8


def canonical(node: exp.Expr | None) -> str:
    """One spelling per meaning for the purpose of comparing: no comments, normalized identifiers."""
    return "" if node is None else node.sql(dialect="duckdb", normalize=True, comments=False)


def snippet(node: exp.Expr | None) -> str:
    text = "∅" if node is None else node.sql(dialect="duckdb", comments=False)
    return text if len(text) <= MAX_SNIPPET else text[: MAX_SNIPPET - 1] + "…"


def same_sql(old: exp.Expr | None, new: exp.Expr | None) -> bool:
    return canonical(old) == canonical(new)


def sql_changes(old: exp.Expr, new: exp.Expr, where: str = "") -> list[str]:
    """Readable changes from `old` to `new`; empty when both mean the same."""
    if same_sql(old, new):
        return []
    if not isinstance(old, exp.Query) or not isinstance(new, exp.Query):
        return _edit_summary(old, new, where)
    changes = _cte_changes(old, new, where)
    old_body, new_body = _without_ctes(old), _without_ctes(new)
    if same_sql(old_body, new_body):
        return changes
    if isinstance(old_body, exp.Select) and isinstance(new_body, exp.Select):
        return changes + _select_changes(old_body, new_body, where)
    if isinstance(old_body, exp.SetOperation) or isinstance(new_body, exp.SetOperation):
        return changes + _union_changes(old_body, new_body, where)
    return changes + _edit_summary(old_body, new_body, where)


def only_columns_added(old: exp.Expr, new: exp.Expr) -> bool:
    """True when `new` is `old` plus output columns: every number `old` gave is still there, unchanged."""
    if not isinstance(old, exp.Select) or not isinstance(new, exp.Select):
        return False
    names = {e.alias_or_name for e in old.expressions}
    trimmed = new.copy()
    trimmed.set("expressions", [e for e in trimmed.expressions if e.alias_or_name in names])
    return same_sql(old, trimmed)


def _without_ctes(query: exp.Query) -> exp.Query:
    if not query.args.get("with_"):
        return query
    body = query.copy()
    body.set("with_", None)
    return body


def _cte_changes(old: exp.Query, new: exp.Query, where: str) -> list[str]:
    before = {cte.alias: cte.this for cte in old.ctes}
    after = {cte.alias: cte.this for cte in new.ctes}
    changes = [f"{where}CTE {name} removed" for name in before if name not in after]
    changes += [f"{where}CTE {name} added: {snippet(after[name])}" for name in after if name not in before]
    for name in [n for n in after if n in before]:
        changes += sql_changes(before[name], after[name], f"{where}CTE {name}: ")
    return changes


def _select_changes(old: exp.Select, new: exp.Select, where: str) -> list[str]:
    changes = _projection_changes(old, new, where)
    if bool(old.args.get("distinct")) != bool(new.args.get("distinct")):
        changes.append(f"{where}DISTINCT {'added' if new.args.get('distinct') else 'removed'}")
    changes += _from_changes(old.args.get("from_"), new.args.get("from_"), where)
    old_joins = {canonical(j): j for j in old.args.get("joins") or []}
    new_joins = {canonical(j): j for j in new.args.get("joins") or []}
    changes += [f"{where}JOIN removed: {snippet(j)}" for key, j in old_joins.items() if key not in new_joins]
    changes += [f"{where}JOIN added: {snippet(j)}" for key, j in new_joins.items() if key not in old_joins]
    for clause, label in (("where", "WHERE"), ("having", "HAVING"), ("qualify", "QUALIFY")):
        changes += _condition_changes(old.args.get(clause), new.args.get(clause), f"{where}{label}")
    for clause, label in (("group", "GROUP BY"), ("order", "ORDER BY"), ("limit", "LIMIT")):
        before, after = old.args.get(clause), new.args.get(clause)
        if not same_sql(before, after):
            changes.append(f"{where}{label}: {snippet(before)} → {snippet(after)}")
    old_rest, new_rest = _rest(old), _rest(new)
    if not same_sql(old_rest, new_rest):  # a clause not compared above (windows, laterals, ...)
        changes += _edit_summary(old_rest, new_rest, where)
    return changes


_COMPARED = ("expressions", "distinct", "from_", "joins", "where", "having", "qualify", "group", "order", "limit")


def _rest(select: exp.Select) -> exp.Select:
    rest = select.copy()
    for clause in _COMPARED:
        rest.set(clause, None)
    return rest


def _projection_changes(old: exp.Select, new: exp.Select, where: str) -> list[str]:
    before = {e.alias_or_name: e for e in old.expressions}
    after = {e.alias_or_name: e for e in new.expressions}
    changes = [f"{where}column {name} removed" for name in before if name not in after]
    changes += [
        f"{where}column {name} added: {snippet(_unaliased(e))}" for name, e in after.items() if name not in before
    ]
    for name in [n for n in after if n in before]:
        if not same_sql(_unaliased(before[name]), _unaliased(after[name])):
            changes.append(
                f"{where}column {name}: {snippet(_unaliased(before[name]))} → {snippet(_unaliased(after[name]))}"
            )
    common_before = [n for n in before if n in after]
    common_after = [n for n in after if n in before]
    if not changes and common_before != common_after:
        changes.append(f"{where}column order: {', '.join(common_before)} → {', '.join(common_after)}")
    return changes


def _unaliased(node: exp.Expr) -> exp.Expr:
    return node.this if isinstance(node, exp.Alias) else node


def _from_changes(old: exp.Expr | None, new: exp.Expr | None, where: str) -> list[str]:
    if same_sql(old, new):
        return []
    old_source = old.this if isinstance(old, exp.From) else None
    new_source = new.this if isinstance(new, exp.From) else None
    if (
        isinstance(old_source, exp.Subquery)
        and isinstance(new_source, exp.Subquery)
        and old_source.alias == new_source.alias
    ):
        return sql_changes(old_source.this, new_source.this, f"{where}subquery {old_source.alias or '?'}: ")
    return [f"{where}FROM: {snippet(old_source)} → {snippet(new_source)}"]


def _conjuncts(clause: exp.Expr | None) -> dict[str, exp.Expr]:
    if clause is None:
        return {}
    condition = clause.this if isinstance(clause, (exp.Where, exp.Having, exp.Qualify)) else clause
    parts = condition.flatten() if isinstance(condition, exp.And) else [condition]
    return {canonical(part): part for part in parts}


def _condition_changes(old: exp.Expr | None, new: exp.Expr | None, label: str) -> list[str]:
    before, after = _conjuncts(old), _conjuncts(new)
    removed = [part for key, part in before.items() if key not in after]
    added = [part for key, part in after.items() if key not in before]
    if len(removed) == 1 and len(added) == 1:
        return [f"{label} condition: {snippet(removed[0])} → {snippet(added[0])}"]
    return [f"{label} condition removed: {snippet(part)}" for part in removed] + [
        f"{label} condition added: {snippet(part)}" for part in added
    ]


def _branches(node: exp.Expr) -> list[exp.Expr]:
    if isinstance(node, exp.SetOperation) and not node.args.get("with_"):
        return _branches(node.this) + _branches(node.expression)
    return [node]


def _union_changes(old: exp.Query, new: exp.Query, where: str) -> list[str]:
    before = {canonical(b): b for b in _branches(old)}
    after = {canonical(b): b for b in _branches(new)}
    label = type(new if isinstance(new, exp.SetOperation) else old).__name__.upper()
    changes = [f"{where}{label} branch removed: {snippet(b)}" for key, b in before.items() if key not in after]
    changes += [f"{where}{label} branch added: {snippet(b)}" for key, b in after.items() if key not in before]
    return changes or _edit_summary(old, new, where)


def _edit_summary(old: exp.Expr, new: exp.Expr, where: str) -> list[str]:
    """sqlglot's edit script, reduced to the outermost inserted, removed and updated nodes."""
    edits = sqlglot.diff(old, new, delta_only=True)
    inserted = {id(e.expression) for e in edits if isinstance(e, Insert)}
    removed = {id(e.expression) for e in edits if isinstance(e, Remove)}
    lines = []
    for edit in edits:
        if isinstance(edit, Insert) and id(edit.expression.parent) not in inserted:
            lines.append(f"{where}added: {snippet(edit.expression)}")
        elif isinstance(edit, Remove) and id(edit.expression.parent) not in removed:
            lines.append(f"{where}removed: {snippet(edit.expression)}")
        elif isinstance(edit, Update):
            lines.append(f"{where}changed: {snippet(edit.source)} → {snippet(edit.target)}")
    if not lines:  # only moves: the same pieces in another order
        lines.append(f"{where}reordered: {snippet(new)}")
    if len(lines) > MAX_EDITS:
        lines = [*lines[:MAX_EDITS], f"{where}… and {len(lines) - MAX_EDITS} more edits"]
    return lines


def expression_key(text: object) -> object:
    """A user-written expression (filter, expr, fit) compared by meaning, not by spelling."""
    if not isinstance(text, str):
        return text
    from kpiframe.sql.expressions import ExpressionRejected, parse_expression

    try:
        return canonical(parse_expression(text))
    except ExpressionRejected:
        return text
