"""A day's classified events against what is published: cross-day repeats and strays."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pyspark.sql import DataFrame, SparkSession

from crosssell_spark.cleaning.events import IS_DUPLICATE, classify_events, clean_events
from crosssell_spark.cleaning.incremental import OUTSIDE_RUN_DATE, attribute_to_day, day_slice, session_prefix
from crosssell_spark.config import CleaningConfig
from crosssell_spark.schemas import EVENTS_CLEAN_SCHEMA, ITEM_ID, RAW_EVENTS_SCHEMA, REASON
from tests.conftest import make_test_config

NOW = datetime(2026, 11, 1, 12, 0, 0)
DAY1, DAY2 = date(2026, 10, 1), date(2026, 10, 2)


@pytest.fixture(scope="module")
def cleaning(tmp_path_factory: pytest.TempPathFactory) -> CleaningConfig:
    return make_test_config(tmp_path_factory.mktemp("lh")).cleaning  # near-duplicate window: 2 s


def _classified(spark: SparkSession, cleaning: CleaningConfig, rows: list[tuple]) -> DataFrame:
    known = spark.createDataFrame([("P1",), ("P2",)], [ITEM_ID])
    return spark.createDataFrame(rows, RAW_EVENTS_SCHEMA).transform(classify_events(cleaning, known, NOW))


def _published(spark: SparkSession, cleaning: CleaningConfig, rows: list[tuple]) -> DataFrame:
    clean = clean_events(_classified(spark, cleaning, rows), cleaning.session_gap_minutes)
    return spark.createDataFrame(clean.collect(), EVENTS_CLEAN_SCHEMA)


def test_repeats_of_other_days_are_duplicates_and_strays_are_quarantined(
    spark: SparkSession, cleaning: CleaningConfig
) -> None:
    published = _published(
        spark,
        cleaning,
        [
            ("U1", "P1", "view", "2026-10-01 23:59:59", "s1", "1", None),  # day 1, just before midnight
            ("U2", "P2", "cart", "2026-10-01 10:00:00", "s2", "1", None),  # day 1
            ("U3", "P1", "view", "2026-10-02 08:00:00", "s3", "1", None),  # day 2's old version: ignored
        ],
    )
    day2 = [
        ("U1", "P1", "view", "2026-10-02 00:00:01", "s9", "1", None),  # 2 s after day 1's: duplicate
        ("U1", "P1", "view", "2026-10-02 00:00:05", "s9", "1", None),  # 6 s after: a new view
        ("U2", "P2", "cart", "2026-10-01 10:00:00", "s2", "1", None),  # replay of day 1: duplicate
        ("U2", "P2", "cart", "2026-10-01 11:00:00", "s2", "1", None),  # late, unseen: quarantined
        ("U3", "P1", "view", "2026-10-02 08:00:00", "s3", "1", None),  # same as published day 2: kept
        ("U1", "P1", "hover", "2026-10-02 09:00:00", "s9", "1", None),  # invalid: keeps its reason
    ]
    result = (
        _classified(spark, cleaning, day2)
        .transform(attribute_to_day(DAY2, published, cleaning.near_duplicate_window_seconds))
        .orderBy("user_id", "event_ts", "event_type")
        .collect()
    )
    outcomes = [(r["user_id"], r["event_ts"], r[REASON], r[IS_DUPLICATE]) for r in result]
    assert outcomes == [
        ("U1", "2026-10-02 00:00:01", None, True),
        ("U1", "2026-10-02 00:00:05", None, False),
        ("U1", "2026-10-02 09:00:00", "unknown_event_type", False),
        ("U2", "2026-10-01 10:00:00", None, True),
        ("U2", "2026-10-01 11:00:00", OUTSIDE_RUN_DATE, False),
        ("U3", "2026-10-02 08:00:00", None, False),
    ]
    stray = next(r for r in result if r[REASON] == OUTSIDE_RUN_DATE)
    assert stray["detail"] == "event_date=2026-10-01 in the run of 2026-10-02"


def test_first_day_has_nothing_published(spark: SparkSession, cleaning: CleaningConfig) -> None:
    rows = [
        ("U1", "P1", "view", "2026-10-01 12:00:00", None, "1", None),
        ("U1", "P1", "view", "2026-10-02 00:00:00", None, "1", None),
    ]
    classified = _classified(spark, cleaning, rows).transform(attribute_to_day(DAY1, None, 2))
    assert [(r[REASON], r[IS_DUPLICATE]) for r in classified.orderBy("event_ts").collect()] == [
        (None, False),
        (OUTSIDE_RUN_DATE, False),
    ]
    clean = clean_events(classified, cleaning.session_gap_minutes, session_prefix(DAY1)).collect()
    assert [r["session_id"] for r in clean] == ["U1-2026-10-01-s1"]  # never the same as day 2's U1-...-s1


def test_day_slice_is_a_delta_predicate() -> None:
    assert day_slice("event_date", DAY2) == "event_date = DATE'2026-10-02'"
