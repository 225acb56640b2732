"""What the analyst notebooks show, computed from published tables: factor norms, interest grids, reviewed lists.

Pure DataFrame transforms; the notebooks (notebooks/02_*, 03_*) only pick inputs with widgets,
call these and plot.
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from crosssell_spark.hierarchy import category_at_level
from crosssell_spark.schemas import (
    ANCHOR_CATEGORY,
    ANCHOR_ITEM_ID,
    CATEGORY_ID,
    CATEGORY_NAME,
    EVENT_TYPE,
    FEATURES,
    INTEREST_RANK,
    INTEREST_SCORE,
    IS_NEW_CATEGORY,
    ITEM_CATEGORY,
    ITEM_ID,
    OBSERVED_SHARE,
    RANK,
    REASON,
    REASON_CODES,
    SCORE,
    SHARE_OF_SLOTS,
    SLOTS,
    SOURCE_NAME,
    SUPPORT,
    TITLE,
    USER_ID,
)

NORM = "norm"
HISTORY_BUCKET = "history_bucket"  # 1, 2-3, 4-7, ...: powers of two of the history size
ANCHOR_TITLE = "anchor_title"
ANCHOR_CATEGORY_NAME = "anchor_category_name"
ITEM_TITLE = "item_title"
ITEM_CATEGORY_NAME = "item_category_name"
REASON_CODE = "reason_code"
EVENTS = "events"
PURCHASES = "purchases"
LIST_TYPE = "list_type"


def parse_keys(text: str) -> list[str]:
    """A widget's comma-separated ids as a list (blanks dropped)."""
    return [key.strip() for key in text.split(",") if key.strip()]


def factor_norms(factors: DataFrame) -> DataFrame:
    """A factors table (user_factors or item_factors) plus `norm`, the L2 length of its latent vector.

    ALS gives long vectors to users and items with much, consistent history and short ones to
    sparse ones; centroid-filled cold items sit near their category's mean.
    """
    squares = F.aggregate(FEATURES, F.lit(0.0), lambda total, x: total + x.cast("double") * x.cast("double"))
    return factors.withColumn(NORM, F.sqrt(squares))


def norm_summary(norms: DataFrame, by: str) -> DataFrame:
    """Count and norm quantiles (10 %, median, 90 %) per value of `by`."""
    quantiles = F.percentile_approx(NORM, [0.1, 0.5, 0.9], 1000)
    return (
        norms.groupBy(by)
        .agg(F.count(F.lit(1)).alias("rows"), F.mean(NORM).alias("mean_norm"), quantiles.alias("_q"))
        .select(
            by,
            "rows",
            "mean_norm",
            F.col("_q")[0].alias("p10_norm"),
            F.col("_q")[1].alias("median_norm"),
            F.col("_q")[2].alias("p90_norm"),
        )
        .orderBy(by)
    )


def norm_by_history(norms: DataFrame, history: str) -> DataFrame:
    """Mean norm per power-of-two bucket of a history column (history_items or history_users)."""
    bucket = F.when(F.col(history) < 1, F.lit(0)).otherwise(
        F.pow(F.lit(2), F.floor(F.log2(F.col(history).cast("double")))).cast("int")
    )
    return (
        norms.withColumn(HISTORY_BUCKET, bucket)
        .groupBy(HISTORY_BUCKET)
        .agg(F.count(F.lit(1)).alias("rows"), F.mean(NORM).alias("mean_norm"))
        .orderBy(HISTORY_BUCKET)
    )


def most_active_users(user_factors: DataFrame, n: int) -> list[str]:
    """The `n` users with the longest histories (ties by id): a default selection for the widgets."""
    rows = user_factors.orderBy(F.col("history_items").desc(), USER_ID).select(USER_ID).limit(n).collect()
    return [row[USER_ID] for row in rows]


def interest_grid(interest: DataFrame, categories: DataFrame, users: list[str]) -> DataFrame:
    """The chosen users' interest in every scored category, with names: the heat map's cells."""
    names = categories.select(CATEGORY_ID, CATEGORY_NAME)
    return (
        interest.where(F.col(USER_ID).isin(users))
        .join(F.broadcast(names), CATEGORY_ID)
        .select(USER_ID, CATEGORY_ID, CATEGORY_NAME, INTEREST_SCORE, OBSERVED_SHARE, IS_NEW_CATEGORY, INTEREST_RANK)
        .orderBy(USER_ID, INTEREST_RANK)
    )


