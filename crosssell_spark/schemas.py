"""Column names and StructTypes of every input and output table, in one place."""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

# --- column names -------------------------------------------------------------------------------
USER_ID = "user_id"
ITEM_ID = "item_id"
EVENT_ID = "event_id"
EVENT_TYPE = "event_type"
EVENT_TS = "event_ts"
EVENT_DATE = "event_date"
SESSION_ID = "session_id"
QUANTITY = "quantity"
PRICE = "price"
TITLE = "title"
DESCRIPTION = "description"
BRAND = "brand"
CATEGORY_PATH = "category_path"
CATEGORY_ID = "category_id"
CATEGORY_IDS = "category_ids"
CATEGORY_NAMES = "category_names"
CATEGORY_DEPTH = "category_depth"
IN_STOCK = "in_stock"
REASON = "reason"
DETAIL = "detail"
RUN_ID = "run_id"
SOURCE = "source"
INGESTED_AT = "ingested_at"

# canonical event types; configurable extras are allowed on top of these
VIEW, CART, PURCHASE = "view", "cart", "purchase"
CANONICAL_EVENT_TYPES = (VIEW, CART, PURCHASE)


def _strings(*names: str) -> StructType:
    return StructType([StructField(n, StringType(), True) for n in names])


# --- input contract -----------------------------------------------------------------------------
# Adapters deliver every raw column as a string so that cleaning, not the reader, decides what is
# malformed, and quarantined rows keep the exact value that was read.
RAW_EVENT_COLUMNS = (USER_ID, ITEM_ID, EVENT_TYPE, EVENT_TS, SESSION_ID, QUANTITY, PRICE)
RAW_EVENTS_SCHEMA = _strings(*RAW_EVENT_COLUMNS)

# `category_path` holds the hierarchy root first, levels joined by CATEGORY_SEPARATOR.
CATEGORY_SEPARATOR = " > "
RAW_ITEM_COLUMNS = (ITEM_ID, TITLE, DESCRIPTION, BRAND, CATEGORY_PATH, PRICE, IN_STOCK)
RAW_ITEMS_SCHEMA = _strings(*RAW_ITEM_COLUMNS)

# --- cleaning outputs ---------------------------------------------------------------------------
EVENTS_CLEAN_SCHEMA = StructType(
    [
        StructField(EVENT_ID, StringType(), False),
        StructField(USER_ID, StringType(), False),
        StructField(ITEM_ID, StringType(), False),
        StructField(EVENT_TYPE, StringType(), False),
        StructField(EVENT_TS, TimestampType(), False),
        StructField(SESSION_ID, StringType(), False),
        StructField(QUANTITY, IntegerType(), False),
        StructField(PRICE, DoubleType(), True),
        StructField(EVENT_DATE, DateType(), False),
    ]
)

ITEMS_CLEAN_SCHEMA = StructType(
    [
        StructField(ITEM_ID, StringType(), False),
        StructField(TITLE, StringType(), False),
        StructField(DESCRIPTION, StringType(), True),
        StructField(BRAND, StringType(), True),
        StructField(CATEGORY_NAMES, ArrayType(StringType()), False),
        StructField(CATEGORY_IDS, ArrayType(StringType()), False),
        StructField(CATEGORY_ID, StringType(), False),
        StructField(CATEGORY_DEPTH, IntegerType(), False),
        StructField(PRICE, DoubleType(), True),
        StructField(IN_STOCK, BooleanType(), False),
    ]
)

CATEGORY_NAME = "category_name"
LEVEL = "level"
PARENT_ID = "parent_id"
IS_LEAF = "is_leaf"
CATEGORIES_SCHEMA = StructType(
    [
        StructField(CATEGORY_ID, StringType(), False),
        StructField(CATEGORY_NAME, StringType(), False),
        StructField(LEVEL, IntegerType(), False),
        StructField(PARENT_ID, StringType(), True),
        StructField(CATEGORY_PATH, StringType(), False),
        StructField(IS_LEAF, BooleanType(), False),
    ]
)


def quarantine_schema(raw_schema: StructType) -> StructType:
    """A quarantine table keeps the raw row as read plus why it was rejected."""
    return StructType(
        [
            *raw_schema.fields,
            StructField(REASON, StringType(), False),
            StructField(DETAIL, StringType(), True),
            StructField(RUN_ID, StringType(), False),
        ]
    )


EVENTS_QUARANTINE_SCHEMA = quarantine_schema(RAW_EVENTS_SCHEMA)
ITEMS_QUARANTINE_SCHEMA = quarantine_schema(RAW_ITEMS_SCHEMA)

INPUT_NAME = "input_name"
ROWS_READ = "rows_read"
ROWS_CLEAN = "rows_clean"
ROWS_QUARANTINED = "rows_quarantined"
ROWS_DUPLICATE = "rows_duplicate"
BALANCED = "balanced"
RECORDED_AT = "recorded_at"
RECONCILIATION_SCHEMA = StructType(
    [
        StructField(RUN_ID, StringType(), False),
        StructField(INPUT_NAME, StringType(), False),
        StructField(ROWS_READ, LongType(), False),
        StructField(ROWS_CLEAN, LongType(), False),
        StructField(ROWS_QUARANTINED, LongType(), False),
        StructField(ROWS_DUPLICATE, LongType(), False),
        StructField(BALANCED, BooleanType(), False),
        StructField(RECORDED_AT, TimestampType(), False),
    ]
)

TABLE_NAME = "table_name"
EXPECTATION = "expectation"
COLUMN = "column"
SEVERITY = "severity"
SUCCESS = "success"
OBSERVED_VALUE = "observed_value"
UNEXPECTED_COUNT = "unexpected_count"
UNEXPECTED_PERCENT = "unexpected_percent"
SAMPLE = "sample"
CHECKED_AT = "checked_at"
DQ_RESULTS_SCHEMA = StructType(
    [
        StructField(RUN_ID, StringType(), False),
        StructField(TABLE_NAME, StringType(), False),
        StructField(EXPECTATION, StringType(), False),
        StructField(COLUMN, StringType(), True),
        StructField(DESCRIPTION, StringType(), True),
        StructField(SEVERITY, StringType(), False),
        StructField(SUCCESS, BooleanType(), False),
        StructField(OBSERVED_VALUE, StringType(), True),
        StructField(UNEXPECTED_COUNT, LongType(), True),
        StructField(UNEXPECTED_PERCENT, DoubleType(), True),
        StructField(SAMPLE, StringType(), True),
        StructField(CHECKED_AT, TimestampType(), False),
    ]
)
