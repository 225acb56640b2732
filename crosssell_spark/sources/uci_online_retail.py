"""UCI "Online Retail" (UK gift retailer, 2010-12 to 2011-12) -> input contract: invoice lines as events.

Every invoice line becomes one event, dirt included: cleaning quarantines lines without a customer
(`null_key`), negative quantities (`bad_quantity`), "A" bad-debt adjustments with negative prices
(`bad_price`) and cancellations. A cancellation is an invoice whose number starts with "C"; it gets
the event type "cancellation", which is not canonical, so cleaning quarantines it as
`unknown_event_type` unless the config lists it as an extra type. The source has no categories, so
every item's category path is null (cleaning's explicit unknown category).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

from crosssell_spark.schemas import (
    EVENT_TS,
    EVENT_TYPE,
    ITEM_ID,
    PRICE,
    PURCHASE,
    QUANTITY,
    SESSION_ID,
    TITLE,
    USER_ID,
)
from crosssell_spark.sources.contract import RawInputs, to_contract

INVOICE_LINES_FILE = "online_retail_raw.parquet"
CANCELLATION = "cancellation"
CANCELLATION_INVOICE_PREFIX = "C"
EVENT_TS_FORMAT = "yyyy-MM-dd HH:mm:ss"
# The public Parquet copy went through pandas, which wrote the 1,454 missing descriptions as "nan".
MISSING_DESCRIPTION = "nan"
NANOS_PER_MICRO = 1_000

# InvoiceDate is stored as Parquet TIMESTAMP(NANOS) wall-clock time, which Spark 4 refuses to read
# as a timestamp (PARQUET_TYPE_ILLEGAL). Declared as a long, it reads as nanoseconds since the epoch
# without any session setting; `read_invoice_lines` turns it into a timestamp.
INVOICE_LINES_SCHEMA = StructType(
    [
        StructField("InvoiceNo", StringType(), True),
        StructField("StockCode", StringType(), True),
        StructField("Description", StringType(), True),
        StructField("Quantity", LongType(), True),
        StructField("InvoiceDate", LongType(), True),
        StructField("UnitPrice", DoubleType(), True),
        StructField("CustomerID", DoubleType(), True),
        StructField("Country", StringType(), True),
    ]
)


def read_invoice_lines(spark: SparkSession, path: str) -> DataFrame:
    """The invoice lines of folder `path`, InvoiceDate as timestamp_ntz (UK wall-clock time)."""
    lines = spark.read.schema(INVOICE_LINES_SCHEMA).parquet(f"{path}/{INVOICE_LINES_FILE}")
    return lines.withColumn("InvoiceDate", wall_clock_from_epoch_nanos(F.col("InvoiceDate")))


def read_raw(spark: SparkSession, path: str) -> RawInputs:
    """Events and catalogue of the UCI Online Retail folder `path`, in the input contract."""
    lines = read_invoice_lines(spark, path)
    return RawInputs(events=invoice_lines_to_events(lines), items=invoice_lines_to_items(lines))


def wall_clock_from_epoch_nanos(nanos: Column) -> Column:
    """Nanoseconds since 1970-01-01 00:00 (no time zone) as timestamp_ntz, to the microsecond."""
    epoch = F.to_timestamp_ntz(F.lit("1970-01-01 00:00:00"))
    # decimal division is exact; a double cannot hold today's epoch nanoseconds exactly
    micros = F.floor(nanos.cast("decimal(20,0)") / NANOS_PER_MICRO).cast("long")
    return F.timestamp_add("MICROSECOND", micros, epoch)


def invoice_lines_to_events(lines: DataFrame) -> DataFrame:
    """One event per invoice line: a purchase, or a "cancellation" for invoices starting with C."""
    is_cancellation = F.col("InvoiceNo").startswith(CANCELLATION_INVOICE_PREFIX)
    events = lines.select(
        customer_id_text(F.col("CustomerID")).alias(USER_ID),
        F.col("StockCode").alias(ITEM_ID),
        F.when(is_cancellation, F.lit(CANCELLATION)).otherwise(F.lit(PURCHASE)).alias(EVENT_TYPE),
        F.date_format(F.col("InvoiceDate"), EVENT_TS_FORMAT).alias(EVENT_TS),
        F.col("InvoiceNo").alias(SESSION_ID),
        F.col("Quantity").alias(QUANTITY),
        F.col("UnitPrice").alias(PRICE),
    )
    return to_contract(events, "events")


def customer_id_text(customer_id: Column) -> Column:
    """CustomerID (a float in the source) as an integer string: 17850.0 -> "17850"; NaN -> null."""
    whole = customer_id.try_cast("long")
    return (
        F.when(F.isnan(customer_id), None)
        .when(whole == customer_id, whole.cast("string"))
        # a fractional id is dirt: keep it visible for cleaning instead of truncating it
        .otherwise(customer_id.cast("string"))
    )


def invoice_lines_to_items(lines: DataFrame) -> DataFrame:
    """One item per StockCode: most frequent description as title, most frequent positive price."""
    description = F.col("Description")
    described = lines.where((F.trim(description) != "") & (description != MISSING_DESCRIPTION))
    titles = _most_frequent(described, "Description", TITLE)
    prices = _most_frequent(lines.where(F.col("UnitPrice") > 0), "UnitPrice", PRICE)
    stock_codes = lines.select("StockCode").distinct()
    items = (
        stock_codes.join(titles, "StockCode", "left")
        .join(prices, "StockCode", "left")
        .withColumnRenamed("StockCode", ITEM_ID)
    )
    return to_contract(items, "items")


def _most_frequent(lines: DataFrame, value: str, alias: str) -> DataFrame:
    """Per StockCode, the `value` seen on most lines (ties: the smallest value)."""
    counted = lines.groupBy("StockCode", value).agg(F.count(F.lit(1)).alias("lines"))
    # min over (-lines, value): most lines first, then the smallest value
    winner = F.min(F.struct((-F.col("lines")).alias("fewest"), F.col(value).alias("value")))
    return counted.groupBy("StockCode").agg(winner.getField("value").alias(alias))
