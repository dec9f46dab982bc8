"""Sandboxed Jinja for models: `ref`, `source`, `var` and the project's macros.

A model file may come from a pull request, so templates run in jinja2's immutable sandbox: they
cannot reach Python internals or mutate objects. `ref` and `source` render to placeholder table names
that the compiler swaps for real, dialect-quoted tables in the sqlglot tree, never by pasting text.
The sandbox does not bound time or memory; kpiframe.load.jinja_limits does. Every failure, a limit,
an undefined name or a Python error, is reported at the template line it happened on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError

from kpiframe.errors import Diagnostic, SourceLocation
from kpiframe.load.jinja_limits import GuardedEnvironment, LimitExceeded

REF_PREFIX = "__kf_ref__"
SOURCE_PREFIX = "__kf_src__"


@dataclass
class RenderResult:
    sql: str
    refs: list[str] = field(default_factory=list)
    sources: list[tuple[str, str]] = field(default_factory=list)


class TemplateFailure(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class Templater:
    """Renders model SQL; macros from `macros/*.sql` are available to every model by name."""

    def __init__(self, macro_files: dict[str, str], variables: dict[str, Any]) -> None:
        # each macro file's own path is its template filename, so that tracebacks say which file failed
        loader = jinja2.FunctionLoader(
            lambda name: (macro_files[name], name, lambda: True) if name in macro_files else None
        )
        self.env = GuardedEnvironment(loader=loader, undefined=jinja2.StrictUndefined, autoescape=False)
        self.variables = variables
        self.macro_problems: list[Diagnostic] = []
        for path in sorted(macro_files):
            self.env.budget.start()
            try:
                module = self.env.get_template(path).module
            except Exception as exc:  # noqa: BLE001 - a macro file's failure is a diagnostic, whatever it is
                self.macro_problems.append(_template_diagnostic(exc, path))
                continue
            for name in dir(module):
                if not name.startswith("_"):
                    self.env.globals[name] = getattr(module, name)

    def render(self, text: str, path: str) -> RenderResult:
        """Render one model; failures raise TemplateFailure carrying a located diagnostic."""
        result = RenderResult(sql="")

        def ref(name: str) -> str:
            result.refs.append(str(name))
            return f"{REF_PREFIX}{name}"

        def source(source_name: str, table: str) -> str:
            result.sources.append((str(source_name), str(table)))
            # the source name's length goes first, so names that contain "__" still split right
            return f"{SOURCE_PREFIX}{len(str(source_name))}_{source_name}{table}"

        def var(name: str, default: Any = None) -> Any:
            if name in self.variables:
                return self.variables[name]
            if default is not None:
                return default
            raise TemplateFailure(
                Diagnostic(
                    "KF303",
                    f"unknown var '{name}'",
                    SourceLocation(path, 1, 1),
                    hint="declare it under vars: in kpi_project.yml or pass a default: var('name', 0)",
                )
            )

        self.env.budget.start()
        try:
            code = self.env.compile(text, name=path, filename=path)
            template = self.env.template_class.from_code(self.env, code, self.env.make_globals(None))
            result.sql = template.render(ref=ref, source=source, var=var)
        except TemplateFailure as failure:  # raised by var(): now that the traceback is known, say where
            found = failure.diagnostic
            raise TemplateFailure(Diagnostic(found.code, found.message, _where(failure, path), found.hint)) from None
        except Exception as exc:  # noqa: BLE001 - whatever a template does wrong is the user's to fix, located
            raise TemplateFailure(_template_diagnostic(exc, path)) from None
        return result


def _template_diagnostic(exc: BaseException, path: str) -> Diagnostic:
    location = _where(exc, path)
    if isinstance(exc, SecurityError):
        return Diagnostic(
            "KF302",
            f"template tried something the sandbox forbids: {exc}",
            location,
            hint="models may only use ref(), source(), var() and macros",
        )
    if isinstance(exc, (LimitExceeded, RecursionError, MemoryError, OverflowError)):
        message = {
            RecursionError: "calls nested too deep (a macro calling itself?)",
            MemoryError: "the template ran out of memory",
        }.get(type(exc)) or str(exc)
        return Diagnostic(
            "KF304",
            f"template exceeds a limit: {message}",
            location,
            hint="a model template must stay small and finish quickly; see docs/security.md",
        )
    if isinstance(exc, jinja2.TemplateError):
        return Diagnostic("KF301", f"template error: {getattr(exc, 'message', None) or exc}", location)
    return Diagnostic("KF301", f"template error: {type(exc).__name__}: {exc}", location)


def _where(exc: BaseException, path: str) -> SourceLocation:
    """The innermost template line in the exception's traceback (jinja rewrites template frames to
    the template's filename and line), in the model or in the macro file it called."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return SourceLocation(exc.filename or path, exc.lineno or 1, 1)
    found = SourceLocation(path, 1, 1)
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename == path or filename.startswith("macros/") or filename.startswith("macros\\"):
            found = SourceLocation(filename, tb.tb_lineno, 1)
        tb = tb.tb_next
    return found


def read_macros(root: Path, files: list[Path]) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text(encoding="utf-8") for p in files}
