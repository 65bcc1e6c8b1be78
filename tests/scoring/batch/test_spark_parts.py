"""The Spark engine's parts that need no Spark: option checks, SQLite type affinity, values put
back together from SQLite's three parts, JDBC URLs without credentials in them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa
from typer.testing import CliRunner

from scoring.batch.spark.group import column_values
from scoring.batch.spark.source import INTEGER, REAL, jdbc_of, sqlite_affinity
from scoring.cli.errors import USAGE
from scoring.cli.main import app
from tests.conftest import REPO

DEMO = str(REPO / "configs" / "demo.yaml")
runner = CliRunner()


def test_spark_options_need_the_spark_engine() -> None:
    for extra in (["--since", "2025-11-01"], ["--output", "x"], ["--master", "local[2]"]):
        done = runner.invoke(app, ["rescore", "-c", DEMO, "--model", "nowhere", *extra])
        assert done.exit_code == USAGE, done.output
        assert extra[0] in done.output and "--engine spark" in done.output
    bad = runner.invoke(app, ["rescore", "-c", DEMO, "--engine", "spark", "--since", "soon"])
    assert bad.exit_code == USAGE and "--since: 'soon' is not a time" in bad.output


def test_sqlite_affinity_follows_sqlites_rules() -> None:
    kinds = {"BIGINT": "integer", "TEXT": "text", "VARCHAR(20)": "text", "FLOAT": "real"}
    kinds |= {"DATETIME": "numeric", "": "blob", "DOUBLE PRECISION": "real", "NUMERIC": "numeric"}
    assert {k: sqlite_affinity(k) for k in kinds} == kinds


def test_a_sqlite_column_read_in_three_parts_is_put_back_as_sqlite3_returns_it() -> None:
    frame = pd.DataFrame(
        {
            "x": ["many", None, None, None],
            "x" + INTEGER: [None, "12", None, None],  # integers come as text (no float gaps)
            "x" + REAL: [None, None, 2.5, None],
            "n": ["9007199254740993", None, "3", "4"],
        }
    )
    values = column_values(frame, "x", frozenset({"x"}), frozenset())
    assert values.tolist() == ["many", 12, 2.5, None]
    assert [type(v) for v in values[:3]] == [str, int, float]
    exact = column_values(frame, "n", frozenset(), frozenset({"n"}))
    assert exact.tolist() == [9007199254740993, None, 3, 4]  # beyond a float's 53 bits
    assert (
        column_values(
            pd.DataFrame({"t": pd.to_datetime(["2025-01-02", None])}), "t", frozenset(), frozenset()
        ).tolist()[1]
        is None
    )
    assert np.asarray(values).dtype == object


def test_jdbc_urls_carry_no_credentials() -> None:
    url = sa.engine.make_url("postgresql+psycopg://scorer:s3cret@db.example:6543/crm")
    jdbc = jdbc_of(url)
    assert jdbc.url == "jdbc:postgresql://db.example:6543/crm" and "s3cret" not in jdbc.url
    assert jdbc.properties["user"] == "scorer" and jdbc.properties["password"] == "s3cret"
    assert jdbc.properties["driver"] == "org.postgresql.Driver"
