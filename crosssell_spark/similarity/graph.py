"""The item similarity graph: content, behavioural (and semantic) neighbours merged, both directions, ranked.

Symmetric handling: every pair is found once (item_a < item_b) and then stored in both
directions, so a lookup by `item_a` alone returns all of an item's neighbours. Jaccard,
co_baskets, co_users and lift are symmetric; confidence is directional (a -> b). Each item keeps
its `top_n` best content neighbours (by Jaccard) and its `top_n` best behavioural neighbours (by
confidence, then lift); `rank` orders the union by
`score = score_weights.content * jaccard + score_weights.behavioural * confidence
+ score_weights.semantic * cosine` (semantic neighbours, when similarity.semantic is on). Because the
cut is per item, (b, a) can be missing when b has `top_n` better neighbours than a.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from crosssell_spark.config import SimilarityConfig
from crosssell_spark.schemas import (
    CATEGORY_A,
    CATEGORY_B,
    CO_BASKETS,
    CO_USERS,
    CONFIDENCE,
    IS_BEHAVIOURAL,
    IS_CONTENT,
    IS_SEMANTIC,
    ITEM_A,
    ITEM_B,
    JACCARD,
    LIFT,
    RANK,
    SCORE,
    SEMANTIC,
)
from crosssell_spark.similarity.cooccurrence import KEY_A, KEY_B, both_directions


def mirrored(pairs: DataFrame) -> DataFrame:
    """Content pairs (item_a < item_b, categories, jaccard) -> both directions."""
    backward = pairs.select(
        F.col(ITEM_B).alias(ITEM_A),
        F.col(ITEM_A).alias(ITEM_B),
        F.col(CATEGORY_B).alias(CATEGORY_A),
        F.col(CATEGORY_A).alias(CATEGORY_B),
        JACCARD,
    )
    return pairs.select(ITEM_A, ITEM_B, CATEGORY_A, CATEGORY_B, JACCARD).unionByName(backward)


def top_per_item(n: int, *order: Column) -> Callable[[DataFrame], DataFrame]:
    """Keep each item_a's first `n` rows by `order` (ties broken by item_b)."""

    def transform(pairs: DataFrame) -> DataFrame:
        window = Window.partitionBy(ITEM_A).orderBy(*order, F.col(ITEM_B))
        return pairs.withColumn("_n", F.row_number().over(window)).where(F.col("_n") <= n).drop("_n")

    return transform


def content_neighbours(top_n: int) -> Callable[[DataFrame], DataFrame]:
    """Content pairs (item_a < item_b) -> each item's top_n neighbours by Jaccard, both directions."""

    def transform(pairs: DataFrame) -> DataFrame:
        return mirrored(pairs).transform(top_per_item(top_n, F.col(JACCARD).desc()))

    return transform


def behavioural_neighbours(top_n: int) -> Callable[[DataFrame], DataFrame]:
    """Published item pair statistics (key_a < key_b) -> each item's top_n neighbours by confidence."""

    def transform(pairs: DataFrame) -> DataFrame:
        rows = both_directions(pairs).select(
            F.col(KEY_A).alias(ITEM_A),
            F.col(KEY_B).alias(ITEM_B),
            CATEGORY_A,
            CATEGORY_B,
            CO_BASKETS,
            CO_USERS,
            CONFIDENCE,
            LIFT,
        )
        return rows.transform(top_per_item(top_n, F.col(CONFIDENCE).desc(), F.col(LIFT).desc()))

    return transform


def item_similarity(cfg: SimilarityConfig) -> Callable[..., DataFrame]:
    """(content neighbours, behavioural neighbours[, semantic neighbours]) -> item_similarity rows,
    ranked per item_a. Semantic neighbours (item_a, item_b, categories, semantic) are optional."""
    weights = cfg.score_weights

    def merge(content: DataFrame, behavioural: DataFrame, semantic: DataFrame | None = None) -> DataFrame:
        c = content.select(ITEM_A, ITEM_B, F.col(CATEGORY_A).alias("_ca"), F.col(CATEGORY_B).alias("_cb"), JACCARD)
        b = behavioural.select(
            ITEM_A, ITEM_B, F.col(CATEGORY_A).alias("_ba"), F.col(CATEGORY_B).alias("_bb"),
            CO_BASKETS, CO_USERS, CONFIDENCE, LIFT,
        )  # fmt: skip
        merged = c.join(b, [ITEM_A, ITEM_B], "full")
        if semantic is None:
            missing = F.lit(None).cast("string")
            merged = merged.select(
                "*", missing.alias("_sa"), missing.alias("_sb"), F.lit(None).cast("double").alias(SEMANTIC)
            )
        else:
            s = semantic.select(
                ITEM_A, ITEM_B, F.col(CATEGORY_A).alias("_sa"), F.col(CATEGORY_B).alias("_sb"), SEMANTIC
            )
            merged = merged.join(s, [ITEM_A, ITEM_B], "full")
        score = (
            weights.content * F.coalesce(F.col(JACCARD), F.lit(0.0))
            + weights.behavioural * F.coalesce(F.col(CONFIDENCE), F.lit(0.0))
            + weights.semantic * F.coalesce(F.col(SEMANTIC), F.lit(0.0))
        )
        ranked = Window.partitionBy(ITEM_A).orderBy(
            F.col(SCORE).desc(), F.col(JACCARD).desc_nulls_last(), F.col(LIFT).desc_nulls_last(), F.col(ITEM_B)
        )
        return merged.select(
            ITEM_A,
            ITEM_B,
            F.coalesce("_ca", "_ba", "_sa").alias(CATEGORY_A),
            F.coalesce("_cb", "_bb", "_sb").alias(CATEGORY_B),
            JACCARD,
            CO_BASKETS,
            CO_USERS,
            CONFIDENCE,
            LIFT,
            F.col(JACCARD).isNotNull().alias(IS_CONTENT),
            F.col(CO_USERS).isNotNull().alias(IS_BEHAVIOURAL),
            score.cast("double").alias(SCORE),
            SEMANTIC,
            F.col(SEMANTIC).isNotNull().alias(IS_SEMANTIC),
        ).withColumn(RANK, F.row_number().over(ranked))

    return merge
