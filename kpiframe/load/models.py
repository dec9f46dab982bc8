"""Stage 3, resolve (models): each model's Jinja rendered, its SQL parsed and checked to only read, its
ref() and source() names resolved, and every model put in dependency order."""

from __future__ import annotations

from dataclasses import replace

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import TokenType

from kpiframe.errors import Problems, SourceLocation
from kpiframe.load.dag import dependency_order
from kpiframe.load.loaded import Model, ProjectFiles
from kpiframe.load.templating import REF_PREFIX, SOURCE_PREFIX, TemplateFailure
from kpiframe.suggest import unknown


def resolve_models(files: ProjectFiles) -> tuple[ProjectFiles, tuple[str, ...], Problems]:
    """Every hand-written model rendered and parsed (generated ones already are), and the build order."""
    found = Problems()
    models: dict[str, Model] = {}
    for name, model in files.models.items():
        if not model.generated:
            model, problems = render_model(files, model)
            found += problems
        models[name] = model
    order, cycle = dependency_order({name: model.refs for name, model in models.items()})
    if cycle:
        found.error(
            "KF106",
            f"dependency cycle: {' -> '.join(cycle)}",
            models[cycle[0]].location,
            hint="a model cannot depend on itself through ref()",
        )
    return replace(files, models=models), tuple(order), found


def render_model(files: ProjectFiles, model: Model) -> tuple[Model, Problems]:
    """Render Jinja, parse the SQL, and swap ref/source placeholders for real tables in the tree."""
    found = Problems()
    try:
        rendered = files.templater.render(model.text, model.path)
    except TemplateFailure as failure:
        found.append(failure.diagnostic)
        return model, found
    model = replace(model, refs=tuple(dict.fromkeys(rendered.refs)), sources=tuple(dict.fromkeys(rendered.sources)))
    try:
        statements = [s for s in sqlglot.parse(rendered.sql, read="duckdb") if s is not None]
    except ParseError as exc:
        error = exc.errors[0] if exc.errors else {}
        found.error(
            "KF310",
            f"cannot parse model SQL: {error.get('description', exc)}",
            SourceLocation(model.path, error.get("line", 1) or 1, error.get("col", 1) or 1),
        )
        return model, found
    except TokenError:  # the tokenizer stops before parsing, mostly at a quote that is never closed
        found.error(
            "KF310",
            "cannot read model SQL: a quote or a $$ string is never closed, or a character cannot start a SQL token",
            SourceLocation(model.path, 1, 1),
        )
        return model, found
    if not statements:  # an empty file, or only comments: nothing to locate beyond the file itself
        found.error(
            "KF311",
            "a model must be exactly one SELECT statement; this file has none",
            SourceLocation(model.path, 1, 1),
            hint="write the model's SELECT, or delete the file",
        )
        return model, found
    write = next((node for s in statements if (node := s.find(*_WRITES)) is not None), None)
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        location, note = _statement_location(model, rendered.sql, statements, write or statements[-1])
        also = f"; it also runs {_write_name(write)}" if write is not None else ""
        found.error(
            "KF311",
            f"a model must be exactly one SELECT statement{also}{note}",
            location,
            hint="remove other statements; kpiframe creates the table or view itself",
        )
        return model, found
    if write is not None:
        location, note = _statement_location(model, rendered.sql, statements, write)
        found.error(
            "KF312",
            f"a model may only read: it contains {_write_name(write)}{note}",
            location,
            hint="a model is one SELECT (CTEs allowed) and kpiframe writes its table; "
            "no INSERT/UPDATE/DELETE/DDL/session statements, not even inside a CTE",
        )
        return model, found
    tree = statements[0]
    assert isinstance(tree, exp.Query)  # checked above: exactly one SELECT
    for name in model.refs:
        if name not in files.models:
            message, hint = unknown("model", name, files.models)
            found.error("KF104", message, _ref_location(model, name), hint)
    for source_name, table in model.sources:
        if (source_name, table) not in files.sources:
            message, hint = unknown("source", f"{source_name}.{table}", [f"{s}.{t}" for s, t in files.sources])
            found.error("KF105", message, _ref_location(model, table), hint)
    return replace(model, tree=tree), found


