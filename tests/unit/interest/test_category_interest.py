"""The user x category interest graph on tiny hand-made factors, shares and categories."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import Row, SparkSession

from crosssell_spark.interest.category_interest import (
    ALS_SCORE,
    CANDIDATE_POS,
    POPULARITY,
    CategoryCandidates,
    als_category_scores,
    category_popularity,
    observed_weights,
    score_interest,
    top_items_per_category,
)
from crosssell_spark.schemas import (
    CATEGORY_ID,
    FACTOR_ALS,
    FACTOR_CATEGORY_CENTROID,
    FACTOR_SOURCE,
    FEATURES,
    HISTORY_ITEMS,
    HISTORY_USERS,
    INTERACTION_WEIGHT,
    INTEREST_RANK,
    INTEREST_SCORE,
    IS_NEW_CATEGORY,
    ITEM_ID,
    OBSERVED_SHARE,
    SCORE_ALS,
    SCORE_CENTROID,
    SCORE_POPULARITY,
    SCORE_SOURCE,
    USER_ID,
    USER_IDX,
)


def candidate(category: str, pos: int, features: list[float], source: str = FACTOR_ALS) -> Row:
    return Row(**{CATEGORY_ID: category, CANDIDATE_POS: pos, FEATURES: features, FACTOR_SOURCE: source})


@pytest.fixture
def candidates() -> CategoryCandidates:
    return CategoryCandidates.from_rows(
        [
            candidate("b", 1, [0.0, 1.0]),
            candidate("a", 2, [0.5, 0.0]),
            candidate("a", 1, [1.0, 0.0]),
            candidate("a", 3, [-1.0, 0.0]),
            candidate("c", 1, [0.2, 0.2], FACTOR_CATEGORY_CENTROID),
        ]
    )


def test_candidates_stack_per_category_and_know_which_lack_als_items(candidates):
    assert candidates.category_ids == ("a", "b", "c")
    assert candidates.bounds.tolist() == [0, 3, 4, 5]
    assert candidates.matrix[:3, 0].tolist() == [1.0, 0.5, -1.0]  # candidate order within a category
    assert candidates.without_als == frozenset({"c"})


def test_score_is_the_mean_of_the_top_k_affinities_within_each_category(candidates):
    users = np.array([[2.0, 1.0], [0.0, 0.0]])
    scores = candidates.scores(users, top_k=2)
    # user 0: a -> affinities 2, 1, -2: top-2 mean 1.5; b -> 1 (only one item); c -> 0.6
    np.testing.assert_allclose(scores, [[1.5, 1.0, 0.6], [0.0, 0.0, 0.0]], rtol=1e-6)


def test_spark_scores_match_the_matrix_product(spark: SparkSession, candidates):
    factors = spark.createDataFrame([(1, [2.0, 1.0]), (2, [0.0, 3.0])], f"{USER_IDX} int, {FEATURES} array<float>")
    rows = factors.transform(als_category_scores(candidates, top_k=1)).collect()
    got = {(r[USER_IDX], r[CATEGORY_ID]): r[ALS_SCORE] for r in rows}
    assert got == pytest.approx({(1, "a"): 2.0, (1, "b"): 1.0, (1, "c"): 0.6, (2, "a"): 0.0, (2, "b"): 3.0,
                                 (2, "c"): 0.6})  # fmt: skip


def test_top_items_put_trained_popular_items_first(spark: SparkSession):
    schema = f"{ITEM_ID} string, {FEATURES} array<float>, {FACTOR_SOURCE} string, {HISTORY_USERS} int"
    factors = spark.createDataFrame(
        [("P1", [1.0], FACTOR_ALS, 3), ("P2", [1.0], FACTOR_ALS, 9), ("P3", [1.0], FACTOR_CATEGORY_CENTROID, 0),
         ("P4", [1.0], FACTOR_ALS, 3)],
        schema,
    )  # fmt: skip
    item_category = spark.createDataFrame([(f"P{i}", "a") for i in range(1, 5)], [ITEM_ID, CATEGORY_ID])
    rows = factors.transform(top_items_per_category(3, item_category)).orderBy(CANDIDATE_POS).collect()
    assert [r[ITEM_ID] for r in rows] == ["P2", "P1", "P4"]  # most users first, ties by id, fallback last


def test_popularity_and_observed_shares(spark: SparkSession):
    interactions = spark.createDataFrame(
        [("U1", "P1", 3.0), ("U1", "P2", 1.0), ("U2", "P1", 4.0)], [USER_ID, ITEM_ID, INTERACTION_WEIGHT]
    )
    item_category = spark.createDataFrame([("P1", "a"), ("P2", "b"), ("P3", "c")], [ITEM_ID, CATEGORY_ID])
    popularity = {
        r[CATEGORY_ID]: r[POPULARITY] for r in interactions.transform(category_popularity(item_category)).collect()
    }
    assert popularity == pytest.approx({"a": 7 / 8, "b": 1 / 8, "c": 0.0})
    observed = interactions.transform(observed_weights(item_category)).collect()
    assert {(r[USER_ID], r[CATEGORY_ID]): r[OBSERVED_SHARE] for r in observed} == pytest.approx(
        {("U1", "a"): 0.75, ("U1", "b"): 0.25, ("U2", "a"): 1.0}
    )


def test_interest_rows_rank_sources_fallback_and_flags(spark: SparkSession, interest):
    cfg = interest.model_copy(update={"min_user_items": 3, "fallback_prior_items": 2.0, "categories_per_user": None})
    users = spark.createDataFrame([("W", 1, 10), ("C", 2, 1)], f"{USER_ID} string, {USER_IDX} int, {HISTORY_ITEMS} int")
    popularity = spark.createDataFrame([("a", 0.5), ("b", 0.3), ("c", 0.2)], [CATEGORY_ID, POPULARITY])
    observed = spark.createDataFrame(
        [("W", "a", 1.0, 1.0), ("C", "b", 2.0, 1.0)], [USER_ID, CATEGORY_ID, "observed_weight", OBSERVED_SHARE]
    )
    als_scores = spark.createDataFrame(
        [(1, "a", 0.4), (1, "b", 1.7), (1, "c", -0.2), (2, "a", 0.9), (2, "b", 0.1), (2, "c", 0.0)],
        f"{USER_IDX} int, {CATEGORY_ID} string, {ALS_SCORE} double",
    )
    rows = users.transform(score_interest(cfg, popularity, observed, als_scores, frozenset({"c"}), "r1")).collect()
    got = {(r[USER_ID], r[CATEGORY_ID]): r for r in rows}
    assert len(rows) == 6

    warm = sorted((got[("W", c)] for c in "abc"), key=lambda r: r[INTEREST_RANK])
    assert [r[CATEGORY_ID] for r in warm] == ["b", "a", "c"]
    assert [r[INTEREST_SCORE] for r in warm] == pytest.approx([1.0, 0.4, 0.0])  # ALS clipped into [0, 1]
    assert [r[SCORE_SOURCE] for r in warm] == [SCORE_ALS, SCORE_ALS, SCORE_CENTROID]
    assert [r[IS_NEW_CATEGORY] for r in warm] == [True, False, True]
    assert [r[OBSERVED_SHARE] for r in warm] == [0.0, 1.0, 0.0]

    # cold user (1 item < 3): own share shrunk to popularity, (n * share + m * pop) / (n + m), ALS ignored
    cold = sorted((got[("C", c)] for c in "abc"), key=lambda r: r[INTEREST_RANK])
    assert [r[CATEGORY_ID] for r in cold] == ["b", "a", "c"]
    assert [r[INTEREST_SCORE] for r in cold] == pytest.approx([(1 + 2 * 0.3) / 3, (2 * 0.5) / 3, (2 * 0.2) / 3])
    assert {r[SCORE_SOURCE] for r in cold} == {SCORE_POPULARITY}


def test_nan_als_scores_fall_back_and_top_n_keeps_ranks_contiguous(spark: SparkSession, interest):
    cfg = interest.model_copy(update={"min_user_items": 1, "categories_per_user": 2})
    users = spark.createDataFrame([("W", 1, 10)], f"{USER_ID} string, {USER_IDX} int, {HISTORY_ITEMS} int")
    popularity = spark.createDataFrame([("a", 0.5), ("b", 0.3), ("c", 0.2)], [CATEGORY_ID, POPULARITY])
    observed = spark.createDataFrame([], f"{USER_ID} string, {CATEGORY_ID} string, {OBSERVED_SHARE} double")
    als_scores = spark.createDataFrame(
        [(1, "a", float("nan")), (1, "b", 0.5), (1, "c", 0.1)],
        f"{USER_IDX} int, {CATEGORY_ID} string, {ALS_SCORE} double",
    )
    rows = users.transform(score_interest(cfg, popularity, observed, als_scores, frozenset(), "r1")).collect()
    assert sorted(r[INTEREST_RANK] for r in rows) == [1, 2]
    assert all(not np.isnan(r[INTEREST_SCORE]) for r in rows)
    assert {r[CATEGORY_ID]: r[SCORE_SOURCE] for r in rows}["a"] == SCORE_POPULARITY
