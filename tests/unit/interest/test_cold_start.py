"""Fallback factors for items ALS never saw: nearest category centroid on the item's path, else global."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession

from crosssell_spark.interest.cold_start import fill_unseen_items, popularity_fallback_score
from crosssell_spark.schemas import (
    CATEGORY_IDS,
    FACTOR_ALS,
    FACTOR_CATEGORY_CENTROID,
    FACTOR_GLOBAL_CENTROID,
    FACTOR_SOURCE,
    FEATURES,
    HISTORY_USERS,
    ITEM_ID,
    ITEM_IDX,
)


def test_unseen_items_take_the_deepest_trained_centroid_on_their_path(spark: SparkSession):
    items = spark.createDataFrame(
        [
            ("T1", ["e", "e/phones", "e/phones/cases"]),
            ("T2", ["e", "e/phones", "e/phones/cases"]),
            ("T3", ["e", "e/audio"]),
            ("N1", ["e", "e/phones", "e/phones/cases"]),  # trained siblings in its leaf
            ("N2", ["e", "e/phones", "e/phones/chargers"]),  # nothing trained in its leaf: the parent
            ("N3", ["g", "g/pasta"]),  # nothing trained under its root: all items
        ],
        f"{ITEM_ID} string, {CATEGORY_IDS} array<string>",
    )
    item_map = spark.createDataFrame([(i, n) for n, i in enumerate(["T1", "T2", "T3", "N1", "N2", "N3"], 1)],
                                     f"{ITEM_ID} string, {ITEM_IDX} int")  # fmt: skip
    trained = spark.createDataFrame(
        [
            ("T1", 1, [1.0, 0.0], FACTOR_ALS, 4),
            ("T2", 2, [3.0, 2.0], FACTOR_ALS, 2),
            ("T3", 3, [-4.0, 1.0], FACTOR_ALS, 1),
        ],
        f"{ITEM_ID} string, {ITEM_IDX} int, {FEATURES} array<float>, {FACTOR_SOURCE} string, {HISTORY_USERS} int",
    )
    rows = {r[ITEM_ID]: r for r in trained.transform(fill_unseen_items(items, item_map)).collect()}
    assert set(rows) == {"T1", "T2", "T3", "N1", "N2", "N3"}
    assert rows["T1"][FACTOR_SOURCE] == FACTOR_ALS and rows["T1"][HISTORY_USERS] == 4
    assert rows["N1"][FEATURES] == pytest.approx([2.0, 1.0])  # mean of T1, T2 (leaf)
    assert rows["N2"][FEATURES] == pytest.approx([2.0, 1.0])  # e/phones holds T1, T2
    assert rows["N3"][FEATURES] == pytest.approx([0.0, 1.0])  # mean of all three
    assert [rows[i][FACTOR_SOURCE] for i in ("N1", "N2", "N3")] == [FACTOR_CATEGORY_CENTROID] * 2 + [
        FACTOR_GLOBAL_CENTROID
    ]
    assert {rows[i][HISTORY_USERS] for i in ("N1", "N2", "N3")} == {0}
    assert rows["N2"][ITEM_IDX] == 5


def test_popularity_fallback_shrinks_own_share_towards_popularity(spark: SparkSession):
    from pyspark.sql import functions as F

    row = (
        spark.range(1)
        .select(
            popularity_fallback_score(F.lit(1), F.lit(1.0), F.lit(0.1), 4.0).alias("one_item"),
            popularity_fallback_score(F.lit(100), F.lit(1.0), F.lit(0.1), 4.0).alias("many_items"),
        )
        .first()
    )
    assert row["one_item"] == pytest.approx((1 + 0.4) / 5)
    assert row["many_items"] == pytest.approx((100 + 0.4) / 104)
