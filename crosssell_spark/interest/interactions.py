"""Events -> one row per (user, item) with a confidence weight: per-type weights, recency decay, a cap."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from crosssell_spark.config import InterestConfig
from crosssell_spark.schemas import EVENT_TS, EVENT_TYPE, INTERACTION_WEIGHT, ITEM_ID, USER_ID

SECONDS_PER_DAY = 86_400.0
LAST_EVENT_TS = "last_event_ts"


def event_weight(weights: dict[str, float]) -> Column:
    """Weight of one event by its type; types without a weight count 0."""
    expression = F.lit(0.0)
    for event_type, weight in sorted(weights.items()):
        expression = F.when(F.col(EVENT_TYPE) == event_type, F.lit(float(weight))).otherwise(expression)
    return expression


def recency_decay(half_life_days: float | None, reference_ts: datetime) -> Column:
    """0.5 ** (age in days / half-life), age measured back from `reference_ts` (never negative)."""
    if half_life_days is None:
        return F.lit(1.0)
    age_days = F.greatest(
        (F.lit(reference_ts).cast("timestamp").cast("double") - F.col(EVENT_TS).cast("double")) / SECONDS_PER_DAY,
        F.lit(0.0),
    )
    return F.pow(F.lit(0.5), age_days / F.lit(float(half_life_days)))


def build_interactions(cfg: InterestConfig, reference_ts: datetime) -> Callable[[DataFrame], DataFrame]:
    """events_clean -> (user_id, item_id, interaction_weight, last_event_ts), weight in (0, max_weight].

    `reference_ts` is "now" for the decay; the stage passes the newest event time so that a rerun on
    the same events gives the same weights whatever the wall clock says.
    """

    def transform(events: DataFrame) -> DataFrame:
        weighted = events.select(
            USER_ID,
            ITEM_ID,
            EVENT_TS,
            (event_weight(cfg.event_weights) * recency_decay(cfg.half_life_days, reference_ts)).alias("_w"),
        ).where(F.col("_w") > 0)
        return weighted.groupBy(USER_ID, ITEM_ID).agg(
            F.least(F.sum("_w"), F.lit(float(cfg.max_weight))).alias(INTERACTION_WEIGHT),
            F.max(EVENT_TS).alias(LAST_EVENT_TS),
        )

    return transform
