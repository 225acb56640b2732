"""`crosssell evaluate` end to end on the shared 60k-event sample world: the split leaks nothing,
every method is scored on every task, the table, report and notebook are written."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from crosssell_spark.config import LakehouseConfig
from crosssell_spark.evaluation.stage import run_evaluation
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.run import Run, StageResult
from crosssell_spark.tables import EVALUATION, EVENTS_CLEAN, INTEREST_MODEL_RUNS, ITEM_CROSS_SELL, USER_ID_MAP
from tests.conftest import PROJECT_ROOT, PipelineRun

METHODS = {"pipeline", "popularity", "popularity_eligible", "cooccurrence", "cooccurrence_floor", "als", "sar"}
TASKS = {"anchor", "user", "planted_content", "planted_behavioural"}

pytestmark = [pytest.mark.integration, pytest.mark.minutes(7)]


@pytest.fixture(scope="module")
def evaluated(
    spark: SparkSession, sample_pipeline: PipelineRun, tmp_path_factory: pytest.TempPathFactory
) -> tuple[PipelineRun, StageResult, Lakehouse]:
    training_root = tmp_path_factory.mktemp("evaluation")
    evaluation = sample_pipeline.config.evaluation.model_copy(update={"root": str(training_root), "last_days": 10})
    config = sample_pipeline.config.model_copy(update={"evaluation": evaluation})
    result = run_evaluation(spark, config, Run.start())
    training = Lakehouse(spark, LakehouseConfig(root=result.metrics["training_root"]))
    return sample_pipeline, result, training


def test_no_event_at_or_after_the_cut_reaches_a_training_table(evaluated) -> None:
    run, result, training = evaluated
    cut = datetime.fromisoformat(result.metrics["cut"])
    events = run.lake.read(EVENTS_CLEAN.name)
    assert events.where(F.col("event_ts") >= F.lit(cut)).count() > 1000  # there was a future to leak
    newest = training.read(EVENTS_CLEAN.name).agg(F.max("event_ts")).first()
    assert newest is not None and newest[0] < cut
    weighted = list(run.config.interest.event_weights)
    past = events.where((F.col("event_ts") < F.lit(cut)) & F.col("event_type").isin(*weighted))
    past_users = {r[0] for r in past.select("user_id").distinct().collect()}
    assert {r[0] for r in training.read(USER_ID_MAP.name).select("user_id").collect()} == past_users
    (model_run,) = training.read(INTEREST_MODEL_RUNS.name).collect()
    assert model_run["n_interactions"] == past.select("user_id", "item_id").distinct().count()
    lists = training.read(ITEM_CROSS_SELL.name).agg(F.countDistinct("run_id")).first()
    assert lists is not None and lists[0] == 1  # the lists judged were built in this training lakehouse


def test_every_method_is_scored_on_every_task_and_recorded(evaluated) -> None:
    run, result, _ = evaluated
    table = run.lake.read(EVALUATION.name).where(F.col("run_id") == result.metrics["run_id"])
    overall = table.where(F.col("category").isNull()).toPandas()
    assert {(t, m) for t, m in zip(overall.task, overall.method, strict=True)} == {
        (t, m) for t in TASKS for m in METHODS
    }
    wide = overall.pivot_table(index=["task", "method"], columns="metric", values="value")
    assert {"hit_rate", "precision", "recall", "ndcg", "map", "coverage", "diversity", "novelty"} <= set(wide.columns)
    assert ((wide[["hit_rate", "precision", "recall", "ndcg", "map", "coverage", "diversity"]] <= 1 + 1e-9).all()).all()
    assert (wide["hit_rate"] >= wide["precision"] - 1e-9).all()
    assert (overall.k == run.config.evaluation.k).all() and overall.config_hash.nunique() == 1
    sizes = result.metrics["tasks"]
    assert sizes["anchor"]["queries"] > 100 and sizes["user"]["queries"] > 50
    per_category = table.where(F.col("category").isNotNull() & (F.col("task") == "anchor")).toPandas()
    assert per_category.category.nunique() >= 5 and per_category.queries.min() >= 1
    # the planted complements make the sample world's anchor task learnable: the pipeline finds them,
    # global popularity cannot
    planted = wide.loc["planted_content"]
    assert planted.loc["pipeline", "recall"] > 0.3 > planted.loc["popularity", "recall"]
    anchor = wide.loc["anchor"]
    assert anchor.loc["pipeline", "hit_rate"] > anchor.loc["popularity", "hit_rate"]


def test_report_and_notebook_show_the_run(spark: SparkSession, evaluated, tmp_path: Path) -> None:
    from crosssell_spark.notebooks import run_notebook

    run, result, _ = evaluated
    report = Path(result.metrics["report"])
    text = report.read_text()
    assert "## anchor task" in text and "## user task" in text and "Pipeline: hit_rate@k" in text
    assert "95 % paired-bootstrap interval" in text and "| sar |" in text and "(reference)" in text
    assert "## Learnt ranker (training run)" in text and "- **item lists: scored by" in text
    for png in ("metric_bars.png", "category_hit_rates.png", "score_distributions.png"):
        assert (report.parent / png).stat().st_size > 5000, png
    notebook = PROJECT_ROOT / "notebooks" / "04_evaluation_report.py"
    namespace = run_notebook(notebook, spark, {"lakehouse_root": run.lake.root, "plot_dir": str(tmp_path)})
    for png in ("evaluation_headline.png", "evaluation_categories.png", "evaluation_history.png"):
        assert (tmp_path / png).stat().st_size > 5000, png
    assert set(namespace["figures"].index.get_level_values("method")) == METHODS
