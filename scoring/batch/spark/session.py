"""The Spark session of a rescoring job: the one spark-submit or Databricks made, else a local
one, with the JDBC drivers of Debian's packages, UTC as the session's time zone (timestamps reach
pandas as the single-machine engine reads them) and Arrow for the pandas functions."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from scoring.config import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Debian's libpostgresql-jdbc-java and libxerial-sqlite-jdbc-java: never a download at run time
JDBC_JARS = {
    "postgresql": "/usr/share/java/postgresql.jar",
    "sqlite": "/usr/share/java/sqlite-jdbc.jar",
}
INSTALL = "apt-get install -y libpostgresql-jdbc-java libxerial-sqlite-jdbc-java"
JAVA = "apt-get install -y openjdk-17-jre-headless"
SETTINGS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
    # LightGBM on one thread per Python worker: the executor's task slots are the parallelism
    # (OpenMP threads of busy workers on the same cores spin against each other)
    "spark.executorEnv.LEADSCORE_THREADS": "1",
    "spark.executorEnv.OMP_NUM_THREADS": "1",
}


def _pyspark():
    try:
        import pyspark.sql
    except ImportError:
        raise ConfigError(
            f"--engine spark needs PySpark: pip install 'leadscore[spark]' (and Java 17: {JAVA})"
        ) from None
    return pyspark.sql


def jdbc_jar(backend: str) -> str:
    """The JDBC driver's jar for a database backend, or why there is none."""
    if backend not in JDBC_JARS:
        raise ConfigError(
            f"the spark engine reads SQLite and PostgreSQL over JDBC (not {backend}); or export "
            "the tables to Parquet and pass --input FOLDER"
        )
    jar = JDBC_JARS[backend]
    if not Path(jar).is_file():
        raise ConfigError(f"no JDBC driver for {backend} at {jar}: {INSTALL}")
    return jar


def spark_session(
    master: str | None = None, conf: dict[str, str] | None = None, app: str = "leadscore rescore"
) -> SparkSession:
    """The active session (a notebook's, Databricks'), else a new one: on `master`, else on
    spark-submit's (its JVM is already up: PYSPARK_GATEWAY_PORT; pass the JDBC jars with
    --jars), else local[*]. Python workers run this interpreter unless PYSPARK_PYTHON says
    otherwise: another one would lack the project and pyarrow. `conf`: settings of a new
    session (e.g. spark.driver.memory)."""
    sql = _pyspark()
    active = sql.SparkSession.getActiveSession()
    if active is not None:
        for key, value in SETTINGS.items():
            if active.conf.isModifiable(key):  # spark.sql.*; others are fixed at start-up
                active.conf.set(key, value)
        return active
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    jars = ",".join(j for j in JDBC_JARS.values() if Path(j).is_file())
    builder = sql.SparkSession.builder.appName(app).config("spark.ui.enabled", "false")
    if master or "PYSPARK_GATEWAY_PORT" not in os.environ:
        builder = builder.master(master or "local[*]")
    if jars:
        builder = builder.config("spark.jars", jars)
    for key, value in (SETTINGS | (conf or {})).items():
        builder = builder.config(key, value)
    if shutil.which("java") is None and "JAVA_HOME" not in os.environ:
        raise ConfigError(f"--engine spark needs Java 17 (local mode): {JAVA}")
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
