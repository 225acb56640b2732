"""Stable integer ids for users and items: existing ids never change, new keys get max + 1, max + 2, ...

ALS needs integer ids, and factor tables, saved models and downstream joins must agree on them run
after run. The published map is therefore append-only by content: a run reads it, numbers only the
keys it has not seen (ordered by key, so the numbering is deterministic) after the current maximum,
and publishes the union.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from crosssell_spark.schemas import FIRST_RUN_ID

MAX_ID = 2**31 - 1  # ALS ids are Java ints


def empty_map(spark: SparkSession, schema: StructType) -> DataFrame:
    """The map before the first run."""
    return spark.createDataFrame([], schema)


def extend_id_map(existing: DataFrame, key: str, idx: str, run_id: str) -> Callable[[DataFrame], DataFrame]:
    """keys DataFrame -> the existing map plus new keys numbered after its maximum, in key order.

    Args:
        existing: the published map (key, idx, first_run_id); may be empty.
        key: the key column (e.g. user_id); idx: the integer id column (e.g. user_idx).
        run_id: recorded as `first_run_id` on the keys this run adds.
    """

    def transform(keys: DataFrame) -> DataFrame:
        start = existing.agg(F.coalesce(F.max(idx), F.lit(0)).alias("_start"))
        new_keys = (
            keys.select(key).where(F.col(key).isNotNull()).distinct().join(existing.select(key), key, "left_anti")
        )
        # One window over only the new keys: after the first run these are few, and a global order
        # is what makes the numbering independent of partitioning.
        numbered = new_keys.crossJoin(F.broadcast(start)).select(
            key,
            (F.col("_start") + F.row_number().over(Window.orderBy(key))).cast("int").alias(idx),
            F.lit(run_id).alias(FIRST_RUN_ID),
        )
        return existing.select(key, F.col(idx).cast("int").alias(idx), FIRST_RUN_ID).unionByName(numbered)

    return transform


def first_seen_rows(new_keys: Iterable[str], start: int, key: str, idx: str, run_id: str) -> pd.DataFrame:
    """The rows `extend_id_map` adds for `new_keys`, built on the driver (for a micro-batch's few new
    keys): numbered start + 1, start + 2, ... in key order."""
    keys = sorted(set(new_keys))
    return pd.DataFrame(
        {key: keys, idx: np.arange(start + 1, start + 1 + len(keys), dtype=np.int32), FIRST_RUN_ID: run_id}
    )


def attach_ids(id_map: DataFrame, key: str, idx: str) -> Callable[[DataFrame], DataFrame]:
    """Add the integer id of `key` to every row; rows whose key has no id are an error upstream."""

    def transform(df: DataFrame) -> DataFrame:
        return df.join(id_map.select(key, idx), key, "inner")

    return transform
