"""Serving exports of the published lists: one JSON object per list key, for a web service to load."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from crosssell_spark.schemas import ITEM_ID, RANK, REASON, REASON_CODES, SCORE

SERVED_COLUMNS = (RANK, ITEM_ID, SCORE, REASON, REASON_CODES)


def serving_export(lists: DataFrame, key: str) -> DataFrame:
    """One row per key with its ranked items (rank, item_id, score, reason, reason_codes)."""
    ordered = F.array_sort(F.collect_list(F.struct(*SERVED_COLUMNS)))
    return lists.groupBy(key).agg(ordered.alias("items"))
