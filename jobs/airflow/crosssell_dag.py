"""Airflow DAGs of crosssell-spark: the nightly pipeline and the weekly table maintenance.

One SparkSubmitOperator per stage, each submitting the jobs/*.py entry point exactly as
dist/submit.sh does (see the README, "Scheduling with Airflow"). Every job runs its own
write-audit-publish: a failed quality gate fails the task before anything is published, and
the downstream tasks do not run. Nightly: clean -> (train-interest, similarity) -> train-ranker -> candidates,
the run date templated into each job's --run-date. Weekly: OPTIMIZE + VACUUM (jobs/maintain.py).

Settings (Airflow Variables, read when a task renders; defaults in brackets):
    crosssell_home           folder with dist/, conf/, jobs/ on the Airflow worker [/opt/crosssell]
    crosssell_conf           config overlay [<crosssell_home>/conf/cluster.yaml]
    crosssell_driver_python  Python of the driver (client mode) with the packed env's packages [python3]
The Spark connection is `spark_default` (env CROSSSELL_SPARK_CONN_ID overrides), e.g.
    AIRFLOW_CONN_SPARK_DEFAULT='{"conn_type": "spark", "host": "spark://spark-master", "port": 7077}'
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

try:  # Airflow 3
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.10
    from airflow import DAG  # type: ignore[no-redef,attr-defined,unused-ignore]

VERSION = "0.1.0"  # the package version: names the artefacts in dist/
SPARK_CONN_ID = os.environ.get("CROSSSELL_SPARK_CONN_ID", "spark_default")
DELTA_PACKAGE = "io.delta:delta-spark_4.1_2.13:4.4.0"

HOME = "{{ var.value.get('crosssell_home', '/opt/crosssell') }}"
OVERLAY = (
    "{{ var.value.get('crosssell_conf', var.value.get('crosssell_home', '/opt/crosssell') ~ '/conf/cluster.yaml') }}"
)
DRIVER_PYTHON = "{{ var.value.get('crosssell_driver_python', 'python3') }}"

DEFAULT_ARGS = {
    "owner": "crosssell",
    "retries": 2,  # a lost executor is Spark's business; a lost driver or a busy cluster is retried here
    "retry_delay": timedelta(minutes=10),
    "retry_exponential_backoff": True,
    "execution_timeout": timedelta(hours=4),
}


class CrossSellSubmitOperator(SparkSubmitOperator):
    """SparkSubmitOperator whose --archives is templated too (the packed env lives under crosssell_home)."""

    template_fields = (*SparkSubmitOperator.template_fields, "_archives")


def submit_task(task_id: str, job: str, run_date: str | None = "{{ ds }}") -> CrossSellSubmitOperator:
    """One job as one task: the same spark-submit line as `dist/submit.sh <stage>`."""
    args = ["--conf", OVERLAY] + (["--run-date", run_date] if run_date else [])
    return CrossSellSubmitOperator(
        task_id=task_id,
        conn_id=SPARK_CONN_ID,
        application=f"{HOME}/jobs/{job}",
        application_args=args,
        conf={
            "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
            "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
            "spark.pyspark.python": "./environment/bin/python",
            "spark.pyspark.driver.python": DRIVER_PYTHON,
        },
        files=f"{HOME}/conf/base.yaml,{OVERLAY}",
        py_files=f"{HOME}/dist/crosssell_spark-{VERSION}.zip",
        archives=f"{HOME}/dist/crosssell_env-{VERSION}.tar.gz#environment",
        packages=DELTA_PACKAGE,
        name=f"crosssell-{task_id.replace('_', '-')}",
        deploy_mode="client",  # standalone masters run Python drivers in client mode only
    )


with DAG(
    dag_id="crosssell_nightly",
    description="Nightly cross-sell pipeline: clean -> interest + similarity -> ranker -> candidates",
    schedule="0 2 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,  # a missed night is not replayed: the next run processes what is new
    max_active_runs=1,  # runs refresh the same tables; never two at once
    default_args=DEFAULT_ARGS,
    tags=["crosssell", "spark"],
) as nightly:
    clean = submit_task("clean", "clean.py")
    train_interest = submit_task("train_interest", "train_interest.py")
    similarity = submit_task("similarity", "similarity.py")
    train_ranker = submit_task("train_ranker", "train_ranker.py")
    candidates = submit_task("candidates", "candidates.py")
    clean >> [train_interest, similarity] >> train_ranker >> candidates

with DAG(
    dag_id="crosssell_maintenance",
    description="Weekly OPTIMIZE + VACUUM (retention from maintenance.retention_hours, >= 7 days)",
    schedule="0 6 * * 0",  # Sunday morning, after the nightly run
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["crosssell", "spark", "maintenance"],
) as weekly:
    maintain = submit_task("maintain", "maintain.py")
