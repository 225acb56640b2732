"""`crosssell evaluate` end to end on the shared 60k-event sample world: the split leaks nothing,
every method is scored on every task, the table, report and notebook are written."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from crosssell_spark import cli
from crosssell_spark.config import LakehouseConfig
from crosssell_spark.evaluation.stage import run_evaluation
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.run import Run, StageResult
from crosssell_spark.tables import (
    EVALUATION,
    EVENTS_CLEAN,
    INTEREST_MODEL_RUNS,
    ITEM_CROSS_SELL,
    RANKER_RUNS,
    USER_CROSS_SELL,
    USER_ID_MAP,
)
from tests.browser import render
from tests.conftest import PROJECT_ROOT, TEST_OVERRIDES, PipelineRun, pipeline_partitions

METHODS = {"pipeline", "popularity", "popularity_eligible", "cooccurrence", "cooccurrence_floor", "als", "sar"}
TASKS = {"anchor", "user", "planted_content", "planted_behavioural"}

pytestmark = [pytest.mark.integration, pytest.mark.minutes(7)]


@pytest.fixture(scope="module")
def evaluated(
    spark: SparkSession, sample_pipeline: PipelineRun, tmp_path_factory: pytest.TempPathFactory
) -> tuple[PipelineRun, StageResult, Lakehouse]:
    training_root = tmp_path_factory.mktemp("evaluation")
    shared = sample_pipeline.config
    evaluation = shared.evaluation.model_copy(update={"root": str(training_root), "last_days": 10})
    # the shared run goes without the learnt ranker (see conftest); this training run has it, as shipped
    ranker = shared.crosssell.ranker.model_copy(update={"enabled": True})
    crosssell = shared.crosssell.model_copy(update={"ranker": ranker})
    config = shared.model_copy(update={"evaluation": evaluation, "crosssell": crosssell})
    with pipeline_partitions(spark, config):  # the shared run's one partition
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


def test_train_ranker_decides_per_list_kind_and_the_lists_follow_it(evaluated) -> None:
    """The training run keeps the ranker on: one decision per list kind, with its evidence, obeyed."""
    run, result, training = evaluated
    cfg = run.config.crosssell.ranker
    runs = training.read(RANKER_RUNS.name).toPandas().set_index("list_type")
    assert set(runs.index) == {"item", "user"} and (runs.run_id == result.metrics["run_id"]).all()
    for kind, row in runs.iterrows():
        assert row.scorer in {"learnt", "configured", "popularity"} and row.scorer_reason, kind
        fitted = row.train_positives >= cfg.min_positives and row.validation_keys > 0
        assert (row.model_text is not None) == fitted, kind
        quality = json.loads(row.quality_json)
        assert {"configured", "popularity"} <= set(quality) and (("learnt" in quality) == fitted)
        if row.scorer == "learnt":  # only a model that beat both others on the held-back keys ships
            assert all(quality["learnt"]["ndcg"] >= quality[s]["ndcg"] for s in ("configured", "popularity"))
    for kind, table in (("item", ITEM_CROSS_SELL.name), ("user", USER_CROSS_SELL.name)):
        lists = training.read(table).toPandas()
        scorer = runs.loc[kind, "scorer"]
        if scorer == "popularity":
            assert (lists["score"] - lists["popularity_score"]).abs().max() < 1e-9, kind
        elif scorer == "learnt":
            assert lists["score"].between(0, 1, inclusive="neither").all(), kind


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


def test_the_run_report_renders_in_a_browser_with_lists_stages_and_the_evaluation(
    evaluated, capsys: pytest.CaptureFixture[str]
) -> None:
    run, result, _ = evaluated
    args = [a for o in [*TEST_OVERRIDES, f"lakehouse.root={run.lake.root}"] for a in ("--set", o)]
    capsys.readouterr()
    assert cli.main(["report", *args]) == 0
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    assert printed.startswith("run report: file://") and printed.endswith("/report.html")
    page = Path(printed.removeprefix("run report: file://"))
    lists_run = run.lake.read(ITEM_CROSS_SELL.name).first()["run_id"]
    assert page.parent.name == lists_run and page.stat().st_size > 20_000

    shown = render(page)
    assert shown.title == f"crosssell-spark run report {lists_run}" and not shown.severe_logs
    assert shown.headings[:2] == ["Stages", "Example item lists"] and "Offline evaluation" in shown.headings
    lines = shown.text.splitlines()
    for stage, outcome in run.results.items():  # each publishing stage's time, as its run recorded it
        if outcome.published:
            row = next(line for line in lines if line.startswith(f"{stage} "))  # the stages table comes first
            assert f" {outcome.seconds:.1f} " in row, row
    anchors = run.lake.read(ITEM_CROSS_SELL.name).select("anchor_item_id").distinct().toPandas()["anchor_item_id"]
    assert sum(f"({a}, " in shown.text for a in anchors) == 5  # 2 strongest + 3 sampled anchors, with their lists
    assert f"Newest crosssell evaluate run {result.metrics['run_id']}" in shown.text
    behavioural = run.results["similarity"].metrics["behavioural"]
    assert f"item pairs withheld by floor {behavioural['item_pairs_withheld_by_floor']}" in shown.text
    assert "as in the input (pseudonymisation off)" in shown.text
    # the slot mix, then the evaluation's three plots: all decoded by the browser
    assert [i["alt"].split(": ")[-1] for i in shown.images] == [
        "share of list slots by source", "metrics per method", "hit rate per target category",
        "score distributions of hits and misses",
    ]  # fmt: skip
    assert all(i["complete"] and i["width"] > 300 and i["height"] > 200 for i in shown.images), shown.images
