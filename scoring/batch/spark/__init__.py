"""Batch rescoring on Spark (`leadscore rescore --engine spark`, docs/batch.md): the same
validation, features, scores and lead_scores rows as the single-machine engine, from leads read
over JDBC or from Parquet, bucket by bucket on the executors.

`session` starts or joins the Spark session, `source` reads and buckets the leads and events,
`group` scores one bucket (on an executor), `job` runs it all and writes the results
(scoring/cli/spark_submit.py is the spark-submit entry point). PySpark is imported only here:
the runtime does not need it.
"""
