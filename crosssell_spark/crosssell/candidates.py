"""Candidate generation and score components for both cross-sell lists, in Spark.

No users x items cross join: item lists come from each anchor's similarity neighbours, then its
category's most affine categories' popular items, then a short global popular list; user lists
come from the user's interest categories' popular items and their recent purchases' neighbours,
then the popular list. Each row carries its evidence and score components; `lists.finish` blends,
applies the rules, ranks and explains (`candidates_local.py` builds the same frame on the driver).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from crosssell_spark.config import ItemListConfig, UserListConfig
from crosssell_spark.crosssell.lists import PRIORITY
from crosssell_spark.crosssell.signals import dot, factor_cosine, positive_lift
from crosssell_spark.schemas import (
    AFFINITY,
    ALS_NEIGHBOUR,
    ALS_SCORE,
    ANCHOR_CATEGORY,
    ANCHOR_ITEM_ID,
    ANCHOR_PRICE,
    ANCHOR_TITLE,
    BASKET,
    BASKET_SHARE,
    BASKETS_PER_BUYER,
    CATEGORY_A,
    CATEGORY_AFFINITY_SCORE,
    CATEGORY_B,
    CATEGORY_CONFIDENCE,
    CATEGORY_ID,
    CATEGORY_USERS,
    CO_USERS,
    CONFIDENCE,
    CONTENT_SCORE,
    COOCCURRENCE_SCORE,
    FEATURES,
    INTEREST,
    INTEREST_COMPONENT,
    INTEREST_RANK,
    INTEREST_SCORE,
    IS_BEHAVIOURAL,
    IS_CONTENT,
    IS_NEW_CATEGORY,
    IS_OWNED,
    IS_SEMANTIC,
    ITEM_A,
    ITEM_B,
    ITEM_CATEGORY,
    ITEM_ID,
    ITEM_IN_STOCK,
    ITEM_PRICE,
    ITEM_TITLE,
    ITEM_USERS,
    JACCARD,
    LIFT,
    LIFT_SCORE,
    NEIGHBOUR,
    OBSERVED_SHARE,
    POPULAR,
    POPULARITY,
    POPULARITY_RANK,
    POPULARITY_SCORE,
    SEMANTIC,
    SEMANTIC_NEIGHBOUR,
    SEMANTIC_SCORE,
    SOURCE_NAME,
    SOURCE_PRIORITY,
    USER_ID,
)

EVIDENCE = (JACCARD, CONFIDENCE, LIFT, CO_USERS, SEMANTIC, IS_CONTENT, IS_BEHAVIOURAL, IS_SEMANTIC)
# What `lists.finish` reads of a candidate (plus the list key and the list kind's components).
CANDIDATE_COLUMNS = (
    ITEM_ID, ITEM_CATEGORY, ANCHOR_ITEM_ID, ANCHOR_CATEGORY, SOURCE_NAME, SOURCE_PRIORITY, *EVIDENCE,
    ITEM_PRICE, ANCHOR_PRICE, ITEM_IN_STOCK, ITEM_TITLE, ANCHOR_TITLE, ITEM_USERS,
)  # fmt: skip
# What each candidate row reads of `signals.item_popularity` (the share and repeat columns are ranker features).
POPULARITY_COLUMNS = (POPULARITY, ITEM_USERS, BASKET_SHARE, BASKETS_PER_BUYER)


def _source(name: str) -> list[Column]:
    return [F.lit(name).alias(SOURCE_NAME), F.lit(PRIORITY[name]).alias(SOURCE_PRIORITY)]


def _evidence() -> list[Column]:
    """An item_similarity row's evidence (`is_semantic` is null in rows of a table written before it)."""
    return [F.coalesce(F.col(c), F.lit(False)).alias(c) if c == IS_SEMANTIC else F.col(c) for c in EVIDENCE]


def _no_evidence() -> list[Column]:
    return [
        F.lit(None).cast("double").alias(JACCARD),
        F.lit(None).cast("double").alias(CONFIDENCE),
        F.lit(None).cast("double").alias(LIFT),
        F.lit(None).cast("long").alias(CO_USERS),
        F.lit(None).cast("double").alias(SEMANTIC),
        F.lit(False).alias(IS_CONTENT),
        F.lit(False).alias(IS_BEHAVIOURAL),
        F.lit(False).alias(IS_SEMANTIC),
    ]


