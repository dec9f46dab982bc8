"""What running expectations must not do: import GX early, print, touch the network, write a gx/ folder.

Each case runs in a fresh interpreter, since the point is what a process looks like from outside.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GX_")}  # prove we set what GX reads
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_importing_and_parsing_do_not_import_great_expectations(tmp_path):
    done = run_python(
        """
        import sys
        import kpiframe.quality as quality
        from kpiframe.errors import SourceLocation
        quality.parse_expectations([{"not_null": "a"}, {"freshness": {"column": "t", "max_age_hours": 1}}],
                                   "model m", lambda path: SourceLocation("m.yml"))
        quality.render_results([])
        print(sorted(m for m in ("great_expectations", "sqlalchemy", "pandas") if m in sys.modules))
    """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_run_is_silent_offline_and_leaves_no_files(tmp_path):
    done = run_python(
        """
        import json, socket
        attempts = []

        def refuse(*args, **kwargs):
            attempts.append(repr(args[1:] or args)[:80])
            raise OSError("no network in this test")

        socket.socket.connect = socket.socket.connect_ex = refuse
        socket.getaddrinfo = refuse

        import duckdb
        from kpiframe.errors import SourceLocation
        from kpiframe.quality import parse_expectations, run_expectations

        con = duckdb.connect("warehouse.duckdb")
        con.execute("create schema raw")
        con.execute("create table raw.leads as select i as id, case when i % 3 = 0 then null else 'a@b' end "
                    "as email, now() as created_at from range(1000) t(i)")
        items = [{"not_null": "email"}, {"unique": "id"},
                 {"matches_regex": {"column": "email", "regex": "@"}},
                 {"freshness": {"column": "created_at", "max_age_hours": 1}}, {"not_null": "missing"}]
        where = SourceLocation("models/sources.yml")
        expectations, problems = parse_expectations(items, "source raw.leads", lambda path: where)
        results = run_expectations(con, "warehouse.duckdb", "raw", "leads", expectations)
        con.close()
        with open("outcome.json", "w") as out:
            json.dump({"attempts": attempts, "status": [r.status for r in results]}, out)
    """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # no progress bars, no GX prints
    assert done.stderr == ""  # no warnings, no GX logging, no "nanobind: leaked" at exit
    outcome = json.loads((tmp_path / "outcome.json").read_text())
    assert outcome["attempts"] == []
    assert outcome["status"] == ["fail", "pass", "pass", "pass", "error"]
    left = {p.name for p in tmp_path.iterdir()} - {"warehouse.duckdb", "warehouse.duckdb.wal", "outcome.json"}
    assert left == set()  # in particular no gx/ folder


def test_gx_is_imported_without_charts_and_statistics_which_still_load_when_used(tmp_path):
    done = run_python(
        """
        import sys
        from kpiframe.quality.gx_runner import _context
        _context()
        loaded_by_gx = sorted(m for m in ("altair.vegalite", "scipy.stats._stats_py", "jsonschema.validators",
                                          "mistune.markdown") if m in sys.modules)
        # GX's KL-divergence expectation holds scipy.stats from its import: it must work when used
        from great_expectations.expectations.core import expect_column_kl_divergence_to_be_less_than as kl
        entropy = kl.stats.entropy([0.5, 0.5], [0.9, 0.1])
        import altair
        from scipy.stats.distributions import norm  # a submodule import loads its package for real
        import jsonschema, jsonschema.validators  # one copy of each module: the classes are the same
        same = jsonschema.validators.Draft7Validator is jsonschema.Draft7Validator and kl.stats.norm is norm
        print(loaded_by_gx, round(entropy, 6), altair.Chart.__name__, norm.cdf(0.0), same)
    """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "0.510826", "Chart", "0.5", "True"]


def test_gx_is_imported_without_pyspark_which_stays_importable(tmp_path):
    """GX imports pyspark (and Spark Connect's gRPC) whenever it is installed, for a data source kpiframe
    never uses: ~35 MB in every DuckDB or PostgreSQL build. It is hidden while GX imports, and only then."""
    done = run_python(
        """
        import importlib.util, sys
        assert importlib.util.find_spec("pyspark") is not None  # installed (the dev extra), so GX would load it
        from kpiframe.quality.gx_runner import _context
        _context()
        after_gx = sorted(m for m in ("pyspark", "py4j.java_gateway", "grpc") if m in sys.modules)
        from great_expectations.compatibility import pyspark as gx_spark
        import pyspark  # the process imports it as usual afterwards (kpiframe's Spark engine does)
        from pyspark.sql import functions
        print(after_gx, type(gx_spark.pyspark).__name__, pyspark.__name__, functions.__name__)
    """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "NotImported", "pyspark", "pyspark.sql.functions"]
