"""SAR (Microsoft Recommenders' Smart Adaptive Recommendations) as a baseline, in Spark transforms.

Item-to-item similarity is the Jaccard index over distinct training buyers,
J(i, j) = users(i and j) / (users(i) + users(j) - users(i and j)); a user's affinity for an item is
the sum over their training events of weight(event type) * 2^(-(t_ref - t) / half-life). A user's
list scores an item j by sum_i a(u, i) * J(i, j); an anchor's list by J(anchor, j).
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from crosssell_spark.evaluation.baselines import NEIGHBOUR, USERS, eligible, rank_per_key
from crosssell_spark.evaluation.tasks import KEY
from crosssell_spark.interest.interactions import event_weight, recency_decay
from crosssell_spark.schemas import CO_USERS, ITEM_CATEGORY, ITEM_ID, JACCARD, SCORE, USER_ID

AFFINITY = "affinity"


def sar_similarity(lines: DataFrame, min_users: int, neighbours: int) -> DataFrame:
    """(item_id, neighbour, item_category, co_users, jaccard): each item's `neighbours` most similar
    items of other categories, from `tasks.bought` lines.

    Co-occurrence is per user, as SAR defines it, not per basket: two items co-occur when one shopper
    bought both, in any sessions. Pairs fewer than `min_users` distinct shoppers bought (the minimum
    crowd of `cooccurrence_floor`) are dropped; items with fewer buyers than that cannot reach it, so
    they are left out of the self-join. Same-category pairs are never built: no task may show them
    (an anchor's category and a user's known categories are excluded), so no list changes. The cap
    on neighbours (as `cooccurrence_neighbours`) bounds the user scoring join; an anchor list is
    exact while k <= neighbours.
    """
    owners = lines.select(USER_ID, ITEM_ID, ITEM_CATEGORY).distinct()
    buyers = owners.groupBy(ITEM_ID).agg(F.count(F.lit(1)).alias(USERS)).where(F.col(USERS) >= min_users)
    owners = owners.join(buyers, ITEM_ID)
    left = owners.select(
        USER_ID,
        F.col(ITEM_ID).alias("_anchor"),
        F.col(ITEM_CATEGORY).alias("_anchor_category"),
        F.col(USERS).alias("_anchor_users"),
    )
    right = owners.select(USER_ID, F.col(ITEM_ID).alias(NEIGHBOUR), ITEM_CATEGORY, USERS)
    pairs = (
        left.join(right, USER_ID)
        .where(F.col("_anchor_category") != F.col(ITEM_CATEGORY))
        .groupBy("_anchor", NEIGHBOUR, ITEM_CATEGORY, "_anchor_users", USERS)
        .agg(F.count(F.lit(1)).alias(CO_USERS))
        .where(F.col(CO_USERS) >= min_users)
    )
    jaccard = F.col(CO_USERS) / (F.col("_anchor_users") + F.col(USERS) - F.col(CO_USERS))
    closest = Window.partitionBy(ITEM_ID).orderBy(F.col(JACCARD).desc(), F.col(NEIGHBOUR))
    return (
        pairs.select(F.col("_anchor").alias(ITEM_ID), NEIGHBOUR, ITEM_CATEGORY, CO_USERS, jaccard.alias(JACCARD))
        .withColumn("_r", F.row_number().over(closest))
        .where(F.col("_r") <= neighbours)
        .drop("_r")
    )


def user_affinity(
    events: DataFrame, event_weights: dict[str, float], half_life_days: float, reference_ts: datetime
) -> DataFrame:
    """events -> (user_id, item_id, affinity): sum of weight(event type) * 2^(-(reference_ts - t) / half-life).

    Unlike the interest stage's interaction weight, the sum is not capped (SAR's affinity).
    """
    decayed = event_weight(event_weights) * recency_decay(half_life_days, reference_ts)
    return (
        events.select(USER_ID, ITEM_ID, decayed.alias(AFFINITY))
        .where(F.col(AFFINITY) > 0)
        .groupBy(USER_ID, ITEM_ID)
        .agg(F.sum(AFFINITY).alias(AFFINITY))
    )


def anchor_affinity(keys: DataFrame) -> DataFrame:
    """(key, item_id, affinity): an anchor is its own only seed, with affinity 1."""
    return keys.select(KEY, F.col(KEY).alias(ITEM_ID), F.lit(1.0).alias(AFFINITY))


def sar_top_k(keys: DataFrame, seeds: DataFrame, similarity: DataFrame, k: int) -> DataFrame:
    """The k eligible items per key with the highest sum over seeds i of affinity(key, i) * J(i, j).

    `seeds` (key, item_id, affinity): `anchor_affinity`, or a user's `user_affinity` keyed by user.
    """
    scores = (
        seeds.select(KEY, ITEM_ID, AFFINITY)
        .join(keys.select(KEY), KEY, "left_semi")
        .join(similarity, ITEM_ID)
        .groupBy(KEY, F.col(NEIGHBOUR).alias(ITEM_ID), ITEM_CATEGORY)
        .agg(F.sum(F.col(AFFINITY) * F.col(JACCARD)).alias(SCORE))
    )
    return rank_per_key(scores.join(keys, KEY).where(eligible()), k)
