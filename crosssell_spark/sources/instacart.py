"""Instacart "Market Basket" 2017 sample -> input contract: order lines as purchases, products as items.

Instacart publishes no absolute dates: each user has an order sequence (`order_number`), the days
since the prior order and the hour of day. The adapter rebuilds every user's timeline from those
and anchors it so that the user's LAST order falls on `TIMELINE_END`; a "last N days" time split
then holds out every user's most recent orders. Lines of one order are `CART_LINE_SPACING_SECONDS`
apart in cart order (numbered across the hour when a user placed two orders in the same hour), so
they stay ordered and never look like near-duplicates to cleaning.

Files in the folder: products.csv, aisles.csv, departments.csv and
orders_x_order_products_prior_sample.csv (orders joined to their prior-order lines; the first,
unnamed column is a row index).
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from crosssell_spark.schemas import (
    CATEGORY_PATH,
    CATEGORY_SEPARATOR,
    EVENT_TS,
    EVENT_TYPE,
    ITEM_ID,
    PURCHASE,
    QUANTITY,
    SESSION_ID,
    TITLE,
    USER_ID,
)
from crosssell_spark.sources import RFC4180_CSV
from crosssell_spark.sources.contract import RawInputs, to_contract

PRODUCTS_FILE = "products.csv"
AISLES_FILE = "aisles.csv"
DEPARTMENTS_FILE = "departments.csv"
ORDER_LINES_FILE = "orders_x_order_products_prior_sample.csv"

# Every user's last order lands on this date (the dataset was published in 2017).
TIMELINE_END = date(2017, 6, 30)
CART_LINE_SPACING_SECONDS = 10
EVENT_TS_FORMAT = "yyyy-MM-dd HH:mm:ss"
# Instacart's own placeholder department/aisle for products it never categorised.
MISSING_CATEGORY_NAME = "missing"

SECONDS_PER_DAY = 86_400
SECONDS_PER_HOUR = 3_600


def _string_columns(*names: str) -> StructType:
    return StructType([StructField(name, StringType(), True) for name in names])


# Every column is read as text: ids keep their exact spelling and cleaning judges the values.
PRODUCTS_SCHEMA = _string_columns("product_id", "product_name", "aisle_id", "department_id")
AISLES_SCHEMA = _string_columns("aisle_id", "aisle")
DEPARTMENTS_SCHEMA = _string_columns("department_id", "department")
ORDER_LINES_SCHEMA = _string_columns(
    "row_index",
    "order_id",
    "user_id",
    "order_number",
    "order_dow",
    "order_hour_of_day",
    "days_since_prior_order",
    "product_id",
    "add_to_cart_order",
    "reordered",
)
# products.csv doubles quotes inside quoted names (RFC 4180); Spark's default backslash escape
# would split a name such as `"Scotch Kids 5"" Scissors, Blunted, Red"` across three columns.
CSV_OPTIONS = {"header": "true", **RFC4180_CSV}


def read_csv(spark: SparkSession, path: str, schema: StructType) -> DataFrame:
    """One Instacart CSV file with its explicit all-string schema."""
    return spark.read.options(**CSV_OPTIONS).schema(schema).csv(path)


def read_raw(spark: SparkSession, path: str) -> RawInputs:
    """Events and catalogue of the Instacart folder `path`, in the input contract."""
    order_lines = read_csv(spark, f"{path}/{ORDER_LINES_FILE}", ORDER_LINES_SCHEMA)
    products = read_csv(spark, f"{path}/{PRODUCTS_FILE}", PRODUCTS_SCHEMA)
    aisles = read_csv(spark, f"{path}/{AISLES_FILE}", AISLES_SCHEMA)
    departments = read_csv(spark, f"{path}/{DEPARTMENTS_FILE}", DEPARTMENTS_SCHEMA)
    return RawInputs(
        events=orders_to_events(order_lines),
        items=products_to_items(products, aisles, departments),
    )


def orders_to_events(order_lines: DataFrame) -> DataFrame:
    """One purchase per order line, timed on the user's timeline anchored at TIMELINE_END."""
    order_number = F.col("order_number").try_cast("int")
    cart_position = F.col("add_to_cart_order").try_cast("double")
    # The first order has no prior one (empty); a missing gap elsewhere also counts as 0 days.
    days_since_prior = F.coalesce(F.col("days_since_prior_order").try_cast("double"), F.lit(0.0))
    lines_of_order = Window.partitionBy("user_id", "order_id").orderBy(cart_position, "product_id")
    user = Window.partitionBy("user_id")
    orders_so_far = user.orderBy(order_number).rangeBetween(Window.unboundedPreceding, Window.currentRow)
    # Two orders of one user can share a day and hour: number lines across the whole hour so that
    # the later order's lines come after the earlier order's.
    lines_of_hour = Window.partitionBy("user_id", "_days_since_first_order", "_hour").orderBy(
        order_number, cart_position, "product_id"
    )
    one_gap_per_order = F.when(F.row_number().over(lines_of_order) == 1, days_since_prior).otherwise(0.0)
    seconds_from_end_day = (
        (F.col("_days_since_first_order") - F.max("_days_since_first_order").over(user)) * SECONDS_PER_DAY
        + F.col("_hour") * SECONDS_PER_HOUR
        + F.row_number().over(lines_of_hour) * CART_LINE_SPACING_SECONDS
    ).try_cast("long")
    end_day = F.to_timestamp_ntz(F.lit(TIMELINE_END.isoformat()))
    events = (
        order_lines.withColumn("_days_since_first_order", F.sum(one_gap_per_order).over(orders_so_far))
        .withColumn("_hour", F.col("order_hour_of_day").try_cast("int"))
        .select(
            F.col("user_id").alias(USER_ID),
            F.col("product_id").alias(ITEM_ID),
            F.lit(PURCHASE).alias(EVENT_TYPE),
            # timestamp_ntz: wall-clock arithmetic, untouched by the session time zone and DST
            F.date_format(F.timestamp_add("SECOND", seconds_from_end_day, end_day), EVENT_TS_FORMAT).alias(EVENT_TS),
            F.col("order_id").alias(SESSION_ID),
            F.lit("1").alias(QUANTITY),
        )
    )
    return to_contract(events, "events")


def products_to_items(products: DataFrame, aisles: DataFrame, departments: DataFrame) -> DataFrame:
    """One item per product: its name as title, "<department> > <aisle>" as category path."""
    aisle = _category_name(F.col("aisle"))
    department = _category_name(F.col("department"))
    items = (
        products.join(F.broadcast(_one_name_per_id(aisles, "aisle_id", "aisle")), "aisle_id", "left")
        .join(F.broadcast(_one_name_per_id(departments, "department_id", "department")), "department_id", "left")
        .select(
            F.col("product_id").alias(ITEM_ID),
            F.col("product_name").alias(TITLE),
            # null when either level is unknown: cleaning files the item under its unknown category
            F.concat(department, F.lit(CATEGORY_SEPARATOR), aisle).alias(CATEGORY_PATH),
        )
    )
    return to_contract(items, "items")


def _one_name_per_id(lookup: DataFrame, id_column: str, name_column: str) -> DataFrame:
    # A repeated id in a lookup file must not turn one product into several items.
    return lookup.groupBy(id_column).agg(F.min(name_column).alias(name_column))


def _category_name(name: Column) -> Column:
    trimmed = F.trim(name)
    return F.when((trimmed == "") | (F.lower(trimmed) == MISSING_CATEGORY_NAME), None).otherwise(trimmed)
