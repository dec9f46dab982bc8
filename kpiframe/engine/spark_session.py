"""Starting Spark for kpiframe: the session's settings (local defaults, the warehouse folder and beside it
an embedded Derby metastore, or a Spark Connect server), Spark's own log kept quiet, and what to say when
Spark cannot start. Used by `SparkWarehouse`."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from kpiframe.load.specs import WarehouseSpec

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# the calendar's time zone (UTC unless set): dates of timestamps the same whatever the machine's zone
TIME_ZONE = "spark.sql.session.timeZone"
LOCAL_DEFAULTS = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",  # the default 200 makes every small aggregate 200 tasks
    "spark.sql.sources.default": "parquet",
    "spark.sql.legacy.createHiveTableByDefault": "false",  # CREATE TABLE makes Parquet, not Hive text files
}


def start_session(spec: WarehouseSpec) -> SparkSession:
    from pyspark.logger import PySparkLogger
    from pyspark.sql import SparkSession

    # PySpark logs every refused statement as JSON on stderr; kpiframe raises it as a KF503 anyway
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)

    if spec.master.startswith("sc://"):  # Spark Connect: the server owns the catalog and its settings
        builder = SparkSession.builder.remote(spec.master)
        for key, value in {TIME_ZONE: spec.time_zone, **spec.conf}.items():
            builder = builder.config(key, value)
        return builder.getOrCreate()
    builder = SparkSession.builder.master(spec.master).appName("kpiframe")
    for key, value in _merged(_local_settings(spec), spec.conf).items():
        builder = builder.config(key, value)
    with warnings.catch_warnings():  # PySpark's own FutureWarnings (pandas versions, ...) are not ours
        warnings.simplefilter("ignore")
        return builder.enableHiveSupport().getOrCreate()


# JVM options are one string each: a user's own are added after kpiframe's (the metastore's folder, quiet logs)
_JOINED = ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions")


def _merged(ours: dict[str, str], theirs: dict[str, str]) -> dict[str, str]:
    """The user's settings over kpiframe's, except JVM options, which are joined."""
    merged = {**ours, **theirs}
    for key in _JOINED:
        if key in ours and key in theirs:
            merged[key] = f"{ours[key]} {theirs[key]}"
    return merged


def _local_settings(spec: WarehouseSpec) -> dict[str, str]:
    """The warehouse folder, and beside it the embedded Derby metastore (and Derby's log) when no
    metastore is configured in `conf` (a cluster's hive.metastore.uris, say)."""
    settings = {**LOCAL_DEFAULTS, TIME_ZONE: spec.time_zone, "spark.sql.warehouse.dir": spec.warehouse_dir}
    configured = {"spark.hadoop.hive.metastore.uris", "spark.hadoop.javax.jdo.option.ConnectionURL"}
    if "://" not in spec.warehouse_dir and not configured & set(spec.conf):
        folder = Path(spec.warehouse_dir)
        folder.mkdir(parents=True, exist_ok=True)
        metastore = folder / "metastore_db"
        settings["spark.hadoop.javax.jdo.option.ConnectionURL"] = f"jdbc:derby:;databaseName={metastore};create=true"
        settings["spark.driver.extraJavaOptions"] = (
            f"-Dderby.system.home={folder} -Dlog4j2.configurationFile={_quiet_log_config(folder)}"
        )
    return settings


# Spark's own log at FATAL only: its errors come back as exceptions, which kpiframe reports; the default
# profile prints start-up warnings and a stack trace per failed task on stderr. PySpark counts as a shell,
# whose level is that of its gateway logger (WARN unless set here).
_LOG_CONFIG = """rootLogger.level = fatal
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
logger.repl.name = org.apache.spark.api.python.PythonGatewayServer
logger.repl.level = fatal
"""


def _quiet_log_config(folder: Path) -> Path:
    path = folder / "log4j2.properties"
    if not path.is_file() or path.read_text(encoding="utf-8") != _LOG_CONFIG:
        path.write_text(_LOG_CONFIG, encoding="utf-8")
    return path


def first_line(exc: Exception) -> str:
    text = str(getattr(exc, "getMessage", lambda: "")() or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def start_hint(exc: Exception) -> str:
    text = str(exc)
    if "JAVA_HOME" in text or "Java gateway" in text:
        return "Spark local needs a Java 17 or 21 runtime: install one, or set JAVA_HOME"
    if "Another instance of Derby" in text or "XSDB6" in text:
        return "another process has the Spark warehouse's metastore open; wait for it to finish"
    return "check warehouse.master and warehouse.conf in kpi_project.yml, or --warehouse spark:<master>"
