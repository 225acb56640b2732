"""Interaction weights: per-type weights, recency decay, the per user-item cap."""

from __future__ import annotations

from datetime import datetime

import pytest
from pyspark.sql import DataFrame, SparkSession

from crosssell_spark.config import InterestConfig
from crosssell_spark.interest.interactions import LAST_EVENT_TS, build_interactions
from crosssell_spark.schemas import EVENT_TS, EVENT_TYPE, INTERACTION_WEIGHT, ITEM_ID, USER_ID

NOW = datetime(2026, 10, 31, 12, 0, 0)


def events(spark: SparkSession, rows: list[tuple[str, str, str, str]]) -> DataFrame:
    df = spark.createDataFrame(rows, [USER_ID, ITEM_ID, EVENT_TYPE, EVENT_TS])
    return df.withColumn(EVENT_TS, df[EVENT_TS].cast("timestamp"))


def weights(df: DataFrame) -> dict[tuple[str, str], float]:
    return {(r[USER_ID], r[ITEM_ID]): r[INTERACTION_WEIGHT] for r in df.collect()}


def config(base: InterestConfig, **changes: object) -> InterestConfig:
    return base.model_copy(update=changes)


def test_event_types_weigh_as_configured_and_unknown_types_count_nothing(spark, interest):
    cfg = config(interest, event_weights={"view": 1.0, "cart": 3.0, "purchase": 5.0}, half_life_days=None)
    df = events(
        spark,
        [
            ("U1", "P1", "view", "2026-10-30 10:00:00"),
            ("U1", "P1", "view", "2026-10-30 10:05:00"),
            ("U1", "P1", "cart", "2026-10-30 10:06:00"),
            ("U1", "P2", "purchase", "2026-10-30 10:07:00"),
            ("U2", "P1", "remove_from_cart", "2026-10-30 10:08:00"),  # no weight configured: ignored
        ],
    ).transform(build_interactions(cfg, NOW))
    assert weights(df) == {("U1", "P1"): 1.0 + 1.0 + 3.0, ("U1", "P2"): 5.0}
    (last,) = [r[LAST_EVENT_TS] for r in df.collect() if r[ITEM_ID] == "P1"]
    assert last == datetime(2026, 10, 30, 10, 6, 0)


def test_recency_decay_halves_weight_every_half_life(spark, interest):
    cfg = config(interest, half_life_days=10.0, max_weight=100.0)
    df = events(
        spark,
        [
            ("U1", "P1", "purchase", "2026-10-31 12:00:00"),  # age 0: full weight 5
            ("U1", "P2", "purchase", "2026-10-21 12:00:00"),  # one half-life: 2.5
            ("U1", "P3", "purchase", "2026-10-11 12:00:00"),  # two half-lives: 1.25
            ("U1", "P4", "purchase", "2026-11-02 12:00:00"),  # after the reference: no boost above 5
        ],
    ).transform(build_interactions(cfg, NOW))
    assert weights(df) == pytest.approx({("U1", "P1"): 5.0, ("U1", "P2"): 2.5, ("U1", "P3"): 1.25, ("U1", "P4"): 5.0})


def test_weight_is_capped_per_user_item(spark, interest):
    cfg = config(interest, half_life_days=None, max_weight=12.0)
    rows = [("U1", "P1", "purchase", f"2026-10-30 10:0{i}:00") for i in range(5)]  # 5 x 5 = 25
    rows.append(("U1", "P2", "cart", "2026-10-30 11:00:00"))
    df = events(spark, rows).transform(build_interactions(cfg, NOW))
    assert weights(df) == {("U1", "P1"): 12.0, ("U1", "P2"): 3.0}