def top_popular(popularity: DataFrame, n: int) -> DataFrame:
    """The n items with most distinct users (ties by id)."""
    return popularity.orderBy(F.col(ITEM_USERS).desc(), F.col(ITEM_ID)).limit(n)


def as_anchor(attributes: DataFrame) -> DataFrame:
    """Item attributes renamed for the anchor side of a pair: anchor_item_id, anchor_price, anchor_title."""
    return attributes.select(
        F.col(ITEM_ID).alias(ANCHOR_ITEM_ID),
        F.col(ITEM_PRICE).alias(ANCHOR_PRICE),
        F.col(ITEM_TITLE).alias(ANCHOR_TITLE),
    )


# --- item lists -----------------------------------------------------------------------------------

ANCHOR_BLOCK = 512  # anchors scored per matrix product (block x items floats in memory)


def als_neighbours(anchors: DataFrame, item_factors: DataFrame, categories: DataFrame, n: int) -> DataFrame:
    """(anchor_item_id, anchor_category) -> (anchor_item_id, item_id, anchor_category): each anchor's n
    nearest items of other categories by cosine of their ALS factors (ties by item id).

    The item matrix (items x rank) is broadcast once and each block of anchors is scored with one
    matrix product, so there is no items x items join. ALS factors aggregate every shopper: no pair
    count is read, so the minimum crowd does not apply.

    Args:
        item_factors: item_id, features. categories: item_id, item_category of the catalogue.
    """
    schema = f"{ANCHOR_ITEM_ID} string, {ITEM_ID} string, {ANCHOR_CATEGORY} string"
    rows = item_factors.join(categories.select(ITEM_ID, ITEM_CATEGORY), ITEM_ID).orderBy(ITEM_ID).collect()
    if n == 0 or not rows:
        return anchors.sparkSession.createDataFrame([], schema)
    ids = np.array([r[ITEM_ID] for r in rows], dtype=object)
    # categories as integer codes: comparing the strings of a block x items mask took 60 % of the time
    categories_of_items = pd.Series([r[ITEM_CATEGORY] for r in rows], dtype=object)
    item_categories, category_names = pd.factorize(categories_of_items, use_na_sentinel=False)
    matrix = np.array([r[FEATURES] for r in rows], dtype=np.float64)
    matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    shared = anchors.sparkSession.sparkContext.broadcast((ids, item_categories, pd.Index(category_names), matrix))
    take = min(n, len(ids))

    def nearest(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        item_ids, cats, names, m = shared.value
        for batch in batches:
            for start in range(0, len(batch), ANCHOR_BLOCK):
                block = batch.iloc[start : start + ANCHOR_BLOCK]
                v = np.stack([np.asarray(f, dtype=np.float64) for f in block[FEATURES]])
                v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
                scores = v @ m.T
                own = names.get_indexer(block[ANCHOR_CATEGORY])  # -1 (matches no code): no item has it
                scores[cats[None, :] == own[:, None]] = -np.inf
                best = np.argpartition(-scores, take - 1, axis=1)[:, :take]
                picked = np.take_along_axis(scores, best, axis=1)
                order = np.lexsort((item_ids[best], -picked), axis=1)
                best, picked = np.take_along_axis(best, order, axis=1), np.take_along_axis(picked, order, axis=1)
                keep = np.isfinite(picked)
                yield pd.DataFrame(
                    {
                        ANCHOR_ITEM_ID: np.repeat(block[ANCHOR_ITEM_ID].to_numpy(dtype=object), take)[keep.ravel()],
                        ITEM_ID: item_ids[best][keep],
                        ANCHOR_CATEGORY: np.repeat(block[ANCHOR_CATEGORY].to_numpy(dtype=object), take)[keep.ravel()],
                    }
                )

    with_factors = anchors.join(item_factors.select(F.col(ITEM_ID).alias(ANCHOR_ITEM_ID), FEATURES), ANCHOR_ITEM_ID)
    return with_factors.select(ANCHOR_ITEM_ID, ANCHOR_CATEGORY, FEATURES).mapInPandas(nearest, schema)


def item_candidates(
    anchors: DataFrame,
    similarity: DataFrame,
    category_affinity: DataFrame,
    popularity: DataFrame,
    item_factors: DataFrame,
    cfg: ItemListConfig,
) -> DataFrame:
    """(anchor_item_id, item_id, anchor_category, source, evidence...) from every source: similarity
    neighbours, ALS neighbours, popular items of affine categories, globally popular items.

    Args:
        anchors: anchor_item_id, anchor_category.
        popularity: from `signals.item_popularity`.
        item_factors: item_id, features (ALS).
    """
    semantic_only = F.coalesce(F.col(IS_SEMANTIC), F.lit(False)) & ~F.col(IS_CONTENT) & ~F.col(IS_BEHAVIOURAL)
    neighbours = similarity.select(
        F.col(ITEM_A).alias(ANCHOR_ITEM_ID),
        F.col(ITEM_B).alias(ITEM_ID),
        F.col(CATEGORY_A).alias(ANCHOR_CATEGORY),
        *_evidence(),
        F.when(semantic_only, F.lit(SEMANTIC_NEIGHBOUR)).otherwise(F.lit(NEIGHBOUR)).alias(SOURCE_NAME),
        F.when(semantic_only, F.lit(PRIORITY[SEMANTIC_NEIGHBOUR]))
        .otherwise(F.lit(PRIORITY[NEIGHBOUR]))
        .alias(SOURCE_PRIORITY),
    )
    affine = (
        category_affinity.withColumn(
            "_r",
            F.row_number().over(
                Window.partitionBy(CATEGORY_A).orderBy(F.col(CONFIDENCE).desc(), F.col(LIFT).desc(), F.col(CATEGORY_B))
            ),
        )
        .filter(F.col("_r") <= cfg.affinity_categories)
        .select(F.col(CATEGORY_A).alias(ANCHOR_CATEGORY), F.col(CATEGORY_B).alias(ITEM_CATEGORY))
    )
    popular_in_category = popularity.filter(F.col(POPULARITY_RANK) <= cfg.items_per_category).select(
        ITEM_ID, ITEM_CATEGORY
    )
    by_affinity = (
        anchors.join(affine, ANCHOR_CATEGORY)
        .join(popular_in_category, ITEM_CATEGORY)
        .select(ANCHOR_ITEM_ID, ITEM_ID, ANCHOR_CATEGORY, *_no_evidence(), *_source(AFFINITY))
    )
    popular = anchors.crossJoin(
        F.broadcast(top_popular(popularity, cfg.popular_fallback_items).select(ITEM_ID))
    ).select(ANCHOR_ITEM_ID, ITEM_ID, ANCHOR_CATEGORY, *_no_evidence(), *_source(POPULAR))
    by_als = als_neighbours(anchors, item_factors, popularity, cfg.als_neighbours).select(
        ANCHOR_ITEM_ID, ITEM_ID, ANCHOR_CATEGORY, *_no_evidence(), *_source(ALS_NEIGHBOUR)
    )
    return (
        neighbours.unionByName(by_als)
        .unionByName(by_affinity)
        .unionByName(popular)
        .filter(F.col(ANCHOR_ITEM_ID) != F.col(ITEM_ID))
    )


def item_candidate_features(
    candidates: DataFrame,
    attributes: DataFrame,
    popularity: DataFrame,
    category_affinity: DataFrame,
    item_factors: DataFrame,
) -> DataFrame:
    """Attach item and anchor attributes, crowd counts and every score component (`lists.finish` input)."""
    anchor_attributes = as_anchor(attributes)
    category_lift = category_affinity.select(
        F.col(CATEGORY_A).alias(ANCHOR_CATEGORY),
        F.col(CATEGORY_B).alias(ITEM_CATEGORY),
        F.col(LIFT).alias("_category_lift"),
        F.col(CONFIDENCE).alias(CATEGORY_CONFIDENCE),
        F.col(CO_USERS).alias(CATEGORY_USERS),
    )
    cosine = factor_cosine(item_factors)
    enriched = (
        candidates.join(attributes, ITEM_ID)
        .join(anchor_attributes, ANCHOR_ITEM_ID)
        .join(popularity.select(ITEM_ID, *POPULARITY_COLUMNS), ITEM_ID, "left")
        .join(category_lift, [ANCHOR_CATEGORY, ITEM_CATEGORY], "left")
    )
    return enriched.select(
        *CANDIDATE_COLUMNS,
        CATEGORY_USERS,
        CATEGORY_CONFIDENCE,
        BASKET_SHARE,
        BASKETS_PER_BUYER,
        F.coalesce(F.col(JACCARD), F.lit(0.0)).alias(CONTENT_SCORE),
        F.coalesce(F.col(SEMANTIC), F.lit(0.0)).alias(SEMANTIC_SCORE),
        F.coalesce(F.col(CONFIDENCE), F.lit(0.0)).alias(COOCCURRENCE_SCORE),
        F.coalesce(positive_lift(F.col(LIFT)), F.lit(0.0)).alias(LIFT_SCORE),
        F.coalesce(positive_lift(F.col("_category_lift")), F.lit(0.0)).alias(CATEGORY_AFFINITY_SCORE),
        F.greatest(F.coalesce(cosine(F.col(ANCHOR_ITEM_ID), F.col(ITEM_ID)), F.lit(0.0)), F.lit(0.0)).alias(ALS_SCORE),
        F.coalesce(F.col(POPULARITY), F.lit(0.0)).alias(POPULARITY_SCORE),
    )


# --- user lists -----------------------------------------------------------------------------------


def allowed_user_categories(interest: DataFrame, cfg: UserListConfig) -> DataFrame:
    """The categories each user may be recommended from under `category_rule`."""
    observed_rank = F.row_number().over(
        Window.partitionBy(USER_ID).orderBy(F.col(OBSERVED_SHARE).desc(), F.col(CATEGORY_ID))
    )
    ranked = interest.withColumn("_observed_rank", observed_rank)
    if cfg.category_rule == "new":
        allowed = ranked.filter(F.col(IS_NEW_CATEGORY))
    elif cfg.category_rule == "outside_top":
        allowed = ranked.filter(F.col(IS_NEW_CATEGORY) | (F.col("_observed_rank") > cfg.outside_top_n))
    else:
        allowed = ranked
    best = F.max(INTEREST_SCORE).over(Window.partitionBy(USER_ID))
    return allowed.select(
        USER_ID,
        F.col(CATEGORY_ID).alias(ITEM_CATEGORY),
        F.col(INTEREST_SCORE),
        (F.col(INTEREST_SCORE) / F.greatest(best, F.lit(1e-9))).alias(INTEREST_COMPONENT),
        F.col(IS_NEW_CATEGORY),
        F.col(INTEREST_RANK),
    )


def eligible_popular(allowed: DataFrame, popularity: DataFrame, per_category: int, n: int) -> DataFrame:
    """(user_id, item_id): each user's n most popular items of the categories they may see, from each
    category's `per_category` most popular (what the `popularity_eligible` baseline of evaluate lists)."""
    in_category = popularity.filter(F.col(POPULARITY_RANK) <= per_category).select(ITEM_ID, ITEM_CATEGORY, ITEM_USERS)
    order = Window.partitionBy(USER_ID).orderBy(F.col(ITEM_USERS).desc(), F.col(ITEM_ID))
    return (
        allowed.select(USER_ID, ITEM_CATEGORY)
        .join(in_category, ITEM_CATEGORY)
        .withColumn("_r", F.row_number().over(order))
        .filter(F.col("_r") <= n)
        .select(USER_ID, ITEM_ID)
    )


def user_candidates(
    allowed: DataFrame,
    recent_purchases: DataFrame,
    similarity: DataFrame,
    popularity: DataFrame,
    cfg: UserListConfig,
    popular_fallback_items: int,
) -> DataFrame:
    """(user_id, item_id, anchor_item_id, anchor_category, source, evidence...) from interest,
    basket neighbours and popularity; only categories the user may see survive (inner join).

    Args:
        recent_purchases: user_id, item_id (purchases), event_ts.
    """
    top_interest = allowed.withColumn(
        "_r", F.row_number().over(Window.partitionBy(USER_ID).orderBy(F.col(INTEREST_RANK), F.col(ITEM_CATEGORY)))
    ).filter(F.col("_r") <= cfg.interest_categories)
    popular_in_category = popularity.filter(F.col(POPULARITY_RANK) <= cfg.items_per_category).select(
        ITEM_ID, ITEM_CATEGORY
    )
    by_interest = top_interest.join(popular_in_category, ITEM_CATEGORY).select(
        USER_ID,
        ITEM_ID,
        F.lit(None).cast("string").alias(ANCHOR_ITEM_ID),
        F.lit(None).cast("string").alias(ANCHOR_CATEGORY),
        *_no_evidence(),
        *_source(INTEREST),
    )
    latest = Window.partitionBy(USER_ID).orderBy(F.col("event_ts").desc(), F.col(ITEM_ID))
    anchors = (
        recent_purchases.withColumn("_r", F.row_number().over(latest))
        .filter(F.col("_r") <= cfg.recent_anchors)
        .select(USER_ID, F.col(ITEM_ID).alias(ITEM_A))
    )
    by_basket = anchors.join(similarity, ITEM_A).select(
        USER_ID,
        F.col(ITEM_B).alias(ITEM_ID),
        F.col(ITEM_A).alias(ANCHOR_ITEM_ID),
        F.col(CATEGORY_A).alias(ANCHOR_CATEGORY),
        *_evidence(),
        *_source(BASKET),
    )
    popular = eligible_popular(allowed, popularity, cfg.items_per_category, popular_fallback_items).select(
        USER_ID,
        ITEM_ID,
        F.lit(None).cast("string").alias(ANCHOR_ITEM_ID),
        F.lit(None).cast("string").alias(ANCHOR_CATEGORY),
        *_no_evidence(),
        *_source(POPULAR),
    )
    return by_interest.unionByName(by_basket).unionByName(popular)


def user_candidate_features(
    candidates: DataFrame,
    allowed: DataFrame,
    attributes: DataFrame,
    popularity: DataFrame,
    user_factors: DataFrame,
    item_factors: DataFrame,
    owned: DataFrame,
) -> DataFrame:
    """Keep candidates in allowed categories; attach attributes, crowd counts, score components and
    whether the user owns the item (`lists.finish` input).

    Args:
        owned: user_id, item_id the user bought within `rules.exclude_owned_days` (`signals.purchases_within`).
    """
    anchor_attributes = as_anchor(attributes)
    enriched = (
        candidates.join(attributes, ITEM_ID)
        .join(allowed, [USER_ID, ITEM_CATEGORY])  # the per-user category rule
        .join(anchor_attributes, ANCHOR_ITEM_ID, "left")
        .join(popularity.select(ITEM_ID, *POPULARITY_COLUMNS), ITEM_ID, "left")
        .join(user_factors.select(USER_ID, F.col(FEATURES).alias("_user_f")), USER_ID, "left")
        .join(item_factors.select(F.col(ITEM_ID), F.col(FEATURES).alias("_item_f")), ITEM_ID, "left")
        .join(owned.select(USER_ID, ITEM_ID, F.lit(True).alias(IS_OWNED)), [USER_ID, ITEM_ID], "left")
    )
    preference = F.coalesce(dot(F.col("_user_f"), F.col("_item_f")), F.lit(0.0))
    return enriched.select(
        USER_ID,
        *CANDIDATE_COLUMNS,
        INTEREST_SCORE,
        IS_NEW_CATEGORY,
        INTEREST_RANK,
        BASKET_SHARE,
        BASKETS_PER_BUYER,
        F.coalesce(F.col(IS_OWNED), F.lit(False)).alias(IS_OWNED),
        F.least(F.greatest(preference, F.lit(0.0)), F.lit(1.0)).alias(ALS_SCORE),
        INTEREST_COMPONENT,
        F.coalesce(F.col(SEMANTIC), F.lit(0.0)).alias(SEMANTIC_SCORE),
        F.coalesce(F.col(CONFIDENCE), F.lit(0.0)).alias(COOCCURRENCE_SCORE),
        F.coalesce(F.col(POPULARITY), F.lit(0.0)).alias(POPULARITY_SCORE),
    )
