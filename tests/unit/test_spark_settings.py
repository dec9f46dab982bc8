"""The Spark settings kpiframe gives a local session, and how a project's `warehouse: conf:` joins them:
a setting of the user's wins, except JVM options, which are one string, and keep kpiframe's (the embedded
metastore's folder, quiet logs) before the user's. Pure functions: no Spark starts."""

from __future__ import annotations

from pathlib import Path

from kpiframe.engine.spark_session import _local_settings, _merged
from kpiframe.load.specs import WarehouseSpec


def test_a_users_jvm_options_are_added_to_kpiframes(tmp_path: Path):
    conf = {"spark.driver.extraJavaOptions": "-Duser.timezone=UTC", "spark.sql.shuffle.partitions": "8"}
    spec = WarehouseSpec(type="spark", warehouse_dir=str(tmp_path / "wh"), conf=conf)
    settings = _merged(_local_settings(spec), spec.conf)
    options = settings["spark.driver.extraJavaOptions"]
    assert options.startswith(f"-Dderby.system.home={tmp_path / 'wh'} ") and options.endswith(" -Duser.timezone=UTC")
    assert settings["spark.sql.shuffle.partitions"] == "8"  # any other setting of the user's wins
    assert settings["spark.sql.session.timeZone"] == "UTC"


def test_without_options_of_the_users_kpiframes_stand(tmp_path: Path):
    spec = WarehouseSpec(type="spark", warehouse_dir=str(tmp_path / "wh"))
    assert _merged(_local_settings(spec), {}) == _local_settings(spec)
