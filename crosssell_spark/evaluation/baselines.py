"""Baseline lists, computed on the training side of the split for the same keys as the pipeline's.

Every baseline takes `keys` (key, excluded_categories, excluded_items) from a task and returns
(key, item_id, item_category, rank, score) with at most k items per key, none of them excluded:
    popularity           the most bought items overall (only excluded items removed)
    popularity_eligible  the most bought items of the categories the key may be shown
    cooccurrence         items most often in one training basket with the key's seed items, other categories
    cooccurrence_floor   the same, counting only pairs at least `similarity.cooccurrence.min_users`
                         distinct shoppers bought together: what co-occurrence may publish under
                         the pipeline's privacy floor
    als                  plain ALS: the items nearest to the anchor's factors (cosine) or with the
                         highest preference for the user (dot product), eligible categories only
    sar                  Microsoft Recommenders' SAR (`sar.py`): Jaccard over distinct buyers under the
                         same minimum crowd, times a time-decayed user affinity, eligible categories only
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, IntegerType, StringType, StructField, StructType

from crosssell_spark.evaluation.tasks import BASKET, EXCLUDED_CATEGORIES, EXCLUDED_ITEMS, KEY
from crosssell_spark.schemas import CO_BASKETS, CO_USERS, FEATURES, ITEM_CATEGORY, ITEM_ID, RANK, SCORE, USER_ID

USERS = "users"
POPULARITY, POPULARITY_ELIGIBLE, COOCCURRENCE, COOCCURRENCE_FLOOR, ALS, SAR, PIPELINE = (
    "popularity", "popularity_eligible", "cooccurrence", "cooccurrence_floor", "als", "sar", "pipeline",
)  # fmt: skip
BASELINES = (POPULARITY, POPULARITY_ELIGIBLE, COOCCURRENCE, COOCCURRENCE_FLOOR, ALS, SAR)
# The baselines that obey the minimum crowd: the pipeline's targets (raw co-occurrence, whose lead
# comes from pairs below the floor, stays in the report for reference).
TARGETS = (POPULARITY, POPULARITY_ELIGIBLE, COOCCURRENCE_FLOOR, ALS, SAR)
RECS_SCHEMA = StructType(
    [
        StructField(KEY, StringType(), False),
        StructField(ITEM_ID, StringType(), False),
        StructField(ITEM_CATEGORY, StringType(), False),
        StructField(RANK, IntegerType(), False),
        StructField(SCORE, DoubleType(), False),
    ]
)
NEIGHBOUR = "neighbour"


def eligible(respect_categories: bool = True) -> Column:
    """Candidate is not an excluded item (and, unless global, not in an excluded category)."""
    allowed = ~F.array_contains(F.col(EXCLUDED_ITEMS), F.col(ITEM_ID))
    if respect_categories:
        allowed = allowed & ~F.array_contains(F.col(EXCLUDED_CATEGORIES), F.col(ITEM_CATEGORY))
    return allowed


def rank_per_key(candidates: DataFrame, k: int) -> DataFrame:
    """(key, item_id, item_category, score) -> the k best per key by score (ties by item id)."""
    order = Window.partitionBy(KEY).orderBy(F.col(SCORE).desc(), F.col(ITEM_ID))
    return (
        candidates.withColumn(RANK, F.row_number().over(order))
        .where(F.col(RANK) <= k)
        .select(KEY, ITEM_ID, ITEM_CATEGORY, RANK, F.col(SCORE).cast("double").alias(SCORE))
    )


def item_users(lines: DataFrame) -> DataFrame:
    """(item_id, item_category, users): distinct training buyers per item, from `tasks.bought` lines."""
    return lines.groupBy(ITEM_ID, ITEM_CATEGORY).agg(F.countDistinct(USER_ID).alias(USERS))


def global_popularity(keys: DataFrame, popularity: DataFrame, k: int, pool: int) -> DataFrame:
    """The k most bought items per key after removing its excluded items (from the top k + pool)."""
    head = popularity.orderBy(F.col(USERS).desc(), F.col(ITEM_ID)).limit(k + pool)
    candidates = keys.crossJoin(F.broadcast(head.select(ITEM_ID, ITEM_CATEGORY, F.col(USERS).alias(SCORE))))
    return rank_per_key(candidates.where(eligible(respect_categories=False)), k)


def eligible_popularity(keys: DataFrame, popularity: DataFrame, k: int) -> DataFrame:
    """The k most bought items of the key's eligible categories.

    Excluded items always lie in excluded categories (an anchor in its own category, a user's
    purchases in categories they know), so each category's k most bought items are a complete pool;
    keys sharing one set of excluded categories share one ranking.
    """
    in_category = Window.partitionBy(ITEM_CATEGORY).orderBy(F.col(USERS).desc(), F.col(ITEM_ID))
    pool = popularity.withColumn("_r", F.row_number().over(in_category)).where(F.col("_r") <= k)
    signatures = keys.select(F.array_sort(EXCLUDED_CATEGORIES).alias(EXCLUDED_CATEGORIES)).distinct()
    ranked = rank_per_key(
        signatures.withColumn(KEY, F.to_json(EXCLUDED_CATEGORIES))
        .withColumn(EXCLUDED_ITEMS, F.array().cast("array<string>"))
        .crossJoin(F.broadcast(pool.select(ITEM_ID, ITEM_CATEGORY, F.col(USERS).alias(SCORE))))
        .where(eligible()),
        k,
    ).withColumnRenamed(KEY, "_signature")
    per_key = keys.select(KEY, F.to_json(F.array_sort(EXCLUDED_CATEGORIES)).alias("_signature"))
    return per_key.join(ranked, "_signature").select(KEY, ITEM_ID, ITEM_CATEGORY, RANK, SCORE)


def cooccurrence_pairs(lines: DataFrame) -> DataFrame:
    """(item_id, neighbour, item_category, co_baskets, co_users): every pair of items of different
    categories bought in one training basket, with the distinct baskets and shoppers holding both."""
    anchor = (F.col(ITEM_ID).alias("_anchor"), F.col(ITEM_CATEGORY).alias("_anchor_category"))
    left = lines.select(BASKET, USER_ID, *anchor)
    right = lines.select(BASKET, F.col(ITEM_ID).alias(NEIGHBOUR), ITEM_CATEGORY)
    return (
        left.join(right, BASKET)
        .where(F.col("_anchor_category") != F.col(ITEM_CATEGORY))
        .groupBy(F.col("_anchor").alias(ITEM_ID), NEIGHBOUR, ITEM_CATEGORY)
        .agg(F.count(F.lit(1)).alias(CO_BASKETS), F.countDistinct(USER_ID).alias(CO_USERS))
    )


def cooccurrence_neighbours(pairs: DataFrame, neighbours: int, min_users: int = 1) -> DataFrame:
    """`cooccurrence_pairs` -> (item_id, neighbour, item_category, co_baskets): each item's most
    co-bought items; no lift or content, and no privacy floor unless `min_users` > 1 (pairs fewer
    distinct shoppers bought together are dropped)."""
    strongest = Window.partitionBy(ITEM_ID).orderBy(F.col(CO_BASKETS).desc(), F.col(NEIGHBOUR))
    return (
        pairs.where(F.col(CO_USERS) >= min_users)
        .withColumn("_r", F.row_number().over(strongest))
        .where(F.col("_r") <= neighbours)
        .select(ITEM_ID, NEIGHBOUR, ITEM_CATEGORY, CO_BASKETS)
    )


def cooccurrence(keys: DataFrame, seeds: DataFrame, neighbours: DataFrame, k: int) -> DataFrame:
    """Items co-bought with the key's seed items (the anchor itself, or a user's training purchases),
    scored by summed co-basket counts, eligible categories only."""
    summed = (
        seeds.select(KEY, ITEM_ID)
        .join(neighbours, ITEM_ID)
        .groupBy(KEY, F.col(NEIGHBOUR).alias(ITEM_ID), ITEM_CATEGORY)
        .agg(F.sum(CO_BASKETS).alias(SCORE))
    )
    return rank_per_key(summed.join(keys, KEY).where(eligible()), k)


def als_top_k(keys: DataFrame, vectors: DataFrame, item_factors: DataFrame, k: int, cosine: bool) -> DataFrame:
    """Plain ALS top k per key among eligible items, scored against every ALS-trained item.

    `vectors` (key, features): the anchor item's or the user's factors; `item_factors`
    (item_id, item_category, features): every item ALS trained. The item matrix is broadcast to the
    executors (items x rank floats) and each batch of keys is scored with one matrix product.
    """
    rows = item_factors.select(ITEM_ID, ITEM_CATEGORY, FEATURES).orderBy(ITEM_ID).collect()
    if not rows:
        return keys.sparkSession.createDataFrame([], RECS_SCHEMA)
    ids = np.array([r[ITEM_ID] for r in rows], dtype=object)
    categories = np.array([r[ITEM_CATEGORY] for r in rows], dtype=object)
    matrix = np.array([r[FEATURES] for r in rows], dtype=np.float64)
    if cosine:
        matrix = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    shared = keys.sparkSession.sparkContext.broadcast((ids, categories, matrix))

    def score(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        item_ids, item_categories, factors = shared.value
        position = {item: i for i, item in enumerate(item_ids)}
        for batch in batches:
            if batch.empty:
                continue
            vectors_ = np.stack([np.asarray(v, dtype=np.float64) for v in batch[FEATURES]])
            if cosine:
                vectors_ = vectors_ / np.maximum(np.linalg.norm(vectors_, axis=1, keepdims=True), 1e-12)
            scores = vectors_ @ factors.T
            out = []
            for row, key in enumerate(batch[KEY]):
                s = scores[row]
                s[np.isin(item_categories, list(batch[EXCLUDED_CATEGORIES].iloc[row]))] = -np.inf
                s[[position[i] for i in batch[EXCLUDED_ITEMS].iloc[row] if i in position]] = -np.inf
                n = min(k, int(np.isfinite(s).sum()))
                if n == 0:
                    continue
                best = np.argpartition(-s, n - 1)[:n]
                best = best[np.lexsort((item_ids[best], -s[best]))]
                columns = {
                    KEY: key,
                    ITEM_ID: item_ids[best],
                    ITEM_CATEGORY: item_categories[best],
                    RANK: np.arange(1, n + 1, dtype=np.int32),
                    SCORE: s[best],
                }
                out.append(pd.DataFrame(columns))
            if out:
                yield pd.concat(out, ignore_index=True)

    queries = keys.join(vectors.select(KEY, FEATURES), KEY)
    return queries.select(KEY, FEATURES, EXCLUDED_CATEGORIES, EXCLUDED_ITEMS).mapInPandas(score, RECS_SCHEMA)
