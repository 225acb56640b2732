"""Reports beside the lists: who got a short or empty list, and how exposure spreads over categories."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from crosssell_spark.crosssell.signals import with_overall
from crosssell_spark.schemas import (
    CATEGORY_NAME,
    EXPOSURE_RATIO,
    ITEM_CATEGORY,
    ITEM_ID,
    ITEMS_FOUND,
    LIST_KEY,
    LIST_STATUS,
    LIST_TYPE,
    SHARE_OF_CATALOGUE,
    SHARE_OF_SLOTS,
    SLOTS,
)


def list_gaps(keys: DataFrame, lists: DataFrame, key: str, list_type: str, k: int) -> DataFrame:
    """Every key whose list is shorter than k (empty ones included): list_type, list_key, items_found, status."""
    found = lists.groupBy(key).agg(F.count(F.lit(1)).cast("int").alias(ITEMS_FOUND))
    every = keys.select(key).distinct().join(found, key, "left").fillna(0, [ITEMS_FOUND])
    return every.filter(F.col(ITEMS_FOUND) < k).select(
        F.lit(list_type).alias(LIST_TYPE),
        F.col(key).alias(LIST_KEY),
        ITEMS_FOUND,
        F.when(F.col(ITEMS_FOUND) == 0, "empty").otherwise("partial").alias(LIST_STATUS),
    )


def category_exposure(lists: DataFrame, catalogue: DataFrame, names: DataFrame, list_type: str) -> DataFrame:
    """Slots per category vs the category's share of the catalogue (ratio > 1: over-exposed).

    Args:
        catalogue: item_id, item_category of every item.
    """
    slots = lists.groupBy(ITEM_CATEGORY).agg(F.count(F.lit(1)).alias(SLOTS))
    catalogue_share = (
        catalogue.groupBy(ITEM_CATEGORY)
        .agg(F.countDistinct(ITEM_ID).alias("_items"))
        .transform(lambda per_category: with_overall(per_category, "_all_items", F.sum("_items")))
        .select(ITEM_CATEGORY, (F.col("_items") / F.col("_all_items")).alias(SHARE_OF_CATALOGUE))
    )
    joined = with_overall(
        catalogue_share.join(slots, ITEM_CATEGORY, "left").fillna(0, [SLOTS]), "_all_slots", F.sum(SLOTS)
    )
    share_of_slots = F.col(SLOTS) / F.greatest("_all_slots", F.lit(1))
    return joined.join(F.broadcast(names), ITEM_CATEGORY, "left").select(
        F.lit(list_type).alias(LIST_TYPE),
        ITEM_CATEGORY,
        CATEGORY_NAME,
        SLOTS,
        share_of_slots.alias(SHARE_OF_SLOTS),
        SHARE_OF_CATALOGUE,
        (share_of_slots / F.col(SHARE_OF_CATALOGUE)).alias(EXPOSURE_RATIO),
    )