def category_interest_profile(interest: DataFrame, categories: DataFrame) -> DataFrame:
    """Per category: users scored, mean interest, mean observed share and how many users it is new to."""
    names = categories.select(CATEGORY_ID, CATEGORY_NAME)
    return (
        interest.groupBy(CATEGORY_ID)
        .agg(
            F.count(F.lit(1)).alias("users"),
            F.mean(INTEREST_SCORE).alias("mean_interest"),
            F.mean(OBSERVED_SHARE).alias("mean_observed_share"),
            F.sum(F.col(IS_NEW_CATEGORY).cast("int")).alias("new_to_users"),
        )
        .join(F.broadcast(names), CATEGORY_ID)
        .orderBy(F.col("mean_interest").desc(), CATEGORY_ID)
    )


def strongest_anchors(item_lists: DataFrame, n: int) -> list[str]:
    """Anchors whose best recommendation has the most support, then score: a default selection."""
    top = item_lists.where(F.col(RANK) == 1).orderBy(
        F.coalesce(F.col(SUPPORT), F.lit(0)).desc(), F.col(SCORE).desc(), ANCHOR_ITEM_ID
    )
    return [row[ANCHOR_ITEM_ID] for row in top.select(ANCHOR_ITEM_ID).limit(n).collect()]


def sample_keys(lists: DataFrame, key: str, n: int, seed: str) -> list[str]:
    """`n` distinct keys of a list table in a fixed pseudo-random order (hash of key and seed): the
    same sample for the same seed, spread over the whole table rather than its first ids."""
    keys = lists.select(key).distinct().orderBy(F.xxhash64(F.col(key), F.lit(seed)), key)
    return [row[key] for row in keys.limit(n).collect()]


def item_list_review(item_lists: DataFrame, items: DataFrame, categories: DataFrame, anchors: list[str]) -> DataFrame:
    """The chosen anchors' cross-sell lists with titles, category names, scores and reasons."""
    titles = items.select(ITEM_ID, TITLE)
    names = categories.select(CATEGORY_ID, CATEGORY_NAME)
    return (
        item_lists.where(F.col(ANCHOR_ITEM_ID).isin(anchors))
        .join(titles.withColumnsRenamed({ITEM_ID: ANCHOR_ITEM_ID, TITLE: ANCHOR_TITLE}), ANCHOR_ITEM_ID, "left")
        .join(titles.withColumnRenamed(TITLE, ITEM_TITLE), ITEM_ID, "left")
        .join(
            F.broadcast(names.withColumnsRenamed({CATEGORY_ID: ANCHOR_CATEGORY, CATEGORY_NAME: ANCHOR_CATEGORY_NAME})),
            ANCHOR_CATEGORY,
            "left",
        )
        .join(
            F.broadcast(names.withColumnsRenamed({CATEGORY_ID: ITEM_CATEGORY, CATEGORY_NAME: ITEM_CATEGORY_NAME})),
            ITEM_CATEGORY,
            "left",
        )
        .select(
            ANCHOR_ITEM_ID,
            ANCHOR_TITLE,
            ANCHOR_CATEGORY_NAME,
            RANK,
            ITEM_ID,
            ITEM_TITLE,
            ITEM_CATEGORY_NAME,
            SCORE,
            SOURCE_NAME,
            REASON_CODES,
            REASON,
            SUPPORT,
        )
        .orderBy(ANCHOR_ITEM_ID, RANK)
    )


def user_list_review(user_lists: DataFrame, items: DataFrame, categories: DataFrame, users: list[str]) -> DataFrame:
    """The chosen users' cross-sell lists with titles, category names, scores and reasons."""
    names = categories.select(F.col(CATEGORY_ID).alias(ITEM_CATEGORY), F.col(CATEGORY_NAME).alias(ITEM_CATEGORY_NAME))
    return (
        user_lists.where(F.col(USER_ID).isin(users))
        .join(items.select(ITEM_ID, F.col(TITLE).alias(ITEM_TITLE)), ITEM_ID, "left")
        .join(F.broadcast(names), ITEM_CATEGORY, "left")
        .select(
            USER_ID,
            RANK,
            ITEM_ID,
            ITEM_TITLE,
            ITEM_CATEGORY_NAME,
            SCORE,
            SOURCE_NAME,
            IS_NEW_CATEGORY,
            REASON_CODES,
            REASON,
            ANCHOR_ITEM_ID,
        )
        .orderBy(USER_ID, RANK)
    )


