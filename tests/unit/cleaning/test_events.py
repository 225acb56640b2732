"""Each event cleaning rule on a handful of in-line rows."""

from __future__ import annotations

from datetime import datetime

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crosssell_spark.cleaning.events import EventReason, classify_events, clean_events
from crosssell_spark.config import CleaningConfig
from crosssell_spark.schemas import EVENTS_CLEAN_SCHEMA, ITEM_ID, RAW_EVENTS_SCHEMA, REASON
from tests.conftest import BASE_CONF, make_test_config

NOW = datetime(2026, 11, 1, 12, 0, 0)
GOOD = ("U1", "P1", "view", "2026-10-01 10:00:00", "s1", "1", "9.99")


@pytest.fixture(scope="module")
def cleaning(tmp_path_factory: pytest.TempPathFactory) -> CleaningConfig:
    assert BASE_CONF.exists()
    return make_test_config(tmp_path_factory.mktemp("lh")).cleaning


@pytest.fixture(scope="module")
def known_items(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame([("P1",), ("P2",)], [ITEM_ID])


def classify(spark: SparkSession, cleaning: CleaningConfig, known: DataFrame, rows: list[tuple]) -> list:
    raw = spark.createDataFrame(rows, RAW_EVENTS_SCHEMA)
    return raw.transform(classify_events(cleaning, known, NOW)).collect()


def reason_of(spark: SparkSession, cleaning: CleaningConfig, known: DataFrame, row: tuple) -> str | None:
    (result,) = classify(spark, cleaning, known, [row])
    return result[REASON]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (GOOD, None),
        (("U1", "P1", "purchase", "2026-10-01T10:00:00Z", None, None, None), None),  # ISO, optional blanks
        (("U1", "P1", "view", "2019-10-01 00:00:00 UTC", "s", "1", "1"), None),  # REES46 spelling
        (("U1", "P1", "ADD_TO_CART", "2026-10-01 10:00:00", "s", "1", "1"), None),  # alias, any case
        ((None, "P1", "view", "2026-10-01 10:00:00", "s", "1", "1"), EventReason.NULL_KEY),
        (("U1", "  ", "view", "2026-10-01 10:00:00", "s", "1", "1"), EventReason.NULL_KEY),
        (("U1", "P1", "view", "2026-13-45 99:99:99", "s", "1", "1"), EventReason.BAD_TIMESTAMP),
        (("U1", "P1", "view", "not a date", "s", "1", "1"), EventReason.BAD_TIMESTAMP),
        (("U1", "P1", "view", "1970-01-01 00:00:00", "s", "1", "1"), EventReason.OUT_OF_RANGE_TIMESTAMP),
        (("U1", "P1", "view", "2026-11-03 12:00:00", "s", "1", "1"), EventReason.OUT_OF_RANGE_TIMESTAMP),
        (("U1", "P1", "hover", "2026-10-01 10:00:00", "s", "1", "1"), EventReason.UNKNOWN_EVENT_TYPE),
        (("U1", "P1", "view", "2026-10-01 10:00:00", "s", "0", "1"), EventReason.BAD_QUANTITY),
        (("U1", "P1", "view", "2026-10-01 10:00:00", "s", "two", "1"), EventReason.BAD_QUANTITY),
        (("U1", "P1", "view", "2026-10-01 10:00:00", "s", "1", "-5.00"), EventReason.BAD_PRICE),
        (("U1", "P1", "view", "2026-10-01 10:00:00", "s", "1", "99999999.00"), EventReason.BAD_PRICE),
        (("U1", "P1", "view", "2026-10-01 10:00:00", "s", "1", "abc"), EventReason.BAD_PRICE),
        (("U1", "P9", "view", "2026-10-01 10:00:00", "s", "1", "1"), EventReason.UNKNOWN_ITEM),
    ],
)
def test_each_rule_gives_its_reason(spark, cleaning, known_items, row, reason):
    assert reason_of(spark, cleaning, known_items, row) == reason


