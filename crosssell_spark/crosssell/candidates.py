"""Candidate generation and the documented score blend for both cross-sell lists.

No users x items cross join: item lists come from each anchor's similarity neighbours, then its
category's most affine categories' popular items, then a short global popular list; user lists
come from the user's interest categories' popular items and their recent purchases' neighbours,
then the popular list. Evidence sources carry a priority (1 neighbours / interest / basket,
2 category affinity, 3 popularity); lists are filled from the best source first.

Blend (every component in [0, 1], weights in config `crosssell.item.weights` / `.user.weights`):
    item score = content·jaccard + cooccurrence·confidence + lift·(1 - 1/lift) +
                 category_affinity·(1 - 1/category lift) + als·cos(item factors) + popularity·pop
    user score = als·clip(user·item factors) + interest·(category interest / user's best) +
                 cooccurrence·confidence(recent purchase -> item) + popularity·pop
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from crosssell_spark.config import ItemListConfig, UserListConfig
from crosssell_spark.crosssell.rules import (
    ANCHOR_CATEGORY,
    ANCHOR_PRICE,
    ITEM,
    ITEM_CATEGORY,
    ITEM_PRICE,
    SCORE,
    SOURCE,
    SOURCE_PRIORITY,
    SUPPORT,
)
from crosssell_spark.crosssell.signals import (
    ITEM_TITLE,
    ITEM_USERS,
    POPULARITY,
    POPULARITY_RANK,
    cosine,
    dot,
    positive_lift,
)
from crosssell_spark.schemas import (
    ALS_SCORE,
    ANCHOR_ITEM_ID,
    CATEGORY_A,
    CATEGORY_AFFINITY_SCORE,
    CATEGORY_B,
    CATEGORY_ID,
    CO_USERS,
    CONFIDENCE,
    CONTENT_SCORE,
    COOCCURRENCE_SCORE,
    FEATURES,
    INTEREST_COMPONENT,
    INTEREST_RANK,
    INTEREST_SCORE,
    IS_BEHAVIOURAL,
    IS_CONTENT,
    IS_NEW_CATEGORY,
    ITEM_A,
    ITEM_B,
    JACCARD,
    LIFT,
    LIFT_SCORE,
    OBSERVED_SHARE,
    POPULARITY_SCORE,
    USER_ID,
)

ANCHOR_ITEM = ANCHOR_ITEM_ID
ANCHOR_TITLE = "anchor_title"

NEIGHBOUR, BASKET, INTEREST, AFFINITY, POPULAR = "neighbour", "basket", "interest", "category_affinity", "popular"
PRIORITY = {NEIGHBOUR: 1, BASKET: 1, INTEREST: 1, AFFINITY: 2, POPULAR: 3}
EVIDENCE = (JACCARD, CONFIDENCE, LIFT, CO_USERS, IS_CONTENT, IS_BEHAVIOURAL)


def _source(name: str) -> list[Column]:
    return [F.lit(name).alias(SOURCE), F.lit(PRIORITY[name]).alias(SOURCE_PRIORITY)]


def _no_evidence() -> list[Column]:
    return [
        F.lit(None).cast("double").alias(JACCARD),
        F.lit(None).cast("double").alias(CONFIDENCE),
        F.lit(None).cast("double").alias(LIFT),
        F.lit(None).cast("long").alias(CO_USERS),
        F.lit(False).alias(IS_CONTENT),
        F.lit(False).alias(IS_BEHAVIOURAL),
    ]


def top_popular(popularity: DataFrame, n: int) -> DataFrame:
    """The n items with most distinct users (ties by id)."""
    order = Window.orderBy(F.col(ITEM_USERS).desc(), F.col(ITEM))
    return popularity.withColumn("_r", F.row_number().over(order)).filter(F.col("_r") <= n).drop("_r")


def as_anchor(attributes: DataFrame) -> DataFrame:
    """Item attributes renamed for the anchor side of a pair: anchor_item_id, anchor_price, anchor_title."""
    return attributes.select(
        F.col(ITEM).alias(ANCHOR_ITEM), F.col(ITEM_PRICE).alias(ANCHOR_PRICE), F.col(ITEM_TITLE).alias(ANCHOR_TITLE)
    )


# --- item lists -----------------------------------------------------------------------------------


def item_candidates(
    anchors: DataFrame,
    similarity: DataFrame,
    category_affinity: DataFrame,
    popularity: DataFrame,
    cfg: ItemListConfig,
) -> DataFrame:
    """(anchor_item_id, item_id, anchor_category, source, evidence...) from all three sources.

    Args:
        anchors: anchor_item_id, anchor_category.
        popularity: from `signals.item_popularity`.
    """
    neighbours = similarity.select(
        F.col(ITEM_A).alias(ANCHOR_ITEM),
        F.col(ITEM_B).alias(ITEM),
        F.col(CATEGORY_A).alias(ANCHOR_CATEGORY),
        *EVIDENCE,
        *_source(NEIGHBOUR),
    )
    affine = (
        category_affinity.withColumn(
            "_r", F.row_number().over(Window.partitionBy(CATEGORY_A).orderBy(F.col(LIFT).desc(), F.col(CATEGORY_B)))
        )
        .filter(F.col("_r") <= cfg.affinity_categories)
        .select(F.col(CATEGORY_A).alias(ANCHOR_CATEGORY), F.col(CATEGORY_B).alias(ITEM_CATEGORY))
    )
    popular_in_category = popularity.filter(F.col(POPULARITY_RANK) <= cfg.items_per_category).select(
        ITEM, ITEM_CATEGORY
    )
    by_affinity = (
        anchors.join(affine, ANCHOR_CATEGORY)
        .join(popular_in_category, ITEM_CATEGORY)
        .select(ANCHOR_ITEM, ITEM, ANCHOR_CATEGORY, *_no_evidence(), *_source(AFFINITY))
    )
    popular = anchors.crossJoin(F.broadcast(top_popular(popularity, cfg.popular_fallback_items).select(ITEM))).select(
        ANCHOR_ITEM, ITEM, ANCHOR_CATEGORY, *_no_evidence(), *_source(POPULAR)
    )
    return neighbours.unionByName(by_affinity).unionByName(popular).filter(F.col(ANCHOR_ITEM) != F.col(ITEM))


def score_item_candidates(
    candidates: DataFrame,
    attributes: DataFrame,
    popularity: DataFrame,
    category_affinity: DataFrame,
    item_factors: DataFrame,
    cfg: ItemListConfig,
) -> DataFrame:
    """Attach item and anchor attributes and every score component, then the blend."""
    w = cfg.weights
    anchor_attributes = as_anchor(attributes)
    category_lift = category_affinity.select(
        F.col(CATEGORY_A).alias(ANCHOR_CATEGORY),
        F.col(CATEGORY_B).alias(ITEM_CATEGORY),
        F.col(LIFT).alias("_category_lift"),
        F.col(CO_USERS).alias("_category_users"),
    )
    anchor_factors = item_factors.select(F.col("item_id").alias(ANCHOR_ITEM), F.col(FEATURES).alias("_anchor_f"))
    factors = item_factors.select(F.col("item_id").alias(ITEM), F.col(FEATURES).alias("_item_f"))
    enriched = (
        candidates.join(attributes, ITEM)
        .join(anchor_attributes, ANCHOR_ITEM)
        .join(popularity.select(ITEM, POPULARITY, ITEM_USERS), ITEM, "left")
        .join(category_lift, [ANCHOR_CATEGORY, ITEM_CATEGORY], "left")
        .join(anchor_factors, ANCHOR_ITEM, "left")
        .join(factors, ITEM, "left")
    )
    components = enriched.select(
        "*",
        F.coalesce(F.col(JACCARD), F.lit(0.0)).alias(CONTENT_SCORE),
        F.coalesce(F.col(CONFIDENCE), F.lit(0.0)).alias(COOCCURRENCE_SCORE),
        F.coalesce(positive_lift(F.col(LIFT)), F.lit(0.0)).alias(LIFT_SCORE),
        F.coalesce(positive_lift(F.col("_category_lift")), F.lit(0.0)).alias(CATEGORY_AFFINITY_SCORE),
        F.greatest(F.coalesce(cosine(F.col("_anchor_f"), F.col("_item_f")), F.lit(0.0)), F.lit(0.0)).alias(ALS_SCORE),
        F.coalesce(F.col(POPULARITY), F.lit(0.0)).alias(POPULARITY_SCORE),
    )
    score = (
        w.content * F.col(CONTENT_SCORE)
        + w.cooccurrence * F.col(COOCCURRENCE_SCORE)
        + w.lift * F.col(LIFT_SCORE)
        + w.category_affinity * F.col(CATEGORY_AFFINITY_SCORE)
        + w.als * F.col(ALS_SCORE)
        + w.popularity * F.col(POPULARITY_SCORE)
    )
    support = (
        F.when(F.col(SOURCE) == NEIGHBOUR, F.col(CO_USERS))
        .when(F.col(SOURCE) == AFFINITY, F.col("_category_users"))
        .otherwise(F.col(ITEM_USERS))
    )
    return (
        components.withColumn(SCORE, score)
        .withColumn(SUPPORT, support)
        .drop("_anchor_f", "_item_f", "_category_lift", "_category_users", POPULARITY)
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
        ITEM, ITEM_CATEGORY
    )
    by_interest = top_interest.join(popular_in_category, ITEM_CATEGORY).select(
        USER_ID,
        ITEM,
        F.lit(None).cast("string").alias(ANCHOR_ITEM),
        F.lit(None).cast("string").alias(ANCHOR_CATEGORY),
        *_no_evidence(),
        *_source(INTEREST),
    )
    latest = Window.partitionBy(USER_ID).orderBy(F.col("event_ts").desc(), F.col(ITEM))
    anchors = (
        recent_purchases.withColumn("_r", F.row_number().over(latest))
        .filter(F.col("_r") <= cfg.recent_anchors)
        .select(USER_ID, F.col(ITEM).alias(ITEM_A))
    )
    by_basket = anchors.join(similarity, ITEM_A).select(
        USER_ID,
        F.col(ITEM_B).alias(ITEM),
        F.col(ITEM_A).alias(ANCHOR_ITEM),
        F.col(CATEGORY_A).alias(ANCHOR_CATEGORY),
        *EVIDENCE,
        *_source(BASKET),
    )
    users = allowed.select(USER_ID).distinct()
    popular = users.crossJoin(F.broadcast(top_popular(popularity, popular_fallback_items).select(ITEM))).select(
        USER_ID,
        ITEM,
        F.lit(None).cast("string").alias(ANCHOR_ITEM),
        F.lit(None).cast("string").alias(ANCHOR_CATEGORY),
        *_no_evidence(),
        *_source(POPULAR),
    )
    return by_interest.unionByName(by_basket).unionByName(popular)


def score_user_candidates(
    candidates: DataFrame,
    allowed: DataFrame,
    attributes: DataFrame,
    popularity: DataFrame,
    user_factors: DataFrame,
    item_factors: DataFrame,
    cfg: UserListConfig,
) -> DataFrame:
    """Keep candidates in allowed categories, attach attributes and components, then the blend."""
    w = cfg.weights
    anchor_attributes = as_anchor(attributes)
    enriched = (
        candidates.join(attributes, ITEM)
        .join(allowed, [USER_ID, ITEM_CATEGORY])  # the per-user category rule
        .join(anchor_attributes, ANCHOR_ITEM, "left")
        .join(popularity.select(ITEM, POPULARITY, ITEM_USERS), ITEM, "left")
        .join(user_factors.select(USER_ID, F.col(FEATURES).alias("_user_f")), USER_ID, "left")
        .join(item_factors.select(F.col("item_id").alias(ITEM), F.col(FEATURES).alias("_item_f")), ITEM, "left")
    )
    preference = F.coalesce(dot(F.col("_user_f"), F.col("_item_f")), F.lit(0.0))
    components = enriched.select(
        "*",
        F.least(F.greatest(preference, F.lit(0.0)), F.lit(1.0)).alias(ALS_SCORE),
        F.coalesce(F.col(CONFIDENCE), F.lit(0.0)).alias(COOCCURRENCE_SCORE),
        F.coalesce(F.col(POPULARITY), F.lit(0.0)).alias(POPULARITY_SCORE),
    )
    score = (
        w.als * F.col(ALS_SCORE)
        + w.interest * F.col(INTEREST_COMPONENT)
        + w.cooccurrence * F.col(COOCCURRENCE_SCORE)
        + w.popularity * F.col(POPULARITY_SCORE)
    )
    support = F.when(F.col(SOURCE) == BASKET, F.col(CO_USERS)).when(F.col(SOURCE) == POPULAR, F.col(ITEM_USERS))
    return components.withColumn(SCORE, score).withColumn(SUPPORT, support).drop("_user_f", "_item_f", POPULARITY)
