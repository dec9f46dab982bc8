"""Benchmark of `kpiframe docs generate` (issue 14): time and page weight; prints Markdown.

Run: .venv/bin/python bench/bench_docs.py [--repeat 5] [--scale 0.5]

(a)  The generated 1,000-metric project (50 datasets, as in bench_compile.py), never built: the whole
     command, cold process, target/docs wiped before each run. Target: under 5 s.
(b)  The example project on demo data (`kpiframe demo --scale S`, then `kpiframe build`): the whole
     command with every data page (KPI tree, trends, funnel, definitions, runs).
Page weight: bytes of the site, of its largest page, of the pages without the shared assets, and of
plotly.min.js (loaded only by pages with a chart, once per browser cache).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_build import snapshot_code  # bench/ is on sys.path when a script here runs
from bench_compile import EXAMPLE_FILES, REPO, generated_project, load_average, spread, start_section


def timed_generate(project: Path, env: dict[str, str], repeat: int) -> list[float]:
    seconds = []
    for _ in range(repeat):
        shutil.rmtree(project / "target", ignore_errors=True)
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "kpiframe.cli.main_entry", "docs", "generate", "--project-dir", str(project)],
            check=True,
            capture_output=True,
            env=env,
        )
        seconds.append(time.perf_counter() - started)
    return seconds


def weight(site: Path) -> list[str]:
    pages = sorted(site.rglob("*.html"), key=lambda p: p.stat().st_size)
    total = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
    html = sum(p.stat().st_size for p in pages)
    plotly = (site / "assets" / "plotly.min.js").stat().st_size
    largest = pages[-1]
    return [
        f"- {len(pages)} pages; the whole site {total / 1e6:.1f} MB, of which plotly.min.js {plotly / 1e6:.1f} MB",
        f"- HTML alone {html / 1e6:.2f} MB; median page {pages[len(pages) // 2].stat().st_size / 1e3:.0f} kB; "
        f"largest {largest.relative_to(site)} {largest.stat().st_size / 1e3:.0f} kB",
        f"- site.json {(site / 'site.json').stat().st_size / 1e3:.0f} kB",
    ]


def section_a(tmp: Path, env: dict[str, str], repeat: int) -> list[str]:
    start_section()
    project = generated_project(tmp / "generated", datasets=50, metrics=1000)
    seconds = timed_generate(project, env, repeat)
    return [
        "## (a) 1,000 metrics, 50 datasets, not built",
        "",
        f"- `kpiframe docs generate`, cold process: {spread(seconds, 2)} s (median, min–max, {repeat} runs); "
        "target < 5 s",
        *weight(project / "target" / "docs"),
        f"- {load_average()}",
        "",
    ]


def section_b(tmp: Path, env: dict[str, str], repeat: int, scale: float) -> list[str]:
    start_section()
    project = tmp / "example"
    project.mkdir()
    for item in EXAMPLE_FILES:
        source = REPO / item
        (shutil.copytree if source.is_dir() else shutil.copy)(source, project / item)
    for command in (["demo", "--scale", str(scale)], ["build"]):
        subprocess.run(
            [sys.executable, "-m", "kpiframe.cli.main_entry", *command, "--project-dir", str(project)],
            check=True,
            capture_output=True,
            env=env,
        )
    seconds = timed_generate(project, env, repeat)
    return [
        f"## (b) The example project, built on demo data at scale {scale}",
        "",
        f"- `kpiframe docs generate`, cold process: {spread(seconds, 2)} s (median, min–max, {repeat} runs)",
        *weight(project / "target" / "docs"),
        f"- {load_average()}",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--scale", type=float, default=0.5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        env, digest = snapshot_code(tmp)
        lines = [
            "# `kpiframe docs generate`",
            "",
            f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}. "
            f"Command: `.venv/bin/python bench/bench_docs.py --repeat {args.repeat} --scale {args.scale}` "
            f"(kpiframe/ snapshot {digest})",
            "",
        ]
        lines += section_a(tmp, env, args.repeat)
        lines += section_b(tmp, env, args.repeat, args.scale)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
