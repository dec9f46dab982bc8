"""Errors users see: each carries a stable code, a location and a hint, printed like a compiler's."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class SourceLocation:
    """A position in a project file; line and column are 1-based, 0 when unknown."""

    path: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.path}:{self.line}:{self.column or 1}"
        return self.path


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a project, with a stable code such as KF104."""

    code: str
    message: str
    location: SourceLocation | None = None
    hint: str | None = None
    severity: Severity = Severity.ERROR

    def render(self) -> str:
        where = f"{self.location}: " if self.location else ""
        text = f"{where}{self.severity.value}[{self.code}]: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class Problems(list[Diagnostic]):
    """The diagnostics a stage or a rule found, with shorthands to add one."""

    def error(self, code: str, message: str, location: SourceLocation | None, hint: str | None = None) -> None:
        self.append(Diagnostic(code, message, location, hint, Severity.ERROR))

    def warn(self, code: str, message: str, location: SourceLocation | None, hint: str | None = None) -> None:
        self.append(Diagnostic(code, message, location, hint, Severity.WARNING))

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self)


class KpiframeError(Exception):
    """Base of every error meant for a user; `exit_code` follows the CLI's contract."""

    exit_code = 1

    def __init__(
        self, message: str, *, code: str = "KF000", hint: str | None = None, location: SourceLocation | None = None
    ) -> None:
        super().__init__(message)
        self.diagnostic = Diagnostic(code=code, message=message, location=location, hint=hint)

    def render(self) -> str:
        return self.diagnostic.render()


class ProjectInvalid(KpiframeError):
    """Raised after validation collected one or more errors."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        errors = [d for d in self.diagnostics if d.severity is Severity.ERROR]
        super().__init__(f"{len(errors)} error(s) in the project", code="KF001")

    def render(self) -> str:
        lines = [d.render() for d in self.diagnostics]
        errors = sum(d.severity is Severity.ERROR for d in self.diagnostics)
        lines.append(f"{errors} error(s), {len(self.diagnostics) - errors} warning(s)")
        return "\n".join(lines)


class QueryError(KpiframeError):
    """A metric request that cannot be answered as asked (unknown metric, dimension not applicable...)."""


class WarehouseError(KpiframeError):
    """The warehouse refused or failed a statement."""


class LockTimedOut(WarehouseError):
    """PostgreSQL gave up waiting for a lock (SQLSTATE 55P03, lock_timeout)."""


class DependentObjects(WarehouseError):
    """PostgreSQL refused a DROP because other objects depend on it (SQLSTATE 2BP01)."""


class ExpectationsFailed(KpiframeError):
    exit_code = 3


def relative(path: Path, root: Path) -> str:
    """Paths in messages are relative to the project so they read the same on every machine."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
