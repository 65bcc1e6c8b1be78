"""The rescoring job for spark-submit and a Databricks Python task: `leadscore rescore --engine
spark` with this file's arguments (docs/batch.md has the recipes).

    spark-submit --master local[2] \\
        --jars /usr/share/java/sqlite-jdbc.jar,/usr/share/java/postgresql.jar \\
        scoring/cli/spark_submit.py -c configs/demo.yaml --db sqlite:///data/leads.db
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    from scoring.cli.main import app

    app(["rescore", "--engine", "spark", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
