"""Benchmarks of load, validation, compilation and the CLI (issue 12, point 8); prints Markdown.

Run: .venv/bin/python bench/bench_compile.py [--repeat 5] [--simple 40] [--scale 5] [--sections aefbgh] [--no-query]
(`--sections bgh`: only the start-up figures of `kpiframe compile` and `kpiframe query`, and their floor.)

(a)  1,000 metrics over 50 datasets: load + validate + compile everything to target/, cold and warm.
(e)  MetricFlow #1557's shape: one dataset, N simple metrics, D derived metrics whose expressions each
     use all N, one published table of the D derived metrics by 20 dimensions, D = 20, 40, 80, 160:
     load + validate, compile of the table, SQL size, and how each grows when D doubles.
(f)  Three load + compile calls of the D = 160 shape in one process (a fresh one per round): does
     anything grow from call to call?
(b)  `kpiframe compile` of the example project (a copy of the repository's project files in a temp
     folder), cold (target/ wiped, the parse cache included) and warm; `kpiframe --help`.
(g)  `kpiframe query --metric leads --grain month` end to end on a DuckDB warehouse that `kpiframe demo
     --scale S` wrote and `kpiframe build` built (S = 5: about 1M web sessions): the same request again
     (its SQL replayed from target/query_cache/), with --no-cache (the project loaded and compiled), and
     as a first request (the query cache wiped); and, in another process that does what the full path
     does, its phases: the imports, loading the project, the query, the output.

Every figure is a median over `--repeat` runs with its range; CPU times (time.process_time) are given
beside wall times because the machine may be shared, and each section prints the load average, the CPU
the machine's processes used and the host stole meanwhile, and the time of a fixed pure-Python loop
(a virtual CPU's speed varies with the host's other guests, which the load average cannot show). *GC* is
the time CPython's cyclic garbage collector ran inside the measured step. Every subprocess imports one
snapshot of kpiframe/ taken at the start (like bench_build.py), so all runs measure the same code.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench_build import snapshot_code  # bench/ is on sys.path when a script here runs

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_FILES = ("kpi_project.yml", "definitions.lock", "models", "macros", "metrics")
DERIVED = (20, 40, 80, 160)
DIMENSIONS = 20


# --- projects -----------------------------------------------------------------------------------------
def generated_project(root: Path, datasets: int, metrics: int) -> Path:
    """A project of `datasets` models/datasets and `metrics` metrics (simple, ratio and derived)."""
    (root / "models").mkdir(parents=True)
    (root / "metrics").mkdir()
    (root / "kpi_project.yml").write_text("name: generated\n")
    per_dataset = metrics // datasets
    for d in range(datasets):
        (root / "models" / f"m{d}.sql").write_text(f"select * from {{{{ source('raw', 't{d}') }}}}")
        lines = [
            "datasets:",
            f"  - name: ds{d}",
            f"    model: m{d}",
            "    time: ts",
            "    entities:",
            f"      - {{name: e{d}, type: primary, expr: id}}",
            "    dimensions:",
        ]
        lines += [f"      - {{name: dim{k}}}" for k in range(5)]
        lines += ["    measures:"] + [f"      - {{name: ms{d}_{k}, agg: sum, expr: v{k}}}" for k in range(5)]
        lines.append("metrics:")
        for k in range(per_dataset):
            name = f"k{d}_{k}"
            if k < 5:
                lines.append(f"  - {{name: {name}, measure: ms{d}_{k}, owner: team, unit: count}}")
            elif k % 2:
                lines.append(f"  - {{name: {name}, type: ratio, numerator: k{d}_{k % 5}, denominator: k{d}_0}}")
            else:
                lines.append(f"  - {{name: {name}, type: derived, expr: 'k{d}_1 + k{d}_2 * k{d}_3'}}")
        lines += [
            "tables:",
            f"  - {{name: table{d}, grain: month, metrics: [k{d}_5, k{d}_6, k{d}_7], dimensions: [dim0]}}",
        ]
        (root / "metrics" / f"ds{d}.yml").write_text("\n".join(lines) + "\n")
    sources = ["sources:", "  - name: raw", "    schema: raw", "    tables:"]
    sources += [f"      - {{name: t{d}}}" for d in range(datasets)]
    (root / "models" / "sources.yml").write_text("\n".join(sources) + "\n")
    return root


def mf1557_project(root: Path, derived: int, simple: int, dims: int = DIMENSIONS) -> Path:
    """MetricFlow #1557's shape: `derived` metrics, each over all `simple` ones, in one table by `dims` dims.

    Every other simple metric has a filter; derived metric k is (s0 + ... + s<simple-1>) / s<k mod simple>.
    """
    (root / "models").mkdir(parents=True)
    (root / "metrics").mkdir()
    (root / "kpi_project.yml").write_text("name: mf1557\n")
    (root / "models" / "facts.sql").write_text("select * from {{ source('raw', 'facts') }}")
    (root / "models" / "sources.yml").write_text("sources:\n  - {name: raw, schema: raw, tables: [{name: facts}]}\n")
    lines = ["datasets:", "  - name: facts", "    model: facts", "    time: ts", "    primary_entity: fact"]
    lines += ["    dimensions:"] + [f"      - {{name: d{k}}}" for k in range(dims)]
    lines += ["    measures:"] + [f"      - {{name: x{k}, agg: sum, expr: v{k % 10}}}" for k in range(simple)]
    lines.append("metrics:")
    for k in range(simple):
        condition = f", filter: \"d{k % dims} <> 'z'\"" if k % 2 else ""
        lines.append(f"  - {{name: s{k}, measure: x{k}{condition}}}")
    terms = " + ".join(f"s{j}" for j in range(simple))
    lines += [f"  - {{name: p{k}, type: derived, expr: '({terms}) / s{k % simple}'}}" for k in range(derived)]
    metrics = ", ".join(f"p{k}" for k in range(derived))
    dimensions = ", ".join(f"d{k}" for k in range(dims))
    lines += ["tables:", f"  - {{name: wide, grain: month, metrics: [{metrics}], dimensions: [{dimensions}]}}"]
    (root / "metrics" / "facts.yml").write_text("\n".join(lines) + "\n")
    return root


def example_copy(root: Path) -> Path:
    root.mkdir(parents=True)
    for name in EXAMPLE_FILES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, root / name)
        elif (REPO / name).exists():
            shutil.copy(REPO / name, root / name)
    return root


# --- measuring ----------------------------------------------------------------------------------------
class GcClock:
    """Seconds CPython's cyclic garbage collector has run since this clock was installed."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0
        gc.callbacks.append(self._tick)

    def _tick(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


GC_CLOCK: GcClock | None = None


def measure(action: Callable[[], Any]) -> tuple[dict[str, float], Any]:
    """Wall, CPU and GC seconds of one call, and its value."""
    gc_before = GC_CLOCK.seconds if GC_CLOCK else 0.0
    wall, cpu = time.perf_counter(), time.process_time()
    value = action()
    times = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
    times["gc"] = (GC_CLOCK.seconds if GC_CLOCK else 0.0) - gc_before
    return times, value


def spread(values: Sequence[float], digits: int = 3) -> str:
    """median (min–max)"""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def cpu_counters() -> tuple[float, float]:
    """CPU seconds of all processes since boot (user, nice, system, irq, softirq), and seconds stolen by the host."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    tick = os.sysconf("SC_CLK_TCK")
    return (fields[0] + fields[1] + fields[2] + fields[5] + fields[6]) / tick, fields[7] / tick


SECTION_START = (0.0, 0.0, 0.0)  # wall clock, busy CPU seconds, stolen seconds


def start_section() -> None:
    global SECTION_START
    SECTION_START = (time.perf_counter(), *cpu_counters())


def probe() -> float:
    """Seconds of a fixed pure-Python loop (median of 3): how fast this (shared, virtual) CPU runs right now."""
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        sum(range(10_000_000))
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def load_average() -> str:
    """The load average, and how busy the machine was since the section started (this benchmark included)."""
    one, five, fifteen = os.getloadavg()
    text = f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"
    text += f"; reference loop {probe():.3f} s"
    if Path("/proc/stat").exists():
        busy, stolen = cpu_counters()
        wall = time.perf_counter() - SECTION_START[0]
        text += (
            f"; in the section's {wall:.0f} s the machine's processes used {busy - SECTION_START[1]:.0f} CPU s "
            f"(this benchmark about {wall:.0f}: it runs on one core), the host stole {stolen - SECTION_START[2]:.1f} s"
        )
    return text


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=True, capture_output=True, text=True, env=env, cwd=cwd)


def timed_runs(args: list[str], env: dict[str, str], cwd: Path, repeat: int, before: Callable[[], None]) -> list[float]:
    seconds = []
    for _ in range(repeat):
        before()
        started = time.perf_counter()
        run(args, env, cwd)
        seconds.append(time.perf_counter() - started)
    return seconds


# --- workers (run in a fresh subprocess) --------------------------------------------------------------
def worker_repeat(project_dir: Path, calls: int) -> dict[str, Any]:
    """Project.load + compile of the published table, `calls` times in this process."""
    global GC_CLOCK
    GC_CLOCK = GcClock()
    from kpiframe.build.plan import table_query
    from kpiframe.project import Project

    results = []
    project = None
    for _ in range(calls):
        # the caller keeps the last project until the next one is loaded, as a loop over calls does
        times, project = measure(lambda: Project.load(project_dir))
        assert project is not None
        spec = project.graph.tables["wide"].spec
        compiled, _ = measure(lambda: table_query(project.layer, spec))  # type: ignore[union-attr]  # noqa: B023
        results.append({"load": times, "compile": compiled, "objects": len(gc.get_objects())})
    return {"calls": results}


def worker_phases(command: str, project_dir: Path) -> dict[str, float]:
    """What `kpiframe compile` or `kpiframe query --metric leads --grain month` does, phase by phase."""
    phases: dict[str, float] = {}
    started = time.perf_counter()
    import kpiframe.cli.main  # noqa: F401
    from kpiframe.project import Project

    if command == "query":
        import kpiframe.cli.output  # noqa: F401
        import kpiframe.engine.duckdb  # noqa: F401
    phases["imports"] = time.perf_counter() - started
    mark = time.perf_counter()
    project = Project.load(project_dir)
    phases["load"] = time.perf_counter() - mark
    mark = time.perf_counter()
    if command == "compile":
        project.compile("duckdb")
        phases["compile and write target/"] = time.perf_counter() - mark
    else:
        from kpiframe.cli.output import metric_formats, render

        result = project.query(metrics=["leads"], grain="month")
        phases["compile and run the query"] = time.perf_counter() - mark
        mark = time.perf_counter()
        render(result, "table", units=project.units(), formats=metric_formats(project.graph))
        phases["render the table"] = time.perf_counter() - mark
    phases["all of the above"] = time.perf_counter() - started
    return phases


def in_subprocess(env: dict[str, str], cwd: Path, *args: str) -> Any:
    done = run([sys.executable, __file__, "--worker", *args], env, cwd)
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- sections -----------------------------------------------------------------------------------------
def section_a(tmp: Path, repeat: int) -> list[str]:
    from kpiframe.project import Project

    root = generated_project(tmp / "gen", datasets=50, metrics=1000)
    # the first load parses every YAML file (cold); later ones reuse target/partial_parse (warm)
    cold, _ = measure(lambda: Project.load(root).compile())
    warm = [measure(lambda: Project.load(root).compile())[0]["wall"] for _ in range(repeat)]
    loads = [measure(lambda: Project.load(root))[0]["wall"] for _ in range(repeat)]
    return [
        f"(a) 1,000 metrics over 50 datasets: load+validate+compile all to target/ {cold['wall']:.3f} s cold "
        f"(every file parsed), {spread(warm)} s warm (parse cache); load+validate warm {spread(loads)} s "
        "(target < 1 s)"
    ]


def section_e(tmp: Path, repeat: int, simple: int) -> list[str]:
    start_section()
    from kpiframe.build.plan import table_query
    from kpiframe.project import Project

    rows = []
    medians: list[tuple[int, float, float, int]] = []
    for derived in DERIVED:
        root = mf1557_project(tmp / f"mf{derived}", derived, simple)
        project = Project.load(root)  # cold parse; the runs below reuse the parse cache
        loads, compiles = [], []
        sql = ""
        for _ in range(repeat):
            loads.append(measure(lambda: Project.load(root))[0])  # noqa: B023
            spec = project.graph.tables["wide"].spec
            times, tree = measure(lambda: table_query(project.layer, spec))  # noqa: B023
            compiles.append(times)
            sql = tree.sql(dialect="duckdb")
        rows.append(
            f"| {derived} | {spread([t['wall'] for t in loads])} | {spread([t['wall'] for t in compiles])} | "
            f"{spread([t['gc'] for t in compiles])} | {spread([t['cpu'] for t in compiles])} | {len(sql):,} |"
        )
        medians.append(
            (derived, median([t["wall"] for t in loads]), median([t["cpu"] - t["gc"] for t in compiles]), len(sql))
        )
    pairs = list(zip(medians, medians[1:], strict=False))
    return [
        f"(e) MetricFlow #1557 shape: {simple} simple metrics, D derived metrics each over all {simple}, one "
        f"table of the D derived metrics by {DIMENSIONS} dimensions; {load_average()}",
        "",
        "| D | load+validate s | compile s | of which GC s | compile CPU s | SQL characters |",
        "|---:|---|---|---|---|---:|",
        *rows,
        "",
        "(e) growth per doubling of D: SQL "
        + ", ".join(f"×{b[3] / a[3]:.2f}" for a, b in pairs)
        + "; compile CPU without GC "
        + ", ".join(f"×{b[2] / a[2]:.2f}" for a, b in pairs)
        + "; load+validate "
        + ", ".join(f"×{b[1] / a[1]:.2f}" for a, b in pairs)
        + " (×2 is linear)",
    ]


def section_f(tmp: Path, repeat: int, simple: int, env: dict[str, str]) -> list[str]:
    start_section()
    root = mf1557_project(tmp / "repeat", DERIVED[-1], simple)
    rounds = [in_subprocess(env, tmp, "repeat", str(root))["calls"] for _ in range(repeat)]
    lines = [
        f"(f) three Project.load + compile calls of the D = {DERIVED[-1]} shape in one process, {repeat} processes; "
        f"{load_average()}",
        "",
        "| call | load+validate s | of which GC s | compile s | of which GC s | objects tracked by GC after |",
        "|---:|---|---|---|---|---:|",
    ]
    for index in range(len(rounds[0])):
        calls = [r[index] for r in rounds]
        lines.append(
            f"| {index + 1} | {spread([c['load']['wall'] for c in calls])} | "
            f"{spread([c['load']['gc'] for c in calls])} | {spread([c['compile']['wall'] for c in calls])} | "
            f"{spread([c['compile']['gc'] for c in calls])} | {median([c['objects'] for c in calls]):,.0f} |"
        )
    return lines


def section_b(tmp: Path, repeat: int, env: dict[str, str]) -> list[str]:
    start_section()
    project = example_copy(tmp / "example")
    cli = [sys.executable, "-m", "kpiframe.cli.main_entry"]
    compile_args = [*cli, "compile", "--project-dir", str(project)]

    def wipe() -> None:
        shutil.rmtree(project / "target", ignore_errors=True)

    cold = timed_runs(compile_args, env, tmp, repeat, wipe)
    warm = timed_runs(compile_args, env, tmp, repeat, lambda: None)
    helps = timed_runs([*cli, "--help"], env, tmp, repeat, lambda: None)
    phases_cold, phases_warm = [], []
    for _ in range(repeat):
        wipe()
        phases_cold.append(in_subprocess(env, tmp, "phases", "compile", str(project)))
        phases_warm.append(in_subprocess(env, tmp, "phases", "compile", str(project)))
    bare = timed_runs([sys.executable, "-c", "pass"], env, tmp, repeat, lambda: None)
    lines = [
        f"(b) the example project, `kpiframe compile` (a fresh process each run); {load_average()}",
        "",
        "| | cold: target/ wiped | warm |",
        "|---|---|---|",
        f"| `kpiframe compile`, end to end s (target < 0.4 s cold) | {spread(cold)} | {spread(warm)} |",
    ]
    for phase in phases_cold[0]:
        lines.append(
            f"| in process: {phase} s | {spread([p[phase] for p in phases_cold])} | "
            f"{spread([p[phase] for p in phases_warm])} |"
        )
    lines += [
        f"| interpreter start (`python -c pass`) s | {spread(bare)} | |",
        "",
        f"(b) `kpiframe --help`: {spread(helps)} s (target < 0.5 s)",
    ]
    return lines


def section_g(tmp: Path, repeat: int, scale: float, env: dict[str, str]) -> list[str]:
    start_section()
    import duckdb

    project = example_copy(tmp / "query")
    cli = [sys.executable, "-m", "kpiframe.cli.main_entry"]
    started = time.perf_counter()
    run([*cli, "demo", "--scale", str(scale), "--project-dir", str(project)], env, tmp)
    run([*cli, "build", "--project-dir", str(project)], env, tmp)
    setup = time.perf_counter() - started
    with duckdb.connect(str(project / "warehouse.duckdb"), read_only=True) as con:
        row = con.execute("select count(*) from raw.web_sessions").fetchone()
    sessions = int(row[0]) if row else 0
    query = [*cli, "query", "--metric", "leads", "--grain", "month", "--project-dir", str(project)]
    run(query, env, tmp)  # keeps the request's SQL (target/query_cache/) and warms the OS file cache
    end_to_end = timed_runs(query, env, tmp, repeat, lambda: None)
    full = timed_runs([*query, "--no-cache"], env, tmp, repeat, lambda: None)

    def wipe_query_cache() -> None:
        shutil.rmtree(project / "target" / "query_cache", ignore_errors=True)

    first = timed_runs(query, env, tmp, repeat, wipe_query_cache)
    phases = [in_subprocess(env, tmp, "phases", "query", str(project)) for _ in range(repeat)]
    modules = "kpiframe.cli.main, kpiframe.project, kpiframe.engine.duckdb, kpiframe.cli.output"
    imports = timed_runs([sys.executable, "-c", f"import {modules}"], env, tmp, repeat, lambda: None)
    bare = timed_runs([sys.executable, "-c", "pass"], env, tmp, repeat, lambda: None)
    lines = [
        f"(g) `kpiframe query --metric leads --grain month` on `kpiframe demo --scale {scale:g}` "
        f"({sessions:,} web sessions; demo and build took {setup:.1f} s); {load_average()}",
        "",
        "| | s |",
        "|---|---|",
        f"| end to end, the same request again: its SQL replayed (target < 0.35 s) | {spread(end_to_end)} |",
        f"| end to end, `--no-cache`: load and compile the project | {spread(full)} |",
        f"| end to end, a first request (target/query_cache/ wiped; the parse cache kept) | {spread(first)} |",
        f"| interpreter start (`python -c pass`) | {spread(bare)} |",
        f"| `python -c 'import {modules}'`, interpreter included | {spread(imports)} |",
    ]
    for phase in phases[0]:
        lines.append(f"| in process: {phase} | {spread([p[phase] for p in phases])} |")
    return lines


FLOOR_STEPS = [  # (label, code): each a fresh interpreter; each step includes the ones above it
    ("the interpreter (`python -c pass`)", "pass"),
    ("+ click (the CLI)", "import click"),
    (
        "+ sqlglot, parsing and rendering one statement for DuckDB (loads its DuckDB dialect)",
        "import click, sqlglot; sqlglot.parse_one('select 1 as x', read='duckdb').sql('duckdb')",
    ),
    (
        "+ duckdb, running that statement",
        "import click, sqlglot, duckdb; duckdb.connect().execute("
        "sqlglot.parse_one('select 1 as x', read='duckdb').sql('duckdb')).fetchall()",
    ),
]


def section_h(tmp: Path, repeat: int, env: dict[str, str]) -> list[str]:
    """What the start-up targets leave for kpiframe: the dependencies a compile or a query cannot do without,
    timed alone, before any kpiframe module is imported."""
    start_section()
    lines = [
        f"(h) the floor under (b) and (g): the dependencies alone, a fresh process each run; {load_average()}",
        "",
        "| step | s |",
        "|---|---|",
    ]
    for label, code in FLOOR_STEPS:
        seconds = timed_runs([sys.executable, "-c", code], env, tmp, repeat, lambda: None)
        lines.append(f"| {label} | {spread(seconds)} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (default 5)")
    parser.add_argument("--simple", type=int, default=40, help="simple metrics of the #1557 shape (default 40)")
    parser.add_argument("--scale", type=float, default=5.0, help="demo scale of (g): 5 is about 1M web sessions")
    parser.add_argument("--no-query", action="store_true", help="skip (g), which generates and builds demo data")
    parser.add_argument("--sections", default="aefbgh", help="which sections to run, in this order (default aefbgh)")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        if args.worker[0] == "repeat":
            result: Any = worker_repeat(Path(args.worker[1]), 3)
        else:
            result = worker_phases(args.worker[1], Path(args.worker[2]))
        print(json.dumps(result))
        return

    global GC_CLOCK
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        env, digest = snapshot_code(tmp)
        sys.path.insert(0, str(tmp / "src"))  # this process measures the same snapshot
        GC_CLOCK = GcClock()
        from kpiframe.load.yaml_parse import libyaml_in_use

        lines = [
            f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()}, "
            f"{os.cpu_count()} cores; kpiframe/ snapshot sha256 {digest}; YAML read by {libyaml_in_use()}; "
            f"{args.repeat} runs per figure, median (min–max)",
        ]
        sections: dict[str, Callable[[], list[str]]] = {
            "a": lambda: section_a(tmp, args.repeat),
            "e": lambda: section_e(tmp, args.repeat, args.simple),
            "f": lambda: section_f(tmp, args.repeat, args.simple, env),
            "b": lambda: section_b(tmp, args.repeat, env),
            "g": lambda: section_g(tmp, args.repeat, args.scale, env),
            "h": lambda: section_h(tmp, args.repeat, env),
        }
        for key in args.sections:
            if key == "g" and args.no_query:
                continue
            lines += ["", *sections[key]()]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
