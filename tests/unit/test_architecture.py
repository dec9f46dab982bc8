"""The shape of the code: no import cycle, load stages that never reach ahead, frozen stage outputs.

The import graph is read from the source with `ast` (every import, also those inside functions;
only `if TYPE_CHECKING:` blocks are left out, as they never run), so a cycle hidden behind a late
import fails here just like one at the top of a file.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

from kpiframe.load.loaded import LoadedProject
from kpiframe.project import Project
from tests.conftest import copy_example

PACKAGE = Path(__file__).resolve().parents[2] / "kpiframe"
REPO = PACKAGE.parent

# the load pipeline's stages in order (kpiframe/pipeline.py): none may import a later one
STAGES = [
    ("read", ["kpiframe.load.read"]),
    ("expand", ["kpiframe.semantic.definitions", "kpiframe.semantic.funnels"]),
    ("resolve", ["kpiframe.load.models", "kpiframe.semantic.layer"]),
    ("validate", ["kpiframe.semantic.rules", "kpiframe.kpi.model", "kpiframe.quality.contracts"]),
    ("plan", ["kpiframe.build.plan"]),
    ("pipeline", ["kpiframe.pipeline"]),
    ("facade", ["kpiframe.project"]),
    ("cli", ["kpiframe.cli.main"]),
]


def module_names() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for statement in node.body for inner in ast.walk(statement))
    return skipped


def _imported(module: str, node: ast.Import | ast.ImportFrom, modules: dict[str, Path]) -> set[str]:
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    if node.level:  # relative: from the module's package
        package = module.split(".") if modules[module].name == "__init__.py" else module.split(".")[:-1]
        base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    found = set()
    for alias in node.names:
        candidate = f"{base}.{alias.name}"
        found.add(candidate if candidate in modules else base)
    return {name for name in found if name in modules}


@functools.cache
def import_graph() -> dict[str, set[str]]:
    """kpiframe module -> the kpiframe modules it imports when it runs."""
    modules = module_names()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = _type_checking_nodes(tree)
        imports: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in skipped:
                imports |= _imported(name, node, modules)
        graph[name] = imports - {name}
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, pending = set(), [start]
    while pending:
        for nxt in graph[pending.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                pending.append(nxt)
    return seen


def test_the_import_graph_is_read_from_every_module():
    graph = import_graph()
    assert len(graph) > 80
    assert "kpiframe.semantic.layer" in graph["kpiframe.sql.metric_query"]  # a plain top-level import
    assert "kpiframe.project" in graph["kpiframe.cli.app"] or "kpiframe.project" in reachable(
        graph, "kpiframe.cli.main"
    )  # the CLI's late import of the facade counts


def test_no_module_of_kpiframe_imports_itself_through_others():
    sorter = TopologicalSorter(import_graph())
    try:
        sorter.prepare()
    except CycleError as error:
        pytest.fail(f"import cycle: {' -> '.join(error.args[1])}")


def test_a_cycle_would_be_found():
    graph = dict(import_graph())
    graph["kpiframe.load.read"] = graph["kpiframe.load.read"] | {"kpiframe.pipeline"}
    with pytest.raises(CycleError):
        TopologicalSorter(graph).prepare()


@pytest.mark.parametrize("index", range(len(STAGES) - 1), ids=[name for name, _ in STAGES[:-1]])
def test_no_load_stage_reaches_a_later_one(index):
    graph = import_graph()
    later = {module for _, modules in STAGES[index + 1 :] for module in modules}
    for module in STAGES[index][1]:
        ahead = reachable(graph, module) & later
        assert not ahead, f"{module} (stage {STAGES[index][0]}) imports later stage(s) {sorted(ahead)}"


def test_importing_the_reading_stage_loads_nothing_after_it():
    """The same, as Python sees it: a fresh interpreter importing stage 1 has none of the later ones."""
    later = [module for _, modules in STAGES[1:] for module in modules]
    code = (
        "import sys, kpiframe.load.read\n"
        f"print(sorted(m for m in {later!r} if m in sys.modules))\n"
        "print(sorted(m for m in sys.modules if m.startswith(('kpiframe.build', 'kpiframe.cli', 'kpiframe.kpi'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.splitlines() == ["[]", "[]"]


def test_the_engine_knows_nothing_of_the_stages_above_it():
    graph = import_graph()
    above = ("kpiframe.load.loaded", "kpiframe.semantic", "kpiframe.build", "kpiframe.pipeline", "kpiframe.project")
    for module in [m for m in graph if m.startswith("kpiframe.engine")]:
        bad = sorted(m for m in reachable(graph, module) if m.startswith(above))
        assert not bad, f"{module} imports {bad}"


def test_what_loading_returns_cannot_be_changed_afterwards():
    project = Project.load(REPO)
    loaded = project.graph
    assert isinstance(loaded, LoadedProject)
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.order = ()  # type: ignore[misc]
    model = loaded.models[loaded.order[0]]
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.tree = None  # type: ignore[misc]
    # every published table was planned by the load, so compiling reads it instead of compiling again
    assert set(loaded.table_queries) == set(loaded.tables)
    assert loaded.kpi is not None and list(loaded.kpi.trees) == ["marketing_pipeline"]


def _example_with(tmp_path: Path, old: str, new: str) -> Path:
    copy_example(tmp_path)
    tree = tmp_path / "metrics" / "kpi_tree.yml"
    text = tree.read_text(encoding="utf-8")
    assert old in text
    tree.write_text(text.replace(old, new), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("command", [["compile"], ["test", "--metrics-only"]])
def test_a_tree_formula_naming_an_unknown_metric_stops_compile_and_test(tmp_path, command):
    """KPI trees are validated with everything else when the project loads, not only by `lint`."""
    from click.testing import CliRunner

    from kpiframe.cli import main

    root = _example_with(tmp_path, "{metric: pipeline, expr:", "{metric: pipelin, expr:")
    result = CliRunner().invoke(main, [*command, "--project-dir", str(root)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    line = next(
        n for n, text in enumerate((root / "metrics/kpi_tree.yml").read_text().splitlines(), 1) if "pipelin," in text
    )
    assert f"metrics/kpi_tree.yml:{line}:" in lines[0] and "error[KF804]: unknown metric 'pipelin'" in lines[0]
    assert "did you mean 'pipeline'?" in lines[0]
    # the broken formula is the one error: targets derived through it are not reported again
    assert lines[-1] == "1 error(s), 0 warning(s)"


def test_the_repository_never_points_outside_itself_for_its_specs() -> None:
    """A user's clone has only this repository: no file may send a reader to the team's shared specs."""
    listed = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    files = [REPO / name for name in listed.splitlines() if not name.startswith("tests/golden/")]
    assert len(files) > 100
    this_file = Path(__file__).resolve()
    pointing = [
        str(path.relative_to(REPO))
        for path in files
        if path.is_file()
        and path.resolve() != this_file
        and any(marker in path.read_text(encoding="utf-8", errors="ignore") for marker in ("../shared", "work/shared"))
    ]
    assert pointing == []


ENGINE_NAMES = {"duckdb", "postgres", "spark"}
ADAPTER_MODULES = {f"kpiframe.engine.{name}" for name in ENGINE_NAMES}


def _engine_names_used(tree: ast.Module) -> list[str]:
    """Each comparison with an engine's name, and each import of a concrete adapter, in `tree` (also those
    under TYPE_CHECKING: a type from a concrete adapter is knowing which engine runs)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for operand in [node.left, *node.comparators]:
                values = operand.elts if isinstance(operand, (ast.Tuple, ast.List, ast.Set)) else [operand]
                named = [v.value for v in values if isinstance(v, ast.Constant) and v.value in ENGINE_NAMES]
                found += [f"line {node.lineno}: compares with {name!r}" for name in named]
        elif isinstance(node, ast.Import):
            found += [f"line {node.lineno}: imports {a.name}" for a in node.names if a.name in ADAPTER_MODULES]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            modules = {node.module or ""} | {f"{node.module}.{a.name}" for a in node.names}
            found += [f"line {node.lineno}: imports {m}" for m in sorted(modules & ADAPTER_MODULES)]
    return found


def test_nothing_outside_the_engine_package_knows_which_engine_runs():
    """The adapter boundary: above kpiframe/engine/, code asks the Warehouse what it can do, never which
    engine it is; adding an engine is one module there plus its tests (docs/architecture.md). No module is
    exempt: even `kpiframe demo` hands its rows to the adapter (`Warehouse.load_source`, `load_tables`)."""
    offenders = {
        name: used
        for name, path in module_names().items()
        if not name.startswith("kpiframe.engine.") and name != "kpiframe.engine"
        if (used := _engine_names_used(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert offenders == {}


def test_the_boundary_check_sees_a_comparison_and_an_import():
    code = "import kpiframe.engine.spark\nfrom kpiframe.engine.duckdb import X\nif kind in ('a', 'postgres'): pass\n"
    assert _engine_names_used(ast.parse(code)) == [
        "line 1: imports kpiframe.engine.spark",
        "line 2: imports kpiframe.engine.duckdb",
        "line 3: compares with 'postgres'",
    ]
