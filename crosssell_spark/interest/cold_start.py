"""Fallbacks where ALS has nothing to say, so that no score is ever NaN or missing.

- Items ALS never saw (no interactions yet): the centroid of the ALS factors of the deepest
  category on the item's path that has trained items (leaf first, then its parents), else the
  centroid of all trained items. `factor_source` records which.
- Users with fewer than `interest.min_user_items` distinct items: their few interactions do not pin
  a factor down, so their category interest is their own category shares shrunk towards category
  popularity, (n * share + m * popularity) / (n + m) with n their distinct items and
  m = `interest.fallback_prior_items`. `score_source` = popularity_fallback.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.ml.stat import Summarizer
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from crosssell_spark.schemas import (
    CATEGORY_ID,
    CATEGORY_IDS,
    FACTOR_CATEGORY_CENTROID,
    FACTOR_GLOBAL_CENTROID,
    FACTOR_SOURCE,
    FEATURES,
    HISTORY_USERS,
    ITEM_ID,
    ITEM_IDX,
)

DEPTH = "_depth"


def mean_features(df: DataFrame, *keys: str) -> DataFrame:
    """Element-wise mean of the `features` arrays per key (all rows when no key), as float arrays."""
    mean = vector_to_array(Summarizer.mean(array_to_vector(F.col(FEATURES))), "float32").alias(FEATURES)
    return df.groupBy(*keys).agg(mean)


def fill_unseen_items(items: DataFrame, item_map: DataFrame) -> Callable[[DataFrame], DataFrame]:
    """trained item factors -> the same rows plus one fallback row for every other item in `items`.

    Args:
        items: items_clean (item_id, category_ids root first).
        item_map: the id map, for the fallback items' item_idx.
    """

    def transform(trained: DataFrame) -> DataFrame:
        paths = items.select(ITEM_ID, CATEGORY_IDS)
        node_centroids = mean_features(
            trained.join(paths, ITEM_ID).select(F.explode(CATEGORY_IDS).alias(CATEGORY_ID), FEATURES), CATEGORY_ID
        )
        unseen = paths.join(trained.select(ITEM_ID), ITEM_ID, "left_anti").join(
            item_map.select(ITEM_ID, ITEM_IDX), ITEM_ID
        )
        on_path = unseen.select(ITEM_ID, ITEM_IDX, F.posexplode(CATEGORY_IDS).alias(DEPTH, CATEGORY_ID))
        deepest = Window.partitionBy(ITEM_ID).orderBy(F.col(DEPTH).desc())
        by_category = (
            on_path.join(node_centroids, CATEGORY_ID)
            .withColumn("_pick", F.row_number().over(deepest))
            .where(F.col("_pick") == 1)
            .select(ITEM_ID, ITEM_IDX, FEATURES, F.lit(FACTOR_CATEGORY_CENTROID).alias(FACTOR_SOURCE))
        )
        by_global = (
            unseen.join(by_category.select(ITEM_ID), ITEM_ID, "left_anti")
            .crossJoin(F.broadcast(mean_features(trained)))
            .select(ITEM_ID, ITEM_IDX, FEATURES, F.lit(FACTOR_GLOBAL_CENTROID).alias(FACTOR_SOURCE))
        )
        fallback = by_category.unionByName(by_global).withColumn(HISTORY_USERS, F.lit(0))
        return trained.select(ITEM_ID, ITEM_IDX, FEATURES, FACTOR_SOURCE, HISTORY_USERS).unionByName(fallback)

    return transform


def popularity_fallback_score(history_items: Column, share: Column, popularity: Column, prior_items: float) -> Column:
    """The user's own category share shrunk towards category popularity; in [0, 1] when both are."""
    n = history_items.cast("double")
    return (n * share + F.lit(float(prior_items)) * popularity) / (n + F.lit(float(prior_items)))