def user_history(events: DataFrame, items: DataFrame, categories: DataFrame, users: list[str], level: int) -> DataFrame:
    """What the chosen users did per category at `level` (events, purchases): context for their lists."""
    item_category = items.select(ITEM_ID, category_at_level(level).alias(CATEGORY_ID))
    return (
        events.where(F.col(USER_ID).isin(users))
        .join(item_category, ITEM_ID)
        .groupBy(USER_ID, CATEGORY_ID)
        .agg(
            F.count(F.lit(1)).alias(EVENTS),
            F.sum((F.col(EVENT_TYPE) == "purchase").cast("int")).alias(PURCHASES),
        )
        .join(F.broadcast(categories.select(CATEGORY_ID, CATEGORY_NAME)), CATEGORY_ID, "left")
        .select(USER_ID, CATEGORY_NAME, EVENTS, PURCHASES)
        .orderBy(USER_ID, F.col(EVENTS).desc(), CATEGORY_NAME)
    )


def reason_code_counts(item_lists: DataFrame, user_lists: DataFrame) -> DataFrame:
    """How often each reason code backs a recommendation, per list type (item, user)."""

    def counted(lists: DataFrame, list_type: str) -> DataFrame:
        return (
            lists.select(F.explode(REASON_CODES).alias(REASON_CODE))
            .groupBy(REASON_CODE)
            .count()
            .withColumn(LIST_TYPE, F.lit(list_type))
        )

    return (
        counted(item_lists, "item")
        .unionByName(counted(user_lists, "user"))
        .select(LIST_TYPE, REASON_CODE, "count")
        .orderBy(LIST_TYPE, F.col("count").desc(), REASON_CODE)
    )


def source_counts(item_lists: DataFrame, user_lists: DataFrame) -> DataFrame:
    """List slots per source and their share of the list type's slots (item, user)."""

    def counted(lists: DataFrame, list_type: str) -> DataFrame:
        per_source = lists.groupBy(SOURCE_NAME).agg(F.count(F.lit(1)).alias(SLOTS))
        total = per_source.agg(F.sum(SLOTS).alias("_total"))
        share = (F.col(SLOTS) / F.col("_total")).alias(SHARE_OF_SLOTS)
        return per_source.crossJoin(total).select(F.lit(list_type).alias(LIST_TYPE), SOURCE_NAME, SLOTS, share)

    return counted(item_lists, "item").unionByName(counted(user_lists, "user")).orderBy(LIST_TYPE, F.col(SLOTS).desc())


def format_list(heading: str, review: pd.DataFrame, title_width: int = 44) -> str:
    """A reviewed list (`item_list_review` / `user_list_review` rows of one key) as plain text: the
    heading, then one line per slot (rank, item, title, category, score, source) and its reason."""
    if review.empty:
        return f"{heading}\n  (no items)"

    def cut(text: object, width: int) -> str:
        value = "" if text is None or pd.isna(text) else str(text)
        return value if len(value) <= width else value[: width - 1] + "…"

    item_width = max(7, int(review[ITEM_ID].astype(str).str.len().max()))
    lines = [
        heading,
        f"{'rank':>4}  {'item':<{item_width}}  {'title':<{title_width}}  {'category':<24}  {'score':>7}  source",
    ]
    for row in review.sort_values(RANK).to_dict("records"):
        title, category = cut(row[ITEM_TITLE], title_width), cut(row[ITEM_CATEGORY_NAME], 24)
        lines.append(
            f"{row[RANK]:>4}  {row[ITEM_ID]:<{item_width}}  {title:<{title_width}}  {category:<24}  "
            f"{row[SCORE]:>7.4f}  {row[SOURCE_NAME]}"
        )
        lines.append(f"{'':>6}{row[REASON]}")
    return "\n".join(lines)
