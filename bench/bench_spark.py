"""Benchmark of the example's `kpiframe build` on Spark local[2] against DuckDB (issue 15, point 6); prints Markdown.

Run: .venv/bin/python bench/bench_spark.py [--repeat 3] [--scales 5,50] [--master 'local[2]'] [--data DIR]

For each demo scale (S = 5: about 1M web sessions, S = 2.5: about 0.5M) two copies of the example project
get the same demo data (`kpiframe demo --seed 3 --scale S`: generated in DuckDB; on Spark generated in DuckDB
in memory and loaded through Parquet, same seed, so the same rows), then `kpiframe build` runs `--repeat`
times in each, a cold process every time (Spark's start-up, about 10 s, is in every Spark figure; it is
measured on its own too). Every subprocess imports one snapshot of kpiframe/ taken at the start. Progress
goes to stderr, the Markdown to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_build import snapshot_code  # bench/ is on sys.path when a script here runs
from bench_compile import EXAMPLE_FILES, REPO, cpu_counters, median, spread

SEED = "3"
START_SPARK = (
    "import sys; from kpiframe.engine import connect; from kpiframe.project import Project; "
    "connect(Project.load(sys.argv[1], warehouse=sys.argv[2]).warehouse_spec)"  # touches the metastore
)


def example(root: Path) -> Path:
    root.mkdir(parents=True)
    for item in EXAMPLE_FILES:
        source = REPO / item
        (shutil.copytree if source.is_dir() else shutil.copy)(source, root / item)
    return root


def kpiframe(project: Path, env: dict[str, str], *args: str) -> float:
    """Seconds of one `kpiframe <args>` in a cold process."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "kpiframe.cli.main_entry", *args, "--project-dir", str(project)],
        capture_output=True,
        text=True,
        env=env,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"kpiframe {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    print(f"  kpiframe {' '.join(args)}: {seconds:.1f} s", file=sys.stderr, flush=True)
    return seconds


def spark_start(project: Path, env: dict[str, str], warehouse: str) -> float:
    """Seconds of a process that only starts Spark and opens the metastore (what every Spark command pays)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", START_SPARK, str(project), warehouse], check=True, env=env)
    return time.perf_counter() - started


class Busy:
    """Load average, and the CPU the machine's processes used meanwhile (this benchmark included)."""

    def __init__(self) -> None:
        self.wall, (self.cpu, self.stolen) = time.perf_counter(), cpu_counters()

    def __str__(self) -> str:
        one, five, fifteen = os.getloadavg()
        busy, stolen = cpu_counters()
        wall = time.perf_counter() - self.wall
        return (
            f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores; in the scale's "
            f"{wall:.0f} s the machine's processes used {busy - self.cpu:.0f} CPU s "
            f"of {wall * (os.cpu_count() or 1):.0f} available, the host stole {stolen - self.stolen:.1f} s"
        )


def prepare(
    on_duckdb: Path, on_spark: Path, env: dict[str, str], scale: float, warehouse: str
) -> tuple[float, float, str]:
    """Copy the example twice and load the demo data into each, or reuse the copies an earlier run with the
    same --data folder made (the demo at scale 50 takes many minutes on Spark). The demo seconds, and a
    note when they come from that earlier run."""
    done = on_spark.parent / f"demo-{scale}.json"
    if done.is_file():
        earlier = json.loads(done.read_text())
        return earlier["duckdb"], earlier["spark"], f"; timed when an earlier run made this data, {earlier['load']}"
    for folder in (on_duckdb, on_spark):
        shutil.rmtree(folder, ignore_errors=True)
    example(on_duckdb)
    example(on_spark)
    busy = Busy()
    demo = ["demo", "--seed", SEED, "--scale", str(scale)]
    seconds = {
        "duckdb": kpiframe(on_duckdb, env, *demo),
        "spark": kpiframe(on_spark, env, *demo, "--warehouse", warehouse),
    }
    done.write_text(json.dumps({**seconds, "load": str(busy)}))
    return seconds["duckdb"], seconds["spark"], ""


def one_scale(
    tmp: Path, env: dict[str, str], scale: float, repeat: int, warehouse: str
) -> tuple[list[str], float, float]:
    on_duckdb, on_spark = tmp / f"duckdb-{scale}", tmp / f"spark-{scale}"
    demo_duckdb, demo_spark, prepared = prepare(on_duckdb, on_spark, env, scale, warehouse)
    busy = Busy()
    duckdb_builds = [kpiframe(on_duckdb, env, "build") for _ in range(repeat)]
    spark_builds = [kpiframe(on_spark, env, "build", "--warehouse", warehouse) for _ in range(repeat)]
    start = spark_start(on_spark, env, warehouse)
    size = (on_duckdb / "warehouse.duckdb").stat().st_size
    lines = [
        f"### Scale {scale} (about {scale * 200_000 / 1e6:.1f}M web sessions; warehouse.duckdb {size / 1e6:.0f} MB)",
        "",
        "| | DuckDB | Spark " + warehouse + " | Spark / DuckDB |",
        "|---|---|---|---|",
        f"| `kpiframe demo` (once{prepared}) | {demo_duckdb:.1f} | {demo_spark:.1f} | {demo_spark / demo_duckdb:.1f} |",
        f"| `kpiframe build`, s ({repeat} run{'s' if repeat > 1 else ''}) | {spread(duckdb_builds, 1)} | "
        f"{spread(spark_builds, 1)} | "
        f"{median(spark_builds) / median(duckdb_builds):.1f} |",
        "",
        f"- starting Spark and its metastore alone (in every Spark figure above): {start:.1f} s",
        f"- {busy}",
        "",
    ]
    return lines, median(duckdb_builds), median(spark_builds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scales", default="2.5,5")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--data", type=Path, help="keep the demo projects here and reuse them in the next run")
    args = parser.parse_args()
    scales = [float(s) for s in args.scales.split(",")]
    warehouse = f"spark:{args.master}"
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        env, digest = snapshot_code(tmp)
        data = args.data.resolve() if args.data else tmp
        data.mkdir(parents=True, exist_ok=True)
        lines = [
            f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}. "
            f"Command: `.venv/bin/python bench/bench_spark.py --repeat {args.repeat} --scales {args.scales} "
            f"--master '{args.master}'` (kpiframe/ snapshot {digest})",
            "",
        ]
        medians = {}
        for scale in scales:
            section, duck, spark = one_scale(data, env, scale, args.repeat, warehouse)
            lines += section
            medians[scale] = (duck, spark)
            print("\n".join(section), file=sys.stderr, flush=True)
        if len(scales) > 1:
            low, high = scales[0], scales[-1]
            grow = [medians[high][i] / medians[low][i] for i in (0, 1)]
            lines.append(
                f"Scale {low} -> {high} ({high / low:.0f}x the rows): "
                f"DuckDB's build {grow[0]:.2f}x, Spark's {grow[1]:.2f}x."
            )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
