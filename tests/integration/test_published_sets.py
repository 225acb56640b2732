"""A stage stopped while publishing: readers keep the last complete set, `crosssell history` reports
the unfinished run, and the stage's next run publishes a complete set.

candidates is killed for real: it runs in its own `crosssell` process that SIGKILLs itself right
after its n-th table commit (`Lakehouse.publish` wrapped in that process only), so its JVM dies with
it and nothing runs after the commit, as in a crash or an evicted executor host. train-interest is
stopped in this process by an exception no handler catches (a `BaseException`), raised right after
its n-th commit: its `finally` blocks do run, so nothing in them may complete the set either. One
cold JVM and one stage less than a second real kill.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from crosssell_spark.cli import main
from crosssell_spark.config import AppConfig
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.pipeline import run_stage
from crosssell_spark.run import Run
from crosssell_spark.schemas import RUN_ID
from crosssell_spark.streaming.refresh import RefreshContext
from tests.conftest import (
    PROJECT_ROOT,
    SHARED_PIPELINE_OVERRIDES,
    TEST_JVM_ENV,
    TEST_OVERRIDES,
    PipelineRun,
    make_test_config,
    pipeline_partitions,
)

pytestmark = [pytest.mark.integration, pytest.mark.minutes(5)]

KILL_AFTER_COMMITS = """
import os, signal, sys
from crosssell_spark import lakehouse
from crosssell_spark.cli import main

commits, publish = int(os.environ["KILL_AFTER_COMMITS"]), lakehouse.Lakehouse.publish

def publish_then_die(self, *args, **kwargs):
    global commits
    version = publish(self, *args, **kwargs)
    commits -= 1
    if commits == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    return version

lakehouse.Lakehouse.publish = publish_then_die
sys.exit(main(sys.argv[1:]))
"""


def copy_of(pipeline: PipelineRun, root: Path) -> tuple[AppConfig, list[str]]:
    """A private copy of the shared pipeline's lakehouse: its config and the CLI overrides for it."""
    shutil.copytree(Path(pipeline.lake.root.removeprefix("file:")), root / "lakehouse")
    overrides = [f"lakehouse.root={root / 'lakehouse'}", f"sample.path={pipeline.world}", *SHARED_PIPELINE_OVERRIDES]
    return make_test_config(root / "lakehouse", *overrides[1:]), [*TEST_OVERRIDES, *overrides]


def kill_while_publishing(stage: str, commits: int, overrides: list[str]) -> None:
    """Run `crosssell <stage>` in a process that dies right after its `commits`-th table commit."""
    args = [a for o in overrides for a in ("--set", o)]
    env = {**os.environ, **TEST_JVM_ENV, "KILL_AFTER_COMMITS": str(commits), "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_COMMITS, stage, *args], cwd=PROJECT_ROOT, env=env, capture_output=True
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-3000:]


class Interrupted(BaseException):
    """What `interrupted_after` raises: a `BaseException`, so no `except Exception` in a stage stops it."""


@contextmanager
def interrupted_after(commits: int) -> Iterator[None]:
    """Within the block, `Lakehouse.publish` raises `Interrupted` right after its `commits`-th commit."""
    publish, left = Lakehouse.publish, [commits]

    def publish_then_stop(self: Lakehouse, *args, **kwargs) -> int:
        version = publish(self, *args, **kwargs)
        left[0] -= 1
        if left[0] == 0:
            raise Interrupted
        return version

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Lakehouse, "publish", publish_then_stop)
        yield


def runs_in(lake: Lakehouse, table: str) -> set[str]:
    return {r[0] for r in lake.read(table).select(RUN_ID).distinct().collect()}


def exports_digest(lake: Lakehouse) -> str:
    """A hash of every exported JSON-lines file (the stage rewrites them after its set is complete)."""
    digest = hashlib.sha256()
    for path in sorted(Path(lake.root.removeprefix("file:"), "_exports").rglob("*.json")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def history(overrides: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["history", *[a for o in overrides for a in ("--set", o)]]) == 0
    return capsys.readouterr().out


def test_killed_candidates_publish_leaves_the_last_complete_set(
    spark: SparkSession, sample_pipeline: PipelineRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    config, overrides = copy_of(sample_pipeline, tmp_path)
    lake = Lakehouse(spark, config.lakehouse)
    before = {s.stage: s for s in lake.latest_sets()}
    assert all(s.complete for s in before.values()) and set(before) >= {"clean", "train-interest", "candidates"}
    tables = before["candidates"].versions
    previous = runs_in(lake, "item_cross_sell")
    exported = exports_digest(lake)

    kill_while_publishing("candidates", 1, overrides)

    readers = Lakehouse(spark, config.lakehouse)  # e.g. a notebook, the next stage, a serving job
    assert readers.latest_version("item_cross_sell") == tables["item_cross_sell"] + 1  # the killed run's commit
    for table, version in tables.items():
        assert readers.read_version(table) == version, table
    assert runs_in(readers, "item_cross_sell") == previous == runs_in(readers, "user_cross_sell")
    assert exports_digest(readers) == exported
    (killed,) = [s for s in readers.latest_sets() if not s.complete]
    shown = history(overrides, capsys)
    assert "INCOMPLETE" in shown and killed.run_id in shown and "candidates" in shown

    with pipeline_partitions(spark, config):
        rerun = run_stage("candidates", spark, config, Run.start())

    assert rerun.metrics["incomplete_publishes_found"] == [f"candidates {killed.run_id}"]
    after = {s.stage: s for s in readers.latest_sets()}
    assert after["candidates"].complete and after["candidates"].versions == rerun.published
    assert readers.pins() == {} and "INCOMPLETE" not in history(overrides, capsys)
    new_run = runs_in(readers, "item_cross_sell")
    assert new_run == runs_in(readers, "user_cross_sell") and new_run.isdisjoint(previous | {killed.run_id})


def test_interrupted_interest_publish_leaves_the_last_complete_set(
    spark: SparkSession, sample_pipeline: PipelineRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    config, overrides = copy_of(sample_pipeline, tmp_path)
    lake = Lakehouse(spark, config.lakehouse)
    tables = {s.stage: s for s in lake.latest_sets()}["train-interest"].versions
    previous = runs_in(lake, "user_factors")

    with interrupted_after(2), pytest.raises(Interrupted), pipeline_partitions(spark, config):
        run_stage("train-interest", spark, config, Run.start())  # item_id_map and user_factors, not item_factors

    readers = Lakehouse(spark, config.lakehouse)
    assert readers.latest_version("user_factors") == tables["user_factors"] + 1
    assert readers.latest_version("item_factors") == tables["item_factors"]
    for table, version in tables.items():
        assert readers.read_version(table) == version, table
    assert runs_in(readers, "user_factors") == previous == runs_in(readers, "item_factors")
    context = RefreshContext.load(spark, config, readers)  # the streaming refresh's tables
    assert context.item_factors_version == tables["item_factors"]
    context.release()
    (killed,) = [s for s in readers.latest_sets() if not s.complete]
    assert killed.stage == "train-interest" and killed.run_id in history(overrides, capsys)

    with pipeline_partitions(spark, config):
        rerun = run_stage("train-interest", spark, config, Run.start())

    assert rerun.metrics["incomplete_publishes_found"] == [f"train-interest {killed.run_id}"]
    assert all(s.complete for s in readers.latest_sets()) and readers.pins() == {}
    fresh = runs_in(readers, "user_factors")
    assert fresh == runs_in(readers, "item_factors") and fresh.isdisjoint(previous | {killed.run_id})
