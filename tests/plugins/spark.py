"""A real Spark standalone cluster for tests: a master and two workers on loopback, per session.

Started through scripts/spark_cluster.py (what the benchmark uses too) on free ports; each
worker runs its executors as separate JVMs with real Python workers, so jobs shuffle between
processes. Stopped by pid at the end of the session. Without Java or PySpark the tests skip
and say how to get them; with CI=true they fail.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import need

REPO = Path(__file__).resolve().parents[2]
HOW = (
    "`make install` (it installs tracekit[spark]) and a JDK 17 or 21 (Debian/Ubuntu: "
    "`apt-get install openjdk-17-jre-headless`; or set JAVA_HOME)"
)


def load_cluster_script() -> ModuleType:
    """Import scripts/spark_cluster.py (not a package) as ``tracekit_spark_cluster``."""
    name = "tracekit_spark_cluster"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / "spark_cluster.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _spark_ready() -> tuple[bool, str]:
    if importlib.util.find_spec("pyspark") is None:
        return False, "PySpark"
    from tracekit.errors import UserError
    from tracekit.spark.session import check_java

    try:
        check_java()
    except UserError as error:
        return False, f"Java 17 or 21 ({error})"
    return True, ""


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A running cluster (scripts/spark_cluster.py SparkCluster): .master_url, .driver_conf()."""
    ready, missing = _spark_ready()
    need(ready, missing, HOW)
    script = load_cluster_script()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    try:
        cluster = script.start(tmp_path_factory.mktemp("spark"), workers=2, cores=1, memory="1g")
    except script.ClusterError as error:
        pytest.fail(f"could not start the Spark cluster: {error}", pytrace=False)
    try:
        yield cluster
    finally:
        script.stop(cluster)


@pytest.fixture(scope="session")
def spark(spark_cluster: Any) -> Iterator[Any]:
    """A SparkSession on the test cluster (its driver in this process), stopped at the end."""
    from tracekit.spark.session import spark_session

    # the tests' frames are small: a shuffle partition per core, not Spark's 200 (200 tasks
    # for every aggregation of a hundred rows)
    cores = spark_cluster.workers * spark_cluster.cores
    conf = {**spark_cluster.driver_conf(), "spark.sql.shuffle.partitions": str(cores)}
    session = spark_session(spark_cluster.master_url, conf)
    try:
        yield session
    finally:
        session.stop()