# Statements a model may not contain anywhere in its tree: a CTE such as
# `with gone as (delete from t returning id) select ...` is one SELECT on the outside, and DuckDB
# runs the DELETE. The check is on the parsed tree, before any dialect, so it holds on every engine;
# exp.Command is what sqlglot makes of statements it does not know (CALL, LOAD, VACUUM, FORCE CHECKPOINT).
# `find` looks at a statement itself and every node under it: CTEs, subqueries, set operations.
_WRITES: tuple[type[exp.Expr], ...] = (
    exp.Insert,
    exp.Delete,
    exp.Update,
    exp.Merge,
    exp.Copy,
    exp.Export,
    exp.LoadData,
    exp.MultitableInserts,
    exp.ConditionalInsert,
    exp.Into,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.TruncateTable,
    exp.Undrop,
    exp.SwapTable,
    exp.Comment,
    exp.Attach,
    exp.Detach,
    exp.Install,
    exp.Grant,
    exp.Revoke,
    exp.Analyze,
    exp.Refresh,
    exp.Cache,
    exp.Uncache,
    exp.Command,
    exp.Pragma,
    exp.Set,
    exp.Use,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.Execute,
    exp.ExecuteSql,
    exp.Declare,
    exp.Kill,
    exp.ConnectTo,
    exp.Disconnect,
    exp.AlterSession,
    exp.Put,
    exp.Get,
    exp.Lock,
    exp.Block,
    exp.IfBlock,
    exp.WhileBlock,
    exp.LoopBlock,
    exp.RepeatBlock,
    exp.StoredProcedure,
    exp.Return,
    exp.Leave,
    exp.Iterate,
)
_WRITE_NAMES: dict[type[exp.Expr], str] = {
    exp.TruncateTable: "TRUNCATE",
    exp.Into: "SELECT ... INTO",
    exp.Lock: "FOR UPDATE/SHARE",
    exp.Transaction: "BEGIN",
    exp.MultitableInserts: "INSERT ALL",
    exp.ConditionalInsert: "INSERT",
}


def _write_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Command):  # the statement's first word, as sqlglot kept it
        return str(node.this).upper()
    return _WRITE_NAMES.get(type(node)) or node.key.upper()


def _statement_location(
    model: Model, sql: str, statements: list[exp.Expr], node: exp.Expr
) -> tuple[SourceLocation, str]:
    """The first line sqlglot recorded under `node` (else the line its statement starts on), and a
    note when that line is of the SQL after Jinja rather than of the file (Jinja added or removed lines)."""
    lines = [n.meta["line"] for n in node.walk() if "line" in n.meta]
    if not lines:  # e.g. exp.Command keeps its text as one unpositioned literal
        starts = _statement_starts(sql)
        index = next((i for i, s in enumerate(statements) if s is node.root()), 0)
        lines = [starts[index] if index < len(starts) else 1]
    line = min(lines)
    note = "" if sql.count("\n") == model.text.count("\n") else f" (line {line} of the SQL after Jinja)"
    return SourceLocation(model.path, line, 1), note


def _statement_starts(sql: str) -> list[int]:
    """The line each non-empty statement of `sql` starts on."""
    try:
        tokens = sqlglot.tokenize(sql, read="duckdb")
    except sqlglot.errors.TokenError:
        return []
    starts, after_semicolon = [], True
    for token in tokens:
        if token.token_type is TokenType.SEMICOLON:
            after_semicolon = True
        elif after_semicolon:
            starts.append(token.line)
            after_semicolon = False
    return starts


def _ref_location(model: Model, name: str) -> SourceLocation:
    for number, line in enumerate(model.text.splitlines(), start=1):
        column = line.find(f"'{name}'") if f"'{name}'" in line else line.find(f'"{name}"')
        if column >= 0:
            return SourceLocation(model.path, number, column + 2)
    return model.location


def placeholder_table(project: ProjectFiles, table: exp.Table) -> exp.Table | None:
    """The real table behind a ref()/source() placeholder, or None for an ordinary table name."""
    name = table.name
    if name.startswith(REF_PREFIX):
        return exp.table_(name.removeprefix(REF_PREFIX), db=project.config.schemas.models, quoted=True)
    if name.startswith(SOURCE_PREFIX):
        length, _, rest = name.removeprefix(SOURCE_PREFIX).partition("_")
        source_name, table_name = rest[: int(length)], rest[int(length) :]
        source = project.sources[(source_name, table_name)]
        return exp.table_(source.table, db=source.schema, quoted=True)
    return None
