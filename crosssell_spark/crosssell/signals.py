"""Signals the candidate lists are scored with: item attributes, popularity, ALS affinities.

All functions are pure DataFrame transforms over published tables (`factor_cosine` also broadcasts
the catalogue's ALS factors, a driver copy like the ALS neighbours' one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from crosssell_spark.hierarchy import category_at_level
from crosssell_spark.schemas import (
    BASKET_SHARE,
    BASKETS_PER_BUYER,
    CATEGORY_ID,
    CATEGORY_NAME,
    CATEGORY_SHARE,
    EVENT_TYPE,
    FEATURES,
    IN_STOCK,
    ITEM_CATEGORY,
    ITEM_ID,
    ITEM_IN_STOCK,
    ITEM_PRICE,
    ITEM_TITLE,
    ITEM_USERS,
    POPULARITY,
    POPULARITY_RANK,
    PRICE,
    PURCHASE,
    SESSION_ID,
    TITLE,
    USER_ID,
)


def item_attributes(items: DataFrame, level: int) -> DataFrame:
    """item_id, item_category (at `level`), item_price, item_in_stock, item_title."""
    return items.select(
        F.col(ITEM_ID),
        category_at_level(level).alias(ITEM_CATEGORY),
        F.col(PRICE).alias(ITEM_PRICE),
        F.col(IN_STOCK).alias(ITEM_IN_STOCK),
        F.col(TITLE).alias(ITEM_TITLE),
    )


def with_overall(df: DataFrame, name: str, aggregate: Column) -> DataFrame:
    """`df` with one more column: `aggregate` over all its rows (a one-row aggregate broadcast to every
    row, not a window without partitions, which would move every row to one task)."""
    return df.crossJoin(F.broadcast(df.agg(aggregate.alias(name))))


def item_popularity(events: DataFrame, attributes: DataFrame, basket_types: Sequence[str]) -> DataFrame:
    """Per catalogue item: distinct users, a log-scaled popularity in [0, 1], its rank within the
    category, and from the baskets (one shopper's session with a `basket_types` event): the share of
    all baskets that hold it and the baskets per shopper who bought it (repeat purchase; 0 if none)."""
    users = events.groupBy(F.col(ITEM_ID)).agg(F.countDistinct(USER_ID).alias(ITEM_USERS))
    lines = events.where(F.col(EVENT_TYPE).isin(*basket_types)).select(USER_ID, SESSION_ID, ITEM_ID).distinct()
    baskets = lines.groupBy(ITEM_ID).agg(F.count(F.lit(1)).alias("_baskets"), F.countDistinct(USER_ID).alias("_buyers"))
    total = lines.select(USER_ID, SESSION_ID).distinct().agg(F.count(F.lit(1)).alias("_total"))
    with_users = (
        attributes.join(users, ITEM_ID, "left")
        .join(baskets, ITEM_ID, "left")
        .fillna(0, [ITEM_USERS, "_baskets", "_buyers"])
        .crossJoin(F.broadcast(total))
    )
    with_users = with_overall(with_users, "_most", F.max(ITEM_USERS))
    in_category = Window.partitionBy(ITEM_CATEGORY).orderBy(F.col(ITEM_USERS).desc(), F.col(ITEM_ID))
    return with_users.select(
        ITEM_ID,
        ITEM_CATEGORY,
        ITEM_USERS,
        (F.log1p(ITEM_USERS) / F.greatest(F.log1p("_most"), F.lit(1e-9))).alias(POPULARITY),
        F.row_number().over(in_category).alias(POPULARITY_RANK),
        (F.col("_baskets") / F.greatest(F.col("_total"), F.lit(1))).alias(BASKET_SHARE),
        (F.col("_baskets") / F.greatest(F.col("_buyers"), F.lit(1))).alias(BASKETS_PER_BUYER),
    )


def category_shares(popularity: DataFrame) -> DataFrame:
    """Each category's share of item-user interactions (for category balance and exposure)."""
    per_category = popularity.groupBy(ITEM_CATEGORY).agg(F.sum(ITEM_USERS).alias("_users"))
    return with_overall(per_category, "_total", F.sum("_users")).select(
        ITEM_CATEGORY, (F.col("_users") / F.greatest("_total", F.lit(1))).alias(CATEGORY_SHARE)
    )


def category_names(categories: DataFrame) -> DataFrame:
    return categories.select(F.col(CATEGORY_ID).alias(ITEM_CATEGORY), CATEGORY_NAME)


def purchases_within(events: DataFrame, days: int | None) -> DataFrame:
    """(user_id, item_id) bought within `days` of the newest event (ever when None)."""
    purchases = events.filter(F.col(EVENT_TYPE) == PURCHASE)
    if days is not None:
        newest = purchases.agg(F.max("event_ts").alias("_newest"))
        purchases = purchases.crossJoin(F.broadcast(newest)).filter(
            F.col("event_ts") >= F.col("_newest") - F.expr(f"INTERVAL {days} DAYS")
        )
    return purchases.select(USER_ID, F.col(ITEM_ID)).distinct()


def dot(left: Column, right: Column) -> Column:
    """Dot product of two equal-length float arrays (null when either is missing)."""
    return F.aggregate(F.zip_with(left, right, lambda x, y: x * y), F.lit(0.0), lambda acc, v: acc + v)


def factor_matrix(item_factors: DataFrame) -> tuple[pd.Index, np.ndarray]:
    """ALS item factors on the driver: (item ids, items x rank float32 matrix), rows in the ids' order."""
    rows = item_factors.select(ITEM_ID, FEATURES).collect()  # looked up by id: no order needed
    ids = pd.Index([r[ITEM_ID] for r in rows], dtype=object)
    if not ids.is_unique:
        raise ValueError(f"item factors hold item {ids[ids.duplicated()][0]!r} more than once")
    rank = len(rows[0][FEATURES]) if rows else 0
    return ids, np.array([r[FEATURES] for r in rows], dtype=np.float32).reshape(len(rows), rank)


def sequential_dot(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Row-wise dot products of two float32 matrices as `dot` computes them in Spark: float32
    products summed in double, left to right (so both give the same bits)."""
    products = left * right
    total = np.zeros(len(products))
    for column in products.T:
        total += column
    return total


def factor_cosine(item_factors: DataFrame) -> Callable[[Column, Column], Column]:
    """(item id column, item id column) -> cosine of the two items' ALS factors (null when either has
    none or a zero vector). The catalogue's factor matrix is broadcast once and each batch of rows is
    scored in numpy: joining the factor arrays onto every candidate row twice and multiplying them
    with Spark's array functions took 13 of the 16 s of 1M events' item features."""
    spark = item_factors.sparkSession
    shared = spark.sparkContext.broadcast(factor_matrix(item_factors))

    @F.pandas_udf("double")  # type: ignore[call-overload]
    def cosine(left_ids: pd.Series, right_ids: pd.Series) -> pd.Series:
        ids, matrix = shared.value
        left, right = ids.get_indexer(left_ids), ids.get_indexer(right_ids)
        found = (left >= 0) & (right >= 0)
        out = np.full(len(left_ids), np.nan)
        if found.any():
            a, b = matrix[left[found]], matrix[right[found]]
            norms = np.sqrt(sequential_dot(a, a)) * np.sqrt(sequential_dot(b, b))
            positive = norms > 0
            out[np.flatnonzero(found)[positive]] = sequential_dot(a, b)[positive] / norms[positive]
        return pd.Series(out)

    return cosine


def positive_lift(lift: Column) -> Column:
    """Map lift to [0, 1): 1 - 1/lift for lift > 1, else 0."""
    return F.when(lift > 1, 1 - 1 / lift).otherwise(F.lit(0.0))
