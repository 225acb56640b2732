"""Pure transforms of the Instacart, REES46 and UCI Online Retail adapters on a handful of rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType, TimestampNTZType

from crosssell_spark.schemas import RAW_EVENTS_SCHEMA, RAW_ITEMS_SCHEMA
from crosssell_spark.sources import instacart, rees46, uci_online_retail


def events(spark: SparkSession, rows: list[tuple]):
    return spark.createDataFrame(rows, RAW_EVENTS_SCHEMA)


def items(spark: SparkSession, rows: list[tuple]):
    return spark.createDataFrame(rows, RAW_ITEMS_SCHEMA)


def assert_same_rows(actual, expected) -> None:
    # Nullability is not part of the contract's promise (literal columns are non-nullable).
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


# --- Instacart ------------------------------------------------------------------------------------


def order_line(order_id, user_id, order_number, hour, days_since_prior, product_id, cart_position):
    return ("0", order_id, user_id, order_number, "0", hour, days_since_prior, product_id, cart_position, "0")


def test_instacart_timeline_ends_every_user_on_timeline_end_and_orders_cart_lines(spark):
    assert instacart.TIMELINE_END.isoformat() == "2017-06-30"
    lines = spark.createDataFrame(
        [
            # user 1: order 1 (no prior, 08h, two lines listed out of cart order), +7 days 10h, +3 days 09h
            order_line("o1", "1", "1", "8", None, "p2", "2.0"),
            order_line("o1", "1", "1", "8", None, "p1", "1.0"),
            order_line("o2", "1", "2", "10", "7.0", "p3", "1.0"),
            order_line("o3", "1", "3", "9", "3.0", "p1", "1.0"),
            # user 2: a single order, late in the evening
            order_line("o9", "2", "1", "23", "", "p1", "1.0"),
        ],
        instacart.ORDER_LINES_SCHEMA,
    )
    expected = events(
        spark,
        [
            ("1", "p1", "purchase", "2017-06-20 08:00:10", "o1", "1", None),
            ("1", "p2", "purchase", "2017-06-20 08:00:20", "o1", "1", None),
            ("1", "p3", "purchase", "2017-06-27 10:00:10", "o2", "1", None),
            ("1", "p1", "purchase", "2017-06-30 09:00:10", "o3", "1", None),
            ("2", "p1", "purchase", "2017-06-30 23:00:10", "o9", "1", None),
        ],
    )
    assert_same_rows(instacart.orders_to_events(lines), expected)


def test_instacart_orders_in_the_same_hour_follow_each_other_without_colliding(spark):
    lines = spark.createDataFrame(
        [
            order_line("o1", "1", "1", "11", None, "p1", "1.0"),
            order_line("o1", "1", "1", "11", None, "p2", "2.0"),
            # same day (0 days since prior), same hour: must start after o1's last line
            order_line("o2", "1", "2", "11", "0.0", "p1", "1.0"),
        ],
        instacart.ORDER_LINES_SCHEMA,
    )
    timestamps = {(r["session_id"], r["item_id"]): r["event_ts"] for r in instacart.orders_to_events(lines).collect()}
    assert timestamps == {
        ("o1", "p1"): "2017-06-30 11:00:10",
        ("o1", "p2"): "2017-06-30 11:00:20",
        ("o2", "p1"): "2017-06-30 11:00:30",
    }


def test_instacart_dirty_lines_come_through_for_cleaning_to_quarantine(spark):
    lines = spark.createDataFrame(
        [
            order_line("o1", "1", "1", "8", None, "p1", "1.0"),
            order_line("o1", "1", "1", "late", None, "p2", "2.0"),
            order_line("o2", None, "1", "9", None, "p3", "1.0"),
        ],
        instacart.ORDER_LINES_SCHEMA,
    )
    rows = {r["item_id"]: r for r in instacart.orders_to_events(lines).collect()}
    assert set(rows) == {"p1", "p2", "p3"}
    assert rows["p2"]["event_ts"] is None  # unparseable hour: no time, cleaning says bad timestamp
    assert rows["p3"]["user_id"] is None and rows["p3"]["event_ts"] == "2017-06-30 09:00:10"


def test_instacart_products_get_department_then_aisle_as_category_path(spark):
    products = spark.createDataFrame(
        [
            ("1", "Chocolate Sandwich Cookies", "61", "19"),
            ("2", "Mystery Box", "999", "19"),  # aisle id absent from aisles.csv
            ("3", "Uncategorised Thing", "100", "21"),  # Instacart's own "missing" placeholders
        ],
        instacart.PRODUCTS_SCHEMA,
    )
    # aisle 61 listed twice must not duplicate product 1
    aisles = spark.createDataFrame(
        [("61", "cookies cakes"), ("61", "cookies cakes"), ("100", "missing")], instacart.AISLES_SCHEMA
    )
    departments = spark.createDataFrame([("19", "snacks"), ("21", "missing")], instacart.DEPARTMENTS_SCHEMA)
    expected = items(
        spark,
        [
            ("1", "Chocolate Sandwich Cookies", None, None, "snacks > cookies cakes", None, None),
            ("2", "Mystery Box", None, None, None, None, None),
            ("3", "Uncategorised Thing", None, None, None, None, None),
        ],
    )
    assert_same_rows(instacart.products_to_items(products, aisles, departments), expected)


# --- REES46 ---------------------------------------------------------------------------------------


def click(event_time, event_type, product_id, category_id, category_code, brand, price, user="u1"):
    return (event_time, event_type, product_id, category_id, category_code, brand, price, user, "s1")


def test_rees46_events_keep_the_published_values(spark):
    clickstream = spark.createDataFrame(
        [click("2019-10-01 00:00:01 UTC", "cart", "1004856", "2053", "electronics.phone", "samsung", "130.76")],
        rees46.EVENTS_SCHEMA,
    )
    expected = events(spark, [("u1", "1004856", "cart", "2019-10-01 00:00:01 UTC", "s1", None, "130.76")])
    assert_same_rows(rees46.clickstream_to_events(clickstream), expected)


def test_rees46_event_time_parses_with_the_cleaning_format_in_spark_4_1(spark):
    # Checked on Spark 4.1.1: the "z" pattern accepts the literal "UTC" zone, so the adapter keeps
    # event_time as published instead of normalising it.
    published = spark.createDataFrame([("2019-10-01 00:00:01 UTC",)], "event_ts string")
    parsed = F.try_to_timestamp(F.col("event_ts"), F.lit(rees46.EVENT_TIME_FORMAT))
    assert published.select(F.unix_timestamp(parsed).alias("epoch")).first()["epoch"] == 1_569_888_001


def test_rees46_items_take_the_latest_non_empty_attributes_and_synthesise_titles(spark):
    clickstream = spark.createDataFrame(
        [
            # listed newest first: "latest" must come from event_time, not from row order
            click("2019-10-01 00:00:09 UTC", "view", "A", "2053", "", "", "12.00"),
            click("2019-10-01 00:00:05 UTC", "view", "A", "2053", "electronics.smartphone", "apple", "10.00"),
            click("2019-10-01 00:00:01 UTC", "view", "A", "2053", "electronics.audio", "sony", "9.00"),
            click("2019-10-01 00:00:02 UTC", "view", "B", "2103807459595387724", None, None, "35.79"),
            click("2019-10-01 00:00:03 UTC", "cart", "C", "2232", "appliances.kitchen.kettle", None, "20.10"),
        ],
        rees46.EVENTS_SCHEMA,
    )
    expected = items(
        spark,
        [
            ("A", "apple smartphone A", None, "apple", "electronics > smartphone", "12.00", None),
            ("B", "B", None, None, "Unknown > 2103807459595387724", "35.79", None),
            ("C", "kettle C", None, None, "appliances > kitchen > kettle", "20.10", None),
        ],
    )
    assert_same_rows(rees46.clickstream_to_items(clickstream), expected)


# --- UCI Online Retail ----------------------------------------------------------------------------

INVOICE_LINES = StructType(
    [
        StructField("InvoiceNo", StringType(), True),
        StructField("StockCode", StringType(), True),
        StructField("Description", StringType(), True),
        StructField("Quantity", LongType(), True),
        StructField("InvoiceDate", TimestampNTZType(), True),
        StructField("UnitPrice", DoubleType(), True),
        StructField("CustomerID", DoubleType(), True),
        StructField("Country", StringType(), True),
    ]
)
NOON = datetime(2010, 12, 1, 12, 0, 5)


def invoice_line(invoice, stock_code, description="X", quantity=1, price=1.0, customer=17850.0):
    return (invoice, stock_code, description, quantity, NOON, price, customer, "United Kingdom")


def test_uci_events_map_cancellations_and_format_customers(spark):
    lines = spark.createDataFrame(
        [
            invoice_line("536365", "85123A", quantity=6, price=2.55),
            invoice_line("C536379", "D", quantity=-1, price=27.5, customer=14527.0),
            invoice_line("A563185", "B", price=-11062.06, customer=None),
        ],
        INVOICE_LINES,
    )
    expected = events(
        spark,
        [
            ("17850", "85123A", "purchase", "2010-12-01 12:00:05", "536365", "6", "2.55"),
            ("14527", "D", "cancellation", "2010-12-01 12:00:05", "C536379", "-1", "27.5"),
            (None, "B", "purchase", "2010-12-01 12:00:05", "A563185", "1", "-11062.06"),
        ],
    )
    assert_same_rows(uci_online_retail.invoice_lines_to_events(lines), expected)


def test_uci_customer_ids_are_integers_as_text_and_oddities_stay_visible(spark):
    ids = spark.createDataFrame([(17850.0,), (None,), (float("nan"),), (12.5,)], "customer double")
    as_text = ids.select(uci_online_retail.customer_id_text(F.col("customer")).alias("id"))
    assert [r["id"] for r in as_text.collect()] == ["17850", None, None, "12.5"]


@pytest.fixture
def new_york_session(spark: SparkSession) -> Iterator[SparkSession]:
    previous = spark.conf.get("spark.sql.session.timeZone")
    assert previous is not None
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        yield spark
    finally:
        spark.conf.set("spark.sql.session.timeZone", previous)


def test_uci_invoice_dates_from_nanoseconds_are_wall_clock_in_any_session_time_zone(new_york_session):
    nanos = new_york_session.createDataFrame([(1_291_191_960_123_456_789,)], "nanos long")
    formatted = nanos.select(
        F.date_format(
            uci_online_retail.wall_clock_from_epoch_nanos(F.col("nanos")), "yyyy-MM-dd HH:mm:ss.SSSSSS"
        ).alias("ts")
    )
    assert formatted.first()["ts"] == "2010-12-01 08:26:00.123456"


def test_uci_items_take_the_most_frequent_description_and_positive_price(spark):
    lines = spark.createDataFrame(
        [
            *[invoice_line("1", "X", "BLUE MUG", price=2.0)] * 2,
            *[invoice_line("2", "X", "BLUE CUP", price=1.5)] * 2,  # tie with BLUE MUG: alphabetical wins
            *[invoice_line("3", "X", "nan", price=0.0)] * 5,  # pandas' missing marker and free lines
            invoice_line("4", "X", "  ", price=-1.0),
            invoice_line("5", "Y", "nan", price=0.0),
        ],
        INVOICE_LINES,
    )
    expected = items(
        spark,
        [
            ("X", "BLUE CUP", None, None, None, "1.5", None),
            ("Y", None, None, None, None, None, None),
        ],
    )
    assert_same_rows(uci_online_retail.invoice_lines_to_items(lines), expected)
