"""The interest-model and cross-sell review notebooks run against the sample pipeline's lakehouse."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from crosssell_spark.notebooks import run_notebook
from crosssell_spark.tables import ITEM_CROSS_SELL, ITEM_FACTORS, USER_CATEGORY_INTEREST, USER_CROSS_SELL
from tests.conftest import PROJECT_ROOT, PipelineRun

NOTEBOOKS = PROJECT_ROOT / "notebooks"


def _figures(namespace: dict) -> list[Figure]:
    """The figures a notebook passed to `display` (Databricks draws those inline)."""
    return [shown for shown in namespace["display"].shown if isinstance(shown, Figure)]


def _png(path: Path) -> int:
    assert path.exists(), f"{path} was not saved"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return path.stat().st_size


def test_interest_model_notebook(spark: SparkSession, sample_pipeline: PipelineRun, tmp_path: Path) -> None:
    params = {"lakehouse_root": sample_pipeline.lake.root, "plot_dir": str(tmp_path), "top_users": "6"}
    namespace = run_notebook(NOTEBOOKS / "02_interest_model.py", spark, params)

    assert _png(tmp_path / "factor_norms.png") > 5_000
    assert _png(tmp_path / "category_interest_heatmap.png") > 5_000
    assert len(_figures(namespace)) == 2
    summary = {r["factor_source"]: r for r in namespace["item_norm_summary"].collect()}
    assert summary["als"]["rows"] > 0 and summary["als"]["median_norm"] > 0
    assert sum(r["rows"] for r in summary.values()) == sample_pipeline.lake.read(ITEM_FACTORS.name).count()
    # six most active users, each scored on every category the interest table covers
    grid = namespace["grid"]
    assert grid["user_id"].nunique() == 6
    categories = sample_pipeline.lake.read(USER_CATEGORY_INTEREST.name).select("category_id").distinct().count()
    assert (grid.groupby("user_id")["category_name"].nunique() == categories).all()
    assert grid["interest_score"].between(0, 1).all()


def test_cross_sell_review_notebook(spark: SparkSession, sample_pipeline: PipelineRun, tmp_path: Path) -> None:
    lake = sample_pipeline.lake
    anchors = [
        r["anchor_item_id"]
        for r in lake.read(ITEM_CROSS_SELL.name)
        .select("anchor_item_id")
        .distinct()
        .orderBy("anchor_item_id")
        .limit(2)
        .collect()
    ]
    users = [
        r["user_id"]
        for r in lake.read(USER_CROSS_SELL.name).select("user_id").distinct().orderBy("user_id").limit(2).collect()
    ]
    params = {
        "lakehouse_root": lake.root,
        "plot_dir": str(tmp_path),
        "anchors": ", ".join(anchors),
        "users": ",".join(users),
    }
    namespace = run_notebook(NOTEBOOKS / "03_cross_sell_review.py", spark, params)

    assert _png(tmp_path / "cross_sell_review.png") > 5_000
    assert [f.axes[0].get_title() for f in _figures(namespace)] == ["Recommendations per reason code"]
    anchor_review = namespace["anchor_review"].toPandas()
    assert sorted(anchor_review["anchor_item_id"].unique()) == anchors  # the widgets' choice, nothing else
    assert (anchor_review["reason"].str.len() > 0).all() and anchor_review["anchor_title"].notna().all()
    assert (anchor_review["item_category_name"] != anchor_review["anchor_category_name"]).all()
    expected = lake.read(ITEM_CROSS_SELL.name).where(F.col("anchor_item_id").isin(anchors)).count()
    assert len(anchor_review) == expected
    user_review = namespace["user_review"].toPandas()
    assert sorted(user_review["user_id"].unique()) == users
    for _, frame in user_review.groupby("user_id"):
        assert list(frame["rank"]) == list(range(1, len(frame) + 1))
    history = namespace["history"].toPandas()
    assert set(history["user_id"]) == set(users) and (history["events"] > 0).all()
    reasons = namespace["reasons"]
    assert set(reasons["list_type"]) == {"item", "user"} and (reasons["count"] > 0).all()
