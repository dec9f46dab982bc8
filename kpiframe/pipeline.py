"""Loading a project: five stages, in this order, each taking the output of the one before.

    1. read      kpiframe.load.read        files -> ProjectFiles (specs checked, nothing resolved)
    2. expand    kpiframe.semantic         definitions and funnels -> generated models and datasets
    3. resolve   kpiframe.load.models      Jinja, SQL, ref()/source(), model order;
                 kpiframe.semantic.layer   datasets, measures, dimensions -> SemanticLayer
    4. validate  kpiframe.semantic.rules   rules over metrics and datasets;
                 kpiframe.kpi.model        KPI trees, targets, benchmarks, settings;
                 kpiframe.quality          expectations and the checks contracts imply
    5. plan      kpiframe.build.plan       each published table compiled to its SELECT

Every stage returns new values and the problems it found; nothing is changed after its stage. The
problems of all stages are reported together, so one run names every mistake; a stage whose input
is already wrong is skipped rather than run on half-valid data (validate needs a clean resolve,
plan a clean validate).
"""

from __future__ import annotations

from pathlib import Path

from sqlglot import exp

from kpiframe.build.plan import plan_tables
from kpiframe.errors import Problems, ProjectInvalid, Severity
from kpiframe.kpi.model import read_kpi
from kpiframe.load.loaded import LoadedProject
from kpiframe.load.models import resolve_models
from kpiframe.load.read import read_project
from kpiframe.quality.contracts import declared_expectations
from kpiframe.semantic.definitions import expand_definitions
from kpiframe.semantic.funnels import expand_funnels
from kpiframe.semantic.layer import SemanticLayer
from kpiframe.semantic.rules import check_rules


def load_project(root: Path) -> LoadedProject:
    """Read, expand, resolve, validate and plan the project under `root`.

    Raises ProjectInvalid with every error found; warnings are kept in `diagnostics`."""
    files, read_problems = read_project(root)
    found = Problems(read_problems)
    files, problems = expand_definitions(files)
    found += problems
    files, problems = expand_funnels(files)
    found += problems
    files, order, problems = resolve_models(files)
    found += problems
    layer = SemanticLayer(files)
    found += layer.problems
    found += check_rules(files, layer)
    expectations, problems = declared_expectations(files)
    found += problems
    kpi = None
    if not found.has_errors:
        kpi, problems = read_kpi(files, layer)
        found += problems
    table_queries: dict[str, exp.Query] = {}
    # Planning stays in every load, `kpiframe query` included: compiling a published table is the only
    # check that its metrics, dimensions and grain fit together (KF140), and every command refuses a
    # project with such a table. It costs ~10 ms for the example; compile and build reuse the trees.
    if not found.has_errors:
        table_queries, problems = plan_tables(files, layer)
        found += problems
    if found.has_errors:
        raise ProjectInvalid(found)
    return LoadedProject.of(
        files,
        order=order,
        layer=layer,
        kpi=kpi,
        expectations=expectations,
        table_queries=table_queries,
        diagnostics=tuple(d for d in found if d.severity is not Severity.ERROR),
    )
