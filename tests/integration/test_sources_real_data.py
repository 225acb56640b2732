"""The Instacart, REES46 and UCI Online Retail adapters on the real public files in ../shared/data."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from crosssell_spark.schemas import (
    CATEGORY_PATH,
    CATEGORY_SEPARATOR,
    EVENT_TS,
    EVENT_TYPE,
    ITEM_ID,
    PRICE,
    RAW_EVENTS_SCHEMA,
    RAW_ITEMS_SCHEMA,
    SESSION_ID,
    TITLE,
    USER_ID,
)
from crosssell_spark.sources import instacart, rees46, uci_online_retail
from crosssell_spark.sources.contract import RawInputs
from crosssell_spark.tables import EVENTS_CLEAN, ITEMS_CLEAN, RECONCILIATION
from tests.conftest import shared_data

pytestmark = [pytest.mark.integration, pytest.mark.shared_data]

# Counts of the files in ../shared/data (README.md; REES46 products counted with pandas): one event
# per source line, one item per product.
INSTACART_ORDER_LINES, INSTACART_PRODUCTS, INSTACART_USERS = 150_000, 49_688, 593
REES46_LINES, REES46_PRODUCTS = 4_999, 2_305
UCI_LINES, UCI_LINES_WITHOUT_CUSTOMER, UCI_CANCELLATION_LINES = 541_909, 135_080, 9_288


def names_and_types(schema: StructType) -> list[tuple[str, str]]:
    return [(field.name, field.dataType.simpleString()) for field in schema.fields]


def cached(raw: RawInputs) -> Iterator[RawInputs]:
    raw.events.cache()
    raw.items.cache()
    yield raw
    raw.events.unpersist()
    raw.items.unpersist()


def assert_contract_schemas(raw: RawInputs) -> None:
    assert names_and_types(raw.events.schema) == names_and_types(RAW_EVENTS_SCHEMA)
    assert names_and_types(raw.items.schema) == names_and_types(RAW_ITEMS_SCHEMA)


def item_id_counts(items: DataFrame) -> tuple[int, int]:
    row = items.agg(F.count(F.lit(1)).alias("rows"), F.count_distinct(ITEM_ID).alias("ids")).first()
    assert row is not None
    return row["rows"], row["ids"]


# --- Instacart ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def instacart_raw(spark: SparkSession) -> Iterator[RawInputs]:
    yield from cached(instacart.read_raw(spark, str(shared_data("instacart"))))


def test_instacart_delivers_one_event_per_order_line_and_one_item_per_product(instacart_raw):
    assert_contract_schemas(instacart_raw)
    lines = instacart_raw.events.agg(
        F.count(F.lit(1)).alias("events"),
        F.count(EVENT_TS).alias("timed"),
        F.count_distinct(USER_ID, EVENT_TS).alias("distinct_user_times"),
        F.count_distinct(USER_ID).alias("users"),
    ).first()
    assert lines is not None
    assert lines["events"] == lines["timed"] == INSTACART_ORDER_LINES
    assert lines["distinct_user_times"] == INSTACART_ORDER_LINES  # no two lines of a user collide
    assert lines["users"] == INSTACART_USERS
    assert item_id_counts(instacart_raw.items) == (INSTACART_PRODUCTS, INSTACART_PRODUCTS)


def test_instacart_timelines_follow_order_number_and_end_on_the_anchor_date(spark, instacart_raw):
    order_lines = instacart.read_csv(
        spark,
        str(shared_data("instacart", instacart.ORDER_LINES_FILE)),
        instacart.ORDER_LINES_SCHEMA,
    )
    order_numbers = order_lines.select(
        F.col("order_id").alias(SESSION_ID), F.col("order_number").cast("int").alias("order_number")
    ).distinct()
    orders = (
        instacart_raw.events.join(order_numbers, SESSION_ID)
        .groupBy(USER_ID, SESSION_ID, "order_number")
        .agg(F.min(EVENT_TS).alias("first_line"), F.max(EVENT_TS).alias("last_line"))
    )
    previous_last_line = F.lag("last_line").over(Window.partitionBy(USER_ID).orderBy("order_number"))
    users = (
        orders.withColumn("starts_after_previous", F.col("first_line") > previous_last_line)
        .groupBy(USER_ID)
        .agg(
            F.count_if(~F.col("starts_after_previous")).alias("orders_out_of_sequence"),
            F.to_date(F.max("last_line")).alias("last_day"),
        )
    )
    summary = users.agg(
        F.count(F.lit(1)).alias("users"),
        F.sum("orders_out_of_sequence").alias("orders_out_of_sequence"),
        F.count_if(F.col("last_day") == F.lit(instacart.TIMELINE_END)).alias("users_ending_on_anchor"),
    ).first()
    assert summary is not None
    assert summary["users"] == INSTACART_USERS
    assert summary["orders_out_of_sequence"] == 0
    assert summary["users_ending_on_anchor"] == INSTACART_USERS


# --- REES46 ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rees46_raw(spark: SparkSession) -> Iterator[RawInputs]:
    yield from cached(rees46.read_raw(spark, str(shared_data("rees46_sample"))))


def test_rees46_delivers_every_line_with_parseable_times(rees46_raw):
    assert_contract_schemas(rees46_raw)
    parsed = F.try_to_timestamp(F.col(EVENT_TS), F.lit(rees46.EVENT_TIME_FORMAT))
    row = rees46_raw.events.agg(
        F.count(F.lit(1)).alias("events"),
        F.count(parsed).alias("parsed"),
        F.min(F.date_format(parsed, "yyyy-MM-dd")).alias("first_day"),
        F.count_distinct(ITEM_ID).alias("products"),
        F.collect_set(EVENT_TYPE).alias("types"),
    ).first()
    assert row is not None
    assert row["events"] == row["parsed"] == REES46_LINES
    assert row["first_day"] == "2019-10-01"
    assert row["products"] == REES46_PRODUCTS
    assert sorted(row["types"]) == ["cart", "purchase", "view"]


def test_rees46_items_have_hierarchical_paths_and_titles(rees46_raw):
    path = F.col(CATEGORY_PATH)
    row = rees46_raw.items.agg(
        F.count(F.lit(1)).alias("items"),
        F.count_distinct(ITEM_ID).alias("ids"),
        F.count_if(path.contains(CATEGORY_SEPARATOR)).alias("hierarchical"),
        F.count_if(path.contains(".")).alias("dotted"),
        F.count_if(path.startswith("Unknown" + CATEGORY_SEPARATOR)).alias("uncoded"),
        F.count_if(F.col(TITLE).endswith(F.col(ITEM_ID))).alias("titled"),
    ).first()
    assert row is not None
    assert row["items"] == row["ids"] == row["hierarchical"] == row["titled"] == REES46_PRODUCTS
    assert row["dotted"] == 0
    assert 0 < row["uncoded"] < REES46_PRODUCTS  # category_code is often, not always, empty


# --- UCI Online Retail ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def uci_raw(spark: SparkSession) -> Iterator[RawInputs]:
    yield from cached(uci_online_retail.read_raw(spark, str(shared_data("uci_online_retail"))))


def test_uci_delivers_every_line_with_cancellations_marked_and_customers_as_integers(uci_raw):
    assert_contract_schemas(uci_raw)
    row = uci_raw.events.agg(
        F.count(F.lit(1)).alias("events"),
        F.count_if(F.col(EVENT_TYPE) == uci_online_retail.CANCELLATION).alias("cancellations"),
        F.count_if(F.col(SESSION_ID).startswith("C")).alias("c_invoices"),
        F.count_if(F.col(USER_ID).isNull()).alias("without_customer"),
        F.count_if(~F.col(USER_ID).rlike(r"^[0-9]+$")).alias("non_integer_customers"),
        F.min(EVENT_TS).alias("first"),
        F.max(EVENT_TS).alias("last"),
        F.count_distinct(ITEM_ID).alias("stock_codes"),
    ).first()
    assert row is not None
    assert row["events"] == UCI_LINES
    assert row["cancellations"] == row["c_invoices"] == UCI_CANCELLATION_LINES
    assert row["without_customer"] == UCI_LINES_WITHOUT_CUSTOMER
    assert row["non_integer_customers"] == 0
    # the Parquet file's nanosecond InvoiceDate statistics: min 2010-12-01 08:26, max 2011-12-09 12:50
    assert (row["first"], row["last"]) == ("2010-12-01 08:26:00", "2011-12-09 12:50:00")
    assert item_id_counts(uci_raw.items) == (row["stock_codes"], row["stock_codes"])


def test_uci_items_are_titled_from_descriptions_without_categories(uci_raw):
    row = uci_raw.items.agg(
        F.count_if(F.col(TITLE) == uci_online_retail.MISSING_DESCRIPTION).alias("titled_nan"),
        F.count_if(F.col(CATEGORY_PATH).isNotNull()).alias("categorised"),
        F.count_if(F.col(PRICE).cast("double") <= 0).alias("non_positive_prices"),
        F.max(F.when(F.col(ITEM_ID) == "85123A", F.struct(TITLE, PRICE))).alias("heart_holder"),
    ).first()
    assert row is not None
    assert row["titled_nan"] == row["categorised"] == row["non_positive_prices"] == 0
    assert row["heart_holder"].asDict() == {"title": "WHITE HANGING HEART T-LIGHT HOLDER", "price": "2.95"}


def test_clean_stage_on_real_rees46_clickstream_reconciles(spark, config_factory):
    """The whole cleaning stage on a real feed: every line accounted for, nothing critical fails."""
    from crosssell_spark.lakehouse import Lakehouse
    from crosssell_spark.pipeline import run_stage
    from crosssell_spark.run import Run

    config = config_factory("input.source=rees46", f"input.path={shared_data('rees46_sample')}")
    result = run_stage("clean", spark, config, Run.start())
    lake = Lakehouse(spark, config.lakehouse)
    (events,) = lake.read(RECONCILIATION.name).filter(F.col("input_name") == "events").collect()
    assert events.rows_read == REES46_LINES and events.balanced
    assert events.rows_clean > 0.9 * REES46_LINES  # a real, mostly clean feed: most events survive
    assert lake.read(ITEMS_CLEAN.name).count() == REES46_PRODUCTS
    types = {r[EVENT_TYPE] for r in lake.read(EVENTS_CLEAN.name).select(EVENT_TYPE).distinct().collect()}
    assert types <= {"view", "cart", "purchase"} and "view" in types
    assert result.published["events_clean"] >= 1  # the quality gate let it through
