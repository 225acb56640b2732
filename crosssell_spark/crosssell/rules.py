"""Strategy rules: pure transforms over a candidate list, each switched and parameterised in config.

A candidate frame has one row per (list key, item) with at least: the key column (`anchor_item_id`
or `user_id`), `item_id`, `item_category`, `anchor_category` (null for user lists without an
anchor), `score`, `support`, `item_price`, `anchor_price`, `item_in_stock`, `source` and
`source_priority` (lower is better evidence). Rules filter or re-weight; `rank_lists` shapes
the final top-K.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

Transform = Callable[[DataFrame], DataFrame]

ITEM = "item_id"
ITEM_CATEGORY = "item_category"
ANCHOR_CATEGORY = "anchor_category"
SCORE = "score"
SUPPORT = "support"
ITEM_PRICE = "item_price"
ANCHOR_PRICE = "anchor_price"
ITEM_IN_STOCK = "item_in_stock"
SOURCE = "source"
SOURCE_PRIORITY = "source_priority"
RANK = "rank"
ANCHOR_ITEM = "anchor_item_id"


def other_category_only() -> Transform:
    """Drop candidates in the anchor's own category (at the configured level)."""
    return lambda df: df.filter(F.col(ANCHOR_CATEGORY).isNull() | (F.col(ITEM_CATEGORY) != F.col(ANCHOR_CATEGORY)))


def exclude_items(key: str, excluded: DataFrame) -> Transform:
    """Drop (key, item) pairs listed in `excluded` (owned items, the anchor itself, ...)."""
    return lambda df: df.join(excluded.select(key, ITEM).distinct(), [key, ITEM], "left_anti")


def category_pairs(allow: Sequence[tuple[str, str]], deny: Sequence[tuple[str, str]]) -> Transform:
    """Keep only allowed (anchor category -> item category) pairs when an allow-list is set; drop denied.

    A pair side may be '*' for any category. Lists without an anchor category are only checked
    against pairs whose anchor side is '*'.
    """

    def matches(pairs: Sequence[tuple[str, str]]) -> Column:
        conditions = [
            (F.lit(a == "*") | (F.col(ANCHOR_CATEGORY) == a)) & (F.lit(b == "*") | (F.col(ITEM_CATEGORY) == b))
            for a, b in pairs
        ]
        return F.coalesce(reduce(operator.or_, conditions), F.lit(False))

    def transform(df: DataFrame) -> DataFrame:
        if allow:
            df = df.filter(matches(allow))
        if deny:
            df = df.filter(~matches(deny))
        return df

    return transform


def price_ceiling(max_ratio: float | None) -> Transform:
    """A cross-sell costs at most `max_ratio` x the anchor's price (kept when a price is unknown)."""
    if max_ratio is None:
        return lambda df: df
    return lambda df: df.filter(
        F.col(ITEM_PRICE).isNull()
        | F.col(ANCHOR_PRICE).isNull()
        | (F.col(ITEM_PRICE) <= F.col(ANCHOR_PRICE) * max_ratio)
    )


def in_stock_only(enabled: bool) -> Transform:
    return (lambda df: df.filter(F.col(ITEM_IN_STOCK))) if enabled else (lambda df: df)


def minimum(score: float, support: int) -> Transform:
    """Drop candidates below the minimum blended score, or below the minimum support where the
    evidence has one (null support: content look-alikes and interest picks, which no crowd backs)."""
    return lambda df: df.filter((F.col(SCORE) >= score) & (F.col(SUPPORT).isNull() | (F.col(SUPPORT) >= support)))


def balance_categories(strength: float, category_weight: DataFrame) -> Transform:
    """Divide scores by (category popularity share)^strength so small categories are not crowded out.

    Args:
        category_weight: `item_category`, `category_share` (the category's share of interactions).
    """
    if strength <= 0:
        return lambda df: df
    return lambda df: (
        df.join(F.broadcast(category_weight), ITEM_CATEGORY, "left")
        .withColumn(SCORE, F.col(SCORE) / F.pow(F.coalesce(F.col("category_share"), F.lit(1.0)), F.lit(strength)))
        .drop("category_share")
    )


def rank_lists(
    key: str, k: int, per_category_cap: int, min_distinct_categories: int, evidence_first: bool = True
) -> Transform:
    """Ranks 1..K per key: with `evidence_first`, better evidence (lower `source_priority`) first,
    else the blended score alone; within one evidence tier, the leading items of its
    `min_distinct_categories` best categories open the list, then the rest by score; at most
    `per_category_cap` items of one category."""
    tier = F.col(SOURCE_PRIORITY) if evidence_first else F.lit(0)

    def transform(df: DataFrame) -> DataFrame:
        # equal evidence and score: the source, then the anchor decide, so reruns pick the same row
        best_per_item = Window.partitionBy(key, ITEM).orderBy(
            tier, F.col(SCORE).desc(), F.col(SOURCE), F.col(ANCHOR_ITEM).asc_nulls_last()
        )
        within_category = Window.partitionBy(key, ITEM_CATEGORY).orderBy(tier, F.col(SCORE).desc(), F.col(ITEM))
        capped = (
            df.withColumn("_n", F.row_number().over(best_per_item))
            .filter(F.col("_n") == 1)
            .withColumn("_category_rank", F.row_number().over(within_category))
            .filter(F.col("_category_rank") <= per_category_cap)
        )
        # The leading item of each category, ranked among the categories of its evidence tier.
        category_order = Window.partitionBy(key, tier, F.col("_category_rank") == 1).orderBy(
            F.col(SCORE).desc(), F.col(ITEM)
        )
        opens_category = (F.col("_category_rank") == 1) & (
            F.row_number().over(category_order) <= min_distinct_categories
        )
        final_order = Window.partitionBy(key).orderBy(tier, F.col("_opens").desc(), F.col(SCORE).desc(), F.col(ITEM))
        return (
            capped.withColumn("_opens", opens_category)
            .withColumn(RANK, F.row_number().over(final_order))
            .filter(F.col(RANK) <= k)
            .drop("_n", "_category_rank", "_opens")
        )

    return transform
