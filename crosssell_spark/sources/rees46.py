"""REES46 multi-category store clickstream (Open CDP) -> input contract: events as read, items derived.

The folder holds one or more event CSV files (`event_time, event_type, product_id, category_id,
category_code, brand, price, user_id, user_session`). REES46 publishes no catalogue, so items are
derived from the events themselves.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from crosssell_spark.schemas import (
    BRAND,
    CATEGORY_PATH,
    CATEGORY_SEPARATOR,
    EVENT_TS,
    EVENT_TYPE,
    ITEM_ID,
    PRICE,
    SESSION_ID,
    TITLE,
    USER_ID,
)
from crosssell_spark.sources.contract import RawInputs, to_contract

EVENT_FILES = "*.csv"
# `event_time` as published, e.g. "2019-10-01 00:00:00 UTC"; cleaning parses it with this format.
EVENT_TIME_FORMAT = "yyyy-MM-dd HH:mm:ss z"
CATEGORY_CODE_SEPARATOR = "."
# Root of the path of products without a category_code; cleaning's unknown category has this name.
UNKNOWN_CATEGORY_ROOT = "Unknown"

# Every column is read as text: ids keep their exact spelling and cleaning judges the values.
EVENTS_SCHEMA = StructType(
    [
        StructField(name, StringType(), True)
        for name in (
            "event_time",
            "event_type",
            "product_id",
            "category_id",
            "category_code",
            "brand",
            "price",
            "user_id",
            "user_session",
        )
    ]
)


def read_raw(spark: SparkSession, path: str) -> RawInputs:
    """Events and derived catalogue of the REES46 folder `path`, in the input contract."""
    clickstream = spark.read.option("header", "true").schema(EVENTS_SCHEMA).csv(f"{path}/{EVENT_FILES}")
    return RawInputs(events=clickstream_to_events(clickstream), items=clickstream_to_items(clickstream))


def clickstream_to_events(clickstream: DataFrame) -> DataFrame:
    """One contract event per clickstream line, values as published (no quantity in REES46)."""
    events = clickstream.select(
        F.col("user_id").alias(USER_ID),
        F.col("product_id").alias(ITEM_ID),
        F.col("event_type").alias(EVENT_TYPE),
        F.col("event_time").alias(EVENT_TS),
        F.col("user_session").alias(SESSION_ID),
        F.col("price").alias(PRICE),
    )
    return to_contract(events, "events")


def clickstream_to_items(clickstream: DataFrame) -> DataFrame:
    """One item per product_id from its latest non-empty price, brand and category.

    REES46 has no product titles, so the title is synthesised as "<brand> <last category level>
    <product_id>" leaving out the empty parts (e.g. "apple smartphone 1004856", "3900821").
    `category_code` "a.b.c" becomes the path "a > b > c"; without a code the path is
    "Unknown > <category_id>", which keeps uncategorised products of different numeric
    categories apart.
    """
    latest = clickstream.groupBy("product_id").agg(
        *[_latest_non_empty(name).alias(name) for name in ("price", "brand", "category_code", "category_id")]
    )
    code, category_id = F.col("category_code"), F.col("category_id")
    category_path = F.when(
        code.isNotNull(), F.replace(code, F.lit(CATEGORY_CODE_SEPARATOR), F.lit(CATEGORY_SEPARATOR))
    ).when(category_id.isNotNull(), F.concat(F.lit(UNKNOWN_CATEGORY_ROOT + CATEGORY_SEPARATOR), category_id))
    last_category_level = F.substring_index(code, CATEGORY_CODE_SEPARATOR, -1)
    items = latest.select(
        F.col("product_id").alias(ITEM_ID),
        F.concat_ws(" ", F.col("brand"), last_category_level, F.col("product_id")).alias(TITLE),
        F.col("brand").alias(BRAND),
        category_path.alias(CATEGORY_PATH),
        F.col("price").alias(PRICE),
    )
    return to_contract(items, "items")


def _latest_non_empty(name: str) -> Column:
    """The value of `name` on the product's latest event where it is not blank (ties: largest value)."""
    value = F.col(name)
    seen_at = F.try_to_timestamp(F.col("event_time"), F.lit(EVENT_TIME_FORMAT))
    candidate = F.when(F.trim(value) != "", F.struct(seen_at.alias("seen_at"), value.alias("value")))
    return F.max(candidate).getField("value")
