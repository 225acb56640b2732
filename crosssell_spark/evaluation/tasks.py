"""The two cross-category tasks built from the held-out events.

Each task yields:
    queries (query_id, key, excluded_categories, excluded_items): who asks and what may not be shown.
        `key` is what a list belongs to (an anchor item or a user); many queries may share a key.
    truth   (query_id, item_id, item_category): what the query's future shopper actually took.

Anchor task: a held-out basket (one user's session) whose items span >= `min_basket_categories`
categories at `categories.cross_level`; every item of it is an anchor, and the basket's items in
OTHER categories are what the anchor's cross-sell list should have held.
User task: a user seen in training, and their held-out purchases in categories they never touched in
training; the user's list should have held those.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from crosssell_spark.evaluation.metrics import QUERY
from crosssell_spark.schemas import EVENT_TYPE, ITEM_CATEGORY, ITEM_ID, SESSION_ID, USER_ID

KEY = "key"
EXCLUDED_CATEGORIES = "excluded_categories"
EXCLUDED_ITEMS = "excluded_items"
BASKET = "basket"
ANCHOR_TASK, USER_TASK = "anchor", "user"


@dataclass(frozen=True)
class Task:
    """A task's name, its queries and their relevant items."""

    name: str
    queries: DataFrame
    truth: DataFrame


def bought(events: DataFrame, event_types: list[str], attributes: DataFrame) -> DataFrame:
    """(basket, user_id, item_id, item_category): distinct items bought per basket (user|session)."""
    return (
        events.where(F.col(EVENT_TYPE).isin(*event_types))
        .select(F.concat_ws("|", USER_ID, SESSION_ID).alias(BASKET), USER_ID, ITEM_ID)
        .distinct()
        .join(attributes.select(ITEM_ID, ITEM_CATEGORY), ITEM_ID)
    )


def anchor_task(
    held_out: DataFrame, attributes: DataFrame, event_types: list[str], min_categories: int,
    max_queries: int | None = None, seed: int = 0,
) -> Task:  # fmt: skip
    """Anchor queries (basket#anchor) and, per query, the basket's items of other categories."""
    lines = bought(held_out, event_types, attributes)
    wide = lines.groupBy(BASKET).agg(F.countDistinct(ITEM_CATEGORY).alias("_categories"))
    lines = lines.join(wide.where(F.col("_categories") >= min_categories).select(BASKET), BASKET)
    anchors = lines.select(
        F.concat_ws("#", BASKET, ITEM_ID).alias(QUERY),
        BASKET,
        F.col(ITEM_ID).alias(KEY),
        F.col(ITEM_CATEGORY).alias("_anchor_category"),
    )
    if max_queries is not None:
        anchors = anchors.orderBy(F.xxhash64(QUERY, F.lit(seed)), QUERY).limit(max_queries)
    truth = (
        anchors.join(lines, BASKET)
        .where(F.col(ITEM_CATEGORY) != F.col("_anchor_category"))
        .select(QUERY, ITEM_ID, ITEM_CATEGORY)
    )
    queries = anchors.select(
        QUERY, KEY, F.array("_anchor_category").alias(EXCLUDED_CATEGORIES), F.array(KEY).alias(EXCLUDED_ITEMS)
    )
    return Task(ANCHOR_TASK, queries, truth)


def user_task(training: DataFrame, held_out: DataFrame, attributes: DataFrame, event_types: list[str]) -> Task:
    """User queries (users with training history) and their held-out purchases in categories new to them.

    A category is known when the user had any training event in it (views included); items the
    user bought in training are excluded from every method's list.
    """
    history = training.select(USER_ID, ITEM_ID, EVENT_TYPE).join(attributes.select(ITEM_ID, ITEM_CATEGORY), ITEM_ID)
    known = history.groupBy(USER_ID).agg(
        F.collect_set(ITEM_CATEGORY).alias(EXCLUDED_CATEGORIES),
        F.collect_set(F.when(F.col(EVENT_TYPE).isin(*event_types), F.col(ITEM_ID))).alias(EXCLUDED_ITEMS),
    )
    later = bought(held_out, event_types, attributes).select(USER_ID, ITEM_ID, ITEM_CATEGORY).distinct()
    truth = (
        later.join(known, USER_ID)
        .where(~F.array_contains(EXCLUDED_CATEGORIES, F.col(ITEM_CATEGORY)))
        .select(F.col(USER_ID).alias(QUERY), ITEM_ID, ITEM_CATEGORY)
    )
    queries = known.join(truth.select(F.col(QUERY).alias(USER_ID)).distinct(), USER_ID).select(
        F.col(USER_ID).alias(QUERY), F.col(USER_ID).alias(KEY), EXCLUDED_CATEGORIES, EXCLUDED_ITEMS
    )
    return Task(USER_TASK, queries, truth)
