"""Benchmarks (a), (a2) and (b): load+validate+compile speed, and CLI start-up.

Run: .venv/bin/python bench/bench_compile.py  (prints a Markdown section for docs/benchmarks.md)
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


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


def wide_table_project(root: Path, derived: int, simples_per_derived: int, dims: int) -> Path:
    """One dataset, many simple metrics, `derived` derived metrics over them, one table by `dims` dims."""
    (root / "models").mkdir(parents=True)
    (root / "metrics").mkdir()
    (root / "kpi_project.yml").write_text("name: wide\n")
    (root / "models" / "facts.sql").write_text("select * from {{ source('raw', 'facts') }}")
    (root / "models" / "sources.yml").write_text("sources:\n  - {name: raw, schema: raw, tables: [{name: facts}]}\n")
    simple_count = 200
    lines = [
        "datasets:",
        "  - name: facts",
        "    model: facts",
        "    time: ts",
        "    primary_entity: fact",
        "    dimensions:",
    ] + [f"      - {{name: d{k}}}" for k in range(dims)]
    lines += ["    measures:"] + [f"      - {{name: x{k}, agg: sum, expr: v{k % 10}}}" for k in range(simple_count)]
    lines.append("metrics:")
    lines += [f"  - {{name: s{k}, measure: x{k}, filter: \"d{k % dims} <> 'z'\"}}" for k in range(simple_count)]
    for k in range(derived):
        terms = " + ".join(f"s{(k * 7 + j) % simple_count}" for j in range(simples_per_derived))
        lines.append(f"  - {{name: p{k}, type: derived, expr: '({terms}) / s{k % simple_count}'}}")
    dim_list = ", ".join(f"d{k}" for k in range(dims))
    metric_list = ", ".join(f"p{k}" for k in range(derived))
    lines += ["tables:", f"  - {{name: wide, grain: month, metrics: [{metric_list}], dimensions: [{dim_list}]}}"]
    (root / "metrics" / "facts.yml").write_text("\n".join(lines) + "\n")
    return root


def timed(action) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    value = action()
    return time.perf_counter() - started, value


def best_of(runs: int, action) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    results = [timed(action) for _ in range(runs)]
    return min(r[0] for r in results), results[0][1]


def main() -> None:
    from kpiframe.build.plan import table_query
    from kpiframe.project import Project

    lines = [
        f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()}, "
        f"{__import__('os').cpu_count()} cores",
        "",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        root = generated_project(Path(tmp) / "gen", datasets=50, metrics=1000)
        # the first load parses every YAML file (cold); later ones reuse target/partial_parse (warm)
        cold_seconds, _ = timed(lambda: (lambda p: p.compile())(Project.load(root)))
        seconds, project = best_of(3, lambda: Project.load(root))
        compile_seconds, _ = best_of(3, lambda: (lambda p: p.compile())(Project.load(root)))
        lines.append(
            f"(a) 1,000 metrics over 50 datasets: load+validate+compile all to target/ {cold_seconds:.3f} s "
            f"cold (every file parsed), {compile_seconds:.3f} s warm (unchanged files from the parse "
            f"cache); load+validate warm {seconds:.3f} s (target < 1 s)"
        )
        sizes = []
        for derived in (20, 40, 80):
            wide = wide_table_project(Path(tmp) / f"wide{derived}", derived, 10, 20)
            load_s, wide_project = best_of(3, lambda: Project.load(wide))  # noqa: B023
            spec = wide_project.graph.tables["wide"].spec
            compile_s, tree = best_of(3, lambda: table_query(wide_project.layer, spec))  # noqa: B023
            sql = tree.sql(dialect="duckdb")
            sizes.append((derived, len(sql)))
            lines.append(
                f"(a2) table of {derived} derived metrics (10 simple each, 200 simple in all) by 20 "
                f"dimensions: load+validate {load_s:.3f} s, compile {compile_s:.3f} s, "
                f"SQL {len(sql):,} characters"
            )
        growth = [f"{b[1] / a[1]:.2f}x for {b[0] / a[0]:.0f}x metrics" for a, b in zip(sizes, sizes[1:], strict=False)]
        lines.append(f"(a2) SQL size growth: {', '.join(growth)} (linear)")
    shutil.rmtree(REPO / "target" / "partial_parse", ignore_errors=True)
    cold, _ = timed(
        lambda: subprocess.run(
            [sys.executable, "-m", "kpiframe.cli.main_entry", "compile", "--project-dir", str(REPO)],
            check=True,
            capture_output=True,
        )
    )
    lines.append(f"(b) `kpiframe compile` on the example project, cold parse cache: {cold:.3f} s")
    for args in (["--help"], ["compile", "--project-dir", str(REPO)]):
        exe = [sys.executable, "-m", "kpiframe.cli.main_entry", *args]
        seconds, _ = best_of(5, lambda: subprocess.run(exe, check=True, capture_output=True))  # noqa: B023
        lines.append(
            f"(b) `kpiframe {' '.join(args[:1])}` on the example project: {seconds:.3f} s "
            "(best of 5, target < 0.5 s; great-expectations is not imported)"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
