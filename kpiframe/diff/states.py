"""Two states of one project: the working tree (or a ref) and a git ref, each loaded as a Project.

A ref's project is read with `git archive` into a temporary folder, from the same sub-folder of the
repository as the working project (`git rev-parse --show-prefix`), and loaded exactly as `kpiframe`
loads any project. Problems of git or of the project at the ref are compiler-style errors.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from tempfile import TemporaryDirectory

from kpiframe.build.plan import CompiledNode
from kpiframe.errors import Diagnostic, KpiframeError, ProjectInvalid, SourceLocation
from kpiframe.project import Project

DEFAULT_BRANCHES = ("main", "origin/main")


@dataclass
class ProjectState:
    """One side of a diff: where it comes from and the project loaded from there."""

    label: str  # what people read: "main (3f2a9c1)" or "working tree"
    ref: str | None  # None for the working tree
    commit: str | None
    project: Project
    nodes: list[CompiledNode]


class GitProblem(KpiframeError):
    """git could not answer what the diff needs (not a repository, unknown ref, ...)."""


class StateInvalid(ProjectInvalid):
    """The project at a git ref does not load: its diagnostics, each prefixed with the ref."""

    def __init__(self, ref: str, diagnostics: list[Diagnostic]) -> None:
        super().__init__([_at_ref(ref, d) for d in diagnostics])
        self.ref = ref

    def render(self) -> str:
        return (
            f"error[KF955]: the project at '{self.ref}' does not load, so there is nothing to compare with\n"
            f"  hint: fix it on that ref or compare with another one (--base REF)\n{super().render()}"
        )


def _at_ref(ref: str, diagnostic: Diagnostic) -> Diagnostic:
    location = diagnostic.location or SourceLocation("")
    where = f"{ref}:{location.path}" if location.path else ref
    return replace(diagnostic, location=SourceLocation(where, location.line, location.column))


def git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, timeout=120, check=False)
    except FileNotFoundError:
        raise GitProblem(
            "git is not installed or not on PATH",
            code="KF951",
            hint="kpiframe diff reads the other version of the project from git",
        ) from None
    except subprocess.TimeoutExpired:
        raise GitProblem(f"git {' '.join(args)} took too long", code="KF951") from None


def _text(done: subprocess.CompletedProcess[bytes]) -> str:
    return done.stdout.decode("utf-8", "replace").strip()


def _error(done: subprocess.CompletedProcess[bytes]) -> str:
    lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[-1].removeprefix("fatal: ") if lines else f"git exited with {done.returncode}"


def repository_prefix(root: Path) -> str:
    """The project's folder inside its git repository ('' at the top, else 'sub/dir/')."""
    done = git(root, "rev-parse", "--show-prefix")
    if done.returncode != 0:
        raise GitProblem(
            f"{root} is not inside a git repository",
            code="KF951",
            hint="kpiframe diff compares the project with a git ref: run it in a clone "
            "(`git init` and a first commit for a new project)",
        )
    return _text(done)


def resolve_commit(root: Path, ref: str) -> str:
    done = git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if done.returncode != 0 or not _text(done):
        raise GitProblem(
            f"unknown git ref '{ref}'",
            code="KF952",
            hint="name a branch, tag or commit; in CI fetch the base branch with its history "
            "(actions/checkout with fetch-depth: 0)",
        )
    return _text(done)


def default_base(root: Path) -> tuple[str, str]:
    """The merge base of HEAD with main (or origin/main), and how to name it: what a PR is reviewed against."""
    for branch in DEFAULT_BRANCHES:
        if git(root, "rev-parse", "--verify", "--quiet", f"{branch}^{{commit}}").returncode != 0:
            continue
        done = git(root, "merge-base", "HEAD", branch)
        if done.returncode == 0 and _text(done):
            return _text(done), f"merge base with {branch}"
        raise GitProblem(
            f"HEAD and {branch} have no common history",
            code="KF953",
            hint="pass --base REF to choose what to compare with",
        )
    raise GitProblem(
        "no branch 'main' (nor 'origin/main') to compare with",
        code="KF953",
        hint="pass --base REF, e.g. --base origin/master or --base HEAD~1",
    )


def _short(root: Path, commit: str) -> str:
    done = git(root, "rev-parse", "--short", commit)
    return _text(done) if done.returncode == 0 else commit[:7]


def load_working_tree(project_dir: Path, warehouse: str | None) -> ProjectState:
    project = Project.load(project_dir, warehouse=warehouse)
    return ProjectState("working tree", None, None, project, project.nodes())


@contextmanager
def state_at(
    project_dir: Path, ref: str, warehouse: str | None = None, name: str | None = None
) -> Iterator[ProjectState]:
    """The project as committed at `ref`, loaded from a temporary folder that lives as long as the block.

    `name` is how the ref is shown (default: the ref itself).
    """
    root = project_dir.resolve()
    prefix = repository_prefix(root)
    commit = resolve_commit(root, ref)
    name = name or ref
    tree = f"{commit}:{prefix}" if prefix else commit
    top = _text(git(root, "rev-parse", "--show-toplevel"))
    done = git(Path(top), "archive", "--format=tar", tree)
    if done.returncode != 0:
        raise GitProblem(
            f"there is no '{prefix.rstrip('/')}' folder at '{name}'",
            code="KF954",
            hint=f"git said: {_error(done)}; was the project moved or added after {name}?",
        )
    with TemporaryDirectory(prefix="kpiframe-diff-") as folder:
        _extract(done.stdout, Path(folder))
        if not (Path(folder) / "kpi_project.yml").is_file():
            raise GitProblem(
                f"there is no kpi_project.yml at '{name}'" + (f" in {prefix}" if prefix else ""),
                code="KF954",
                hint="the project did not exist yet there: compare with a later ref",
            )
        try:
            project = Project.load(Path(folder), warehouse=warehouse)
        except ProjectInvalid as exc:
            raise StateInvalid(name, exc.diagnostics) from None
        except KpiframeError as exc:
            raise StateInvalid(name, [exc.diagnostic]) from None
        yield ProjectState(f"{name} ({_short(root, commit)})", ref, commit, project, project.nodes())


def _extract(archive: bytes, folder: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(folder, filter="data")
        else:  # Python without extraction filters: git archive holds only the repository's own files
            tar.extractall(folder)
