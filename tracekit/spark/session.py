"""A Spark session for tracekit's analyses, or one line saying what is missing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from tracekit.errors import UserError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

APP_NAME = "tracekit spark-analyze"
JAVA_VERSIONS = (17, 21)
# How long a cluster gets to give the application its first executor (a standalone master
# answers in seconds; YARN and Kubernetes schedule containers, which can take a minute).
EXECUTOR_WAIT_S = 180.0
_LOG_CONFIG = Path(__file__).with_name("log4j2.properties").as_uri()
_HOW = "install it with `pip install 'tracekit[spark]'` (or `make install`)"


def spark_session(master: str | None, conf: Mapping[str, str] | None = None) -> SparkSession:
    """A session on ``master`` (``spark://HOST:PORT``, ``yarn``, ``k8s://...``, ``local[4]``;
    None: what ``spark-submit`` or the Spark defaults give) with ``conf`` set, whose executors
    run Python workers with this interpreter unless ``PYSPARK_PYTHON`` names another.

    Missing Java or PySpark, or a master that gives no executor, is a UserError.
    """
    try:
        import pyspark  # noqa: F401
        from pyspark.sql import SparkSession
    except ImportError:
        raise UserError(f"Spark analyses need PySpark 4: {_HOW}") from None
    check_java()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(APP_NAME)
    if master:
        builder = builder.master(master)
    settings = {
        # progress bars and the UI are for people at a shell; the CLI prints one summary line
        "spark.ui.showConsoleProgress": "false",
        # errors only from the driver it starts (a JVM already running keeps its own logging)
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={_LOG_CONFIG}",
        **(conf or {}),
    }
    for key, value in settings.items():
        builder = builder.config(key, value)
    # PySpark warns that it does not "fully support" pandas 3: tracekit hands it Arrow only
    warnings.filterwarnings("ignore", message=".*PySpark does not yet fully support pandas.*")
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # py4j and Spark raise many types; all mean "no session"
        raise UserError(f"Spark master {master or '(default)'}: {first_line(exc)}") from None
    spark.sparkContext.setLogLevel("ERROR")
    if master is None or not master.startswith("local"):
        _wait_for_executors(spark, master)
    return spark


def check_java() -> str:
    """The java that Spark will run (JAVA_HOME's, else the one on PATH), checked to be a
    version Spark 4 runs on; a UserError saying how to get one otherwise."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    how = (
        "install a JDK 17 or 21 (Debian/Ubuntu: `apt-get install openjdk-17-jre-headless`; "
        "conda: `conda env create -f environment.yml`) and set JAVA_HOME"
    )
    if not java or not os.access(java, os.X_OK):
        raise UserError(f"Spark analyses need Java (none found): {how}")
    try:
        answer = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"{java}: cannot run it ({exc}); {how}") from None
    found = re.search(r'version "(\d+)', answer.stderr + answer.stdout)
    major = int(found.group(1)) if found else 0
    if major < min(JAVA_VERSIONS):
        raise UserError(f"{java}: Java {major or '?'} is too old for Spark 4: {how}")
    return java


def _wait_for_executors(spark: SparkSession, master: str | None) -> None:
    context = spark.sparkContext
    deadline = time.monotonic() + EXECUTOR_WAIT_S
    # the driver counts as one entry of the executors' memory status
    while context._jsc.sc().getExecutorMemoryStatus().size() < 2:  # type: ignore[union-attr]
        if time.monotonic() > deadline:
            spark.stop()
            raise UserError(
                f"Spark master {master or '(default)'}: no executor joined within "
                f"{EXECUTOR_WAIT_S:.0f} s; is the cluster up, with free cores and memory?"
            )
        time.sleep(0.5)


def first_line(exc: BaseException) -> str:
    """The first meaningful line of an error from Spark (py4j wraps Java's in a page of text)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("py4j.", "Traceback", "at ", ":")):
            continue
        return line[:300]
    return type(exc).__name__
