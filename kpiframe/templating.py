"""Sandboxed Jinja for models: `ref`, `source`, `var` and the project's macros.

A model file may come from a pull request, so templates run in jinja2's immutable sandbox: they
cannot reach Python internals or mutate objects. `ref` and `source` render to placeholder table names
that the compiler swaps for real, dialect-quoted tables in the sqlglot tree, never by pasting text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from kpiframe.errors import Diagnostic, SourceLocation

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
        self.env = ImmutableSandboxedEnvironment(
            loader=jinja2.DictLoader(macro_files), undefined=jinja2.StrictUndefined, autoescape=False)
        self.variables = variables
        self.macro_problems: list[Diagnostic] = []
        for path in sorted(macro_files):
            try:
                module = self.env.get_template(path).module
            except (jinja2.TemplateError, SecurityError) as exc:
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
            raise TemplateFailure(Diagnostic(
                "KF303", f"unknown var '{name}'", SourceLocation(path, 1, 1),
                hint="declare it under vars: in kpi_project.yml or pass a default: var('name', 0)"))

        try:
            template = self.env.from_string(text)
            result.sql = template.render(ref=ref, source=source, var=var)
        except TemplateFailure:
            raise
        except (jinja2.TemplateError, SecurityError) as exc:
            raise TemplateFailure(_template_diagnostic(exc, path)) from None
        return result


def _template_diagnostic(exc: Exception, path: str) -> Diagnostic:
    line = getattr(exc, "lineno", None) or 1
    if isinstance(exc, SecurityError):
        return Diagnostic("KF302", f"template tried something the sandbox forbids: {exc}",
                          SourceLocation(path, line, 1),
                          hint="models may only use ref(), source(), var() and macros")
    return Diagnostic("KF301", f"template error: {getattr(exc, 'message', None) or exc}",
                      SourceLocation(path, line, 1))


def read_macros(root: Path, files: list[Path]) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text(encoding="utf-8") for p in files}
