"""The pipeline on a real Spark standalone cluster, submitted with the packaged artefacts (dist/submit.sh).

1. run-all on master + 2 workers: every table published, reconciliation balanced, no critical
   quality failure, executors on both workers.
2. A worker (JVM and its executors) is SIGKILLed while the similarity job runs: Spark re-runs the
   lost work on the surviving worker and the job publishes the same item_similarity as before.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from deploy.cluster_demo import DemoRun
from deploy.standalone_cluster import StandaloneCluster, alive_workers, free_port
from tests.cluster.conftest import ClusterPipeline, run_job

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(3000)]

CORE_TABLES = (
    "events_clean", "items_clean", "reconciliation", "dq_results", "user_factors", "item_factors",
    "user_category_interest", "item_similarity", "category_affinity", "item_cross_sell", "user_cross_sell",
)  # fmt: skip


def _read(spark: SparkSession, lakehouse: Path, table: str, version: int | None = None) -> Any:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(str(lakehouse / table))


def _version(spark: SparkSession, lakehouse: Path, table: str) -> int:
    return int(spark.sql(f"DESCRIBE HISTORY delta.`{lakehouse / table}` LIMIT 1").collect()[0]["version"])


def test_pipeline_runs_on_standalone_cluster(
    cluster_pipeline: ClusterPipeline, cluster: StandaloneCluster, spark: SparkSession
) -> None:
    result = cluster_pipeline.submission
    assert result.code == 0, f"spark-submit run-all failed:\n{result.output[-5000:]}"
    lakehouse = cluster_pipeline.run.lakehouse

    # the application ran on the standalone master, with an executor on each worker
    apps = cluster.state()["completedapps"]
    assert [a["name"] for a in apps if a["state"] == "FINISHED"] == ["crosssell-run-all"]
    assert all(dirs for dirs in cluster_pipeline.executor_dirs.values()), cluster_pipeline.executor_dirs
    assert len(cluster_pipeline.executor_dirs) == 2

    counts = {table: _read(spark, lakehouse, table).count() for table in CORE_TABLES}
    assert all(n > 0 for n in counts.values()), counts

    reconciliation = _read(spark, lakehouse, "reconciliation").collect()
    assert {r["input_name"] for r in reconciliation} >= {"events", "items"}
    for row in reconciliation:
        assert row["balanced"], row
        assert row["rows_read"] == row["rows_clean"] + row["rows_quarantined"] + row["rows_duplicate"], row

    quality = _read(spark, lakehouse, "dq_results")
    assert quality.select("table_name").distinct().count() >= 5  # every stage audited its tables
    blocking = quality.where((F.col("severity") == "critical") & ~F.col("success")).collect()
    assert blocking == [], blocking

    # the driver printed the run-all summary after the last stage
    assert "Lakehouse: " in result.output and "candidates" in result.output


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


class WorkerKiller:
    """Watches the similarity job's REST API; kills worker-1 once Spark jobs are running on both executors."""

    def __init__(self, cluster: StandaloneCluster, ui_port: int) -> None:
        self.cluster, self.api = cluster, f"http://127.0.0.1:{ui_port}/api/v1/applications"
        self.killed_at: float | None = None
        self.jobs_done_at_kill = 0
        self.lost_executors: list[dict[str, Any]] = []
        self.jobs_done_at_end = 0
        self.error: BaseException | None = None

    def __call__(self, process: subprocess.Popen[bytes]) -> None:
        self.thread = threading.Thread(target=self._watch, args=(process,), daemon=True)
        self.thread.start()

    def _watch(self, process: subprocess.Popen[bytes]) -> None:
        try:
            app = None
            while process.poll() is None:
                try:
                    app = app or _get_json(self.api)[0]["id"]
                    jobs = _get_json(f"{self.api}/{app}/jobs")
                    executors = [e for e in _get_json(f"{self.api}/{app}/allexecutors") if e["id"] != "driver"]
                except (OSError, ValueError, IndexError, KeyError):  # UI not up yet, or a page still being built
                    time.sleep(0.5)
                    continue
                done = sum(j["status"] == "SUCCEEDED" for j in jobs)
                running = any(j["status"] == "RUNNING" and j["numActiveTasks"] > 0 for j in jobs)
                if self.killed_at is None and done >= 3 and running and sum(e["isActive"] for e in executors) == 2:
                    self.cluster.kill_worker(0)
                    self.killed_at, self.jobs_done_at_kill = time.monotonic(), done
                if self.killed_at is not None:
                    self.lost_executors = [e for e in executors if not e["isActive"]]
                    self.jobs_done_at_end = done
                time.sleep(0.5)
        except BaseException as err:  # reported by the test
            self.error = err


def _fresh_ui_port(run: DemoRun) -> DemoRun:
    overlay = yaml.safe_load(run.overlay.read_text())
    port = free_port()
    overlay["spark"]["conf"]["spark.ui.port"] = str(port)
    run.overlay.write_text(yaml.safe_dump(overlay, sort_keys=False))
    return DemoRun(run.overlay, run.lakehouse, port)


def test_job_survives_worker_loss(
    cluster_pipeline: ClusterPipeline, cluster: StandaloneCluster, driver_python: Path, spark: SparkSession
) -> None:
    assert cluster_pipeline.submission.code == 0, "needs the run-all lakehouse"
    run, lakehouse = cluster_pipeline.run, cluster_pipeline.run.lakehouse
    before = _version(spark, lakehouse, "item_similarity")
    assert len(alive_workers(cluster.state())) == 2

    run = _fresh_ui_port(run)  # the run-all driver's port may have been taken since
    killer = WorkerKiller(cluster, run.ui_port)
    result = run_job("similarity", cluster, run, driver_python, run.overlay.parent / "similarity.log", on_start=killer)
    killer.thread.join(timeout=30)
    assert killer.error is None, killer.error

    assert killer.killed_at is not None, "the job ended before a worker could be killed"
    assert cluster.worker_daemons[0].process.returncode == -signal.SIGKILL
    assert result.code == 0, f"similarity did not survive the lost worker:\n{result.output[-5000:]}"
    # the driver saw the executor go and went on running jobs on the surviving one
    assert killer.lost_executors, "no executor was reported lost"
    assert killer.jobs_done_at_end > killer.jobs_done_at_kill
    states = {w["id"]: w["state"] for w in cluster.state()["workers"]}
    assert sorted(states.values()).count("ALIVE") == 1, states

    # same inputs, same seeds: the re-run after the loss publishes exactly the first run's pairs
    after = _version(spark, lakehouse, "item_similarity")
    assert after == before + 1
    columns = ["item_a", "item_b", "category_a", "category_b", "jaccard", "co_baskets", "co_users", "is_content"]
    first = _read(spark, lakehouse, "item_similarity", before).select(columns)
    second = _read(spark, lakehouse, "item_similarity", after).select(columns)
    assert second.count() == first.count() > 0
    assert first.exceptAll(second).count() == 0
    assert second.exceptAll(first).count() == 0