def test_first_failing_rule_wins_and_detail_names_the_value(spark, cleaning, known_items):
    (result,) = classify(spark, cleaning, known_items, [("U1", "P9", "hover", "garbage", "s", "0", "-1")])
    assert result[REASON] == EventReason.BAD_TIMESTAMP
    assert result["detail"] == "event_ts=garbage"


def test_exact_and_near_duplicates_are_flagged_but_later_events_kept(spark, cleaning, known_items):
    rows = [
        GOOD,
        GOOD,  # exact copy
        ("U1", "P1", "view", "2026-10-01 10:00:02", "s1", "1", "9.99"),  # +2 s: within the window
        ("U1", "P1", "view", "2026-10-01 10:00:05", "s1", "1", "9.99"),  # +3 s after the last: kept
        ("U1", "P1", "cart", "2026-10-01 10:00:01", "s1", "1", "9.99"),  # other type: kept
        ("U2", "P1", "view", "2026-10-01 10:00:00", "s9", "1", "9.99"),  # other user: kept
    ]
    flags = sorted(
        (r["event_type"], r["user_id"], r["event_ts"], r["is_duplicate"])
        for r in classify(spark, cleaning, known_items, rows)
    )
    assert [f[3] for f in flags] == [False, False, True, True, False, False]


def test_bot_users_over_the_daily_ceiling_are_quarantined(spark, known_items, tmp_path):
    cleaning = make_test_config(tmp_path, "cleaning.bot_max_events_per_day=3").cleaning
    bot = [("BOT", "P1", "view", f"2026-10-01 10:00:{s:02d}", "b", "1", "1") for s in range(0, 40, 10)]
    human = [("U1", "P1", "view", f"2026-10-0{d} 10:00:00", "h", "1", "1") for d in range(1, 5)]
    results = classify(spark, cleaning, known_items, bot + human)
    reasons = {(r["user_id"], r[REASON]) for r in results}
    assert reasons == {("BOT", EventReason.BOT_USER), ("U1", None)}


def test_clean_events_shape_ids_and_derived_sessions(spark, cleaning, known_items):
    rows = [
        ("U1", "P1", "view", "2026-10-01 10:00:00", None, None, None),
        ("U1", "P2", "cart", "2026-10-01 10:20:00", None, "2", "3.5"),
        ("U1", "P1", "purchase", "2026-10-01 11:30:00", None, "1", None),  # 70 min later: new session
        ("U2", "P1", "view", "2026-10-01 10:00:00", "given", "1", None),
    ]
    raw = spark.createDataFrame(rows, RAW_EVENTS_SCHEMA)
    clean = clean_events(raw.transform(classify_events(cleaning, known_items, NOW)), 30)
    assert clean.schema.fieldNames() == EVENTS_CLEAN_SCHEMA.fieldNames()
    got = clean.select(
        "user_id",
        "event_type",
        "session_id",
        "quantity",
        "price",
        F.col("event_date").cast("string").alias("event_date"),
    )
    expected = spark.createDataFrame(
        [
            ("U1", "view", "U1-s1", 1, None, "2026-10-01"),
            ("U1", "cart", "U1-s1", 2, 3.5, "2026-10-01"),
            ("U1", "purchase", "U1-s2", 1, None, "2026-10-01"),
            ("U2", "view", "given", 1, None, "2026-10-01"),
        ],
        "user_id string, event_type string, session_id string, quantity int, price double, event_date string",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    ids = [r["event_id"] for r in clean.collect()]
    assert len(set(ids)) == 4 and all(len(i) == 32 for i in ids)


def test_event_ids_are_stable_across_runs(spark, cleaning, known_items):
    raw = spark.createDataFrame([GOOD], RAW_EVENTS_SCHEMA)

    def event_id() -> str:
        return clean_events(raw.transform(classify_events(cleaning, known_items, NOW)), 30).first()["event_id"]

    assert event_id() == event_id()
