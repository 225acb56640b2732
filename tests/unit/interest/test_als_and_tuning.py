"""ALS on a tiny two-block matrix, the time split, holdout pairs, ranking metrics and the grid."""

from __future__ import annotations

from datetime import datetime

import pytest
from pyspark.sql import DataFrame, SparkSession

from crosssell_spark.config import InterestConfig
from crosssell_spark.interest.als import ALS_FEATURES, ALS_ID, build_als, train
from crosssell_spark.interest.tuning import (
    PREDICTED,
    RELEVANT,
    before,
    grid,
    holdout_pairs,
    ranking_metrics,
    top_new_items,
    tune,
)
from crosssell_spark.schemas import EVENT_TS, INTERACTION_WEIGHT, ITEM_IDX, USER_IDX

RATINGS_SCHEMA = f"{USER_IDX} int, {ITEM_IDX} int, {INTERACTION_WEIGHT} float"


def two_blocks(spark: SparkSession, held_out: set[tuple[int, int]] = frozenset()) -> DataFrame:
    """Users 1-4 use items 1-4, users 5-8 use items 5-8 (minus `held_out`): two obvious tastes."""
    rows = [(u, i, 3.0) for u in range(1, 9) for i in range(1, 9) if (u <= 4) == (i <= 4) and (u, i) not in held_out]
    return spark.createDataFrame(rows, RATINGS_SCHEMA)


@pytest.fixture
def small(interest: InterestConfig) -> InterestConfig:
    als = interest.als.model_copy(update={"rank": 2, "max_iter": 5, "num_user_blocks": 1, "num_item_blocks": 1})
    tune_cfg = interest.tune.model_copy(
        update={"ranks": [2], "reg_params": [0.01, 0.1], "alphas": [1.0], "max_iter": 3, "k": 2, "overfetch": 8}
    )
    return interest.model_copy(update={"als": als, "tune": tune_cfg})


def test_als_is_implicit_seeded_and_configured(spark, small):
    als = build_als(small.als)
    assert als.getImplicitPrefs() is True
    assert als.getSeed() == small.als.seed
    assert (als.getRank(), als.getMaxIter(), als.getAlpha()) == (2, 5, small.als.alpha)
    assert (als.getUserCol(), als.getItemCol(), als.getRatingCol()) == (USER_IDX, ITEM_IDX, INTERACTION_WEIGHT)


def test_training_measures_the_matrix_and_learns_the_two_tastes(spark, small):
    model, stats = train(two_blocks(spark), small.als)
    assert (stats.n_users, stats.n_items, stats.n_interactions, stats.iterations) == (8, 8, 32, 5)
    assert stats.density == pytest.approx(0.5)
    assert stats.seconds > 0
    users = {r[ALS_ID]: r[ALS_FEATURES] for r in model.userFactors.collect()}
    items = {r[ALS_ID]: r[ALS_FEATURES] for r in model.itemFactors.collect()}
    score = lambda u, i: sum(a * b for a, b in zip(users[u], items[i], strict=True))  # noqa: E731
    assert score(1, 2) > score(1, 6) and score(6, 7) > score(6, 3)


def test_time_split_and_holdout_pairs_keep_only_new_known_pairs(spark):
    events = spark.createDataFrame([("2026-10-01 00:00:00",), ("2026-10-20 00:00:00",)], [EVENT_TS]).selectExpr(
        f"CAST({EVENT_TS} AS timestamp) AS {EVENT_TS}"
    )
    assert events.transform(before(datetime(2026, 10, 10))).count() == 1

    train_ratings = spark.createDataFrame([(1, 1, 1.0), (1, 2, 1.0), (2, 2, 1.0)], RATINGS_SCHEMA)
    later = spark.createDataFrame([(1, 1), (1, 2), (2, 1), (2, 9), (3, 1)], f"{USER_IDX} int, {ITEM_IDX} int")
    rows = later.transform(holdout_pairs(train_ratings)).collect()
    # (1,1), (1,2): already known; (2,9): item unknown to the model; user 3: unknown
    assert [(r[USER_IDX], r[RELEVANT]) for r in rows] == [(2, [1.0])]


def test_ranking_metrics_on_hand_made_lists(spark):
    predicted = spark.createDataFrame(
        [(1, [10.0, 11.0]), (2, [20.0, 21.0])], f"{USER_IDX} int, {PREDICTED} array<double>"
    )
    relevant = spark.createDataFrame(
        [(1, [11.0]), (2, [99.0]), (3, [30.0])], f"{USER_IDX} int, {RELEVANT} array<double>"
    )  # user 3 got no prediction: a miss
    metrics = ranking_metrics(predicted, relevant, k=2)
    assert metrics["precision_at_k"] == pytest.approx((0.5 + 0 + 0) / 3, abs=1e-6)  # rounded to 6 places
    assert metrics["recall_at_k"] == pytest.approx((1 + 0 + 0) / 3, abs=1e-6)


def test_grid_finds_held_out_items_and_reports_every_combination(spark, small):
    held_out = {(1, 4), (2, 3), (5, 8), (6, 7)}
    train_ratings = two_blocks(spark, held_out)
    later = spark.createDataFrame(sorted(held_out), f"{USER_IDX} int, {ITEM_IDX} int")
    model, _ = train(train_ratings, small.als)
    top = {
        r[USER_IDX]: r[PREDICTED] for r in top_new_items(model, later.select(USER_IDX), train_ratings, 2, 8).collect()
    }
    assert all(len(items) == 2 for items in top.values())  # the user's own training items were removed
    assert not {(u, int(i)) for u, items in top.items() for i in items} & {
        (r[USER_IDX], r[ITEM_IDX]) for r in train_ratings.collect()
    }

    result = tune(small, train_ratings, later, datetime(2026, 10, 1))
    assert len(result.combinations) == len(grid(small)) == 2
    assert [c["reg_param"] for c in result.combinations] == [0.01, 0.1]
    assert result.best["metrics"]["recall_at_k"] == 1.0  # the held-out item is the only unseen same-block one
    assert result.as_dict()["chosen_by"] == "ndcg_at_k"
