"""Daily (incremental) cleaning: tie one day's classified events to that day and to what is published.

A run with `--run-date D` reads only the raw events of the day partition `event_date=D`, classifies
them with the usual rules (`classify_events`), and then:
- a valid event that repeats an event already published for another day (same user, item and type
  within `cleaning.near_duplicate_window_seconds`) is a duplicate: the published one wins, so a
  replayed day-1 event or a near-copy across midnight is dropped and day 1 is never rewritten;
- a remaining valid event whose timestamp falls on another day is quarantined as `outside_run_date`:
  it belongs to that day's partition, which only a run of that day may replace.
The stage then swaps in `events_clean`'s partition `event_date = D` and `events_quarantine`'s rows
`run_date = D` with Delta `replaceWhere`, so rerunning a day leaves the same content.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from crosssell_spark.cleaning.events import CLEAN_PREFIX, IS_DUPLICATE
from crosssell_spark.schemas import DETAIL, EVENT_DATE, EVENT_TS, EVENT_TYPE, ITEM_ID, REASON, USER_ID

OUTSIDE_RUN_DATE = "outside_run_date"
SECONDS_PER_DAY = 86_400
_KEYS = (USER_ID, ITEM_ID, EVENT_TYPE)
_PUBLISHED_TS = "_published_ts"


def day_slice(column: str, day: date) -> str:
    """The SQL predicate of one day's slice, for `replaceWhere` and the quality gate."""
    return f"{column} = DATE'{day.isoformat()}'"


def session_prefix(day: date) -> str:
    """Prefix of the sessions a daily run derives, so they never collide with another day's."""
    return f"{day.isoformat()}-"


def attribute_to_day(day: date, published: DataFrame | None, window_seconds: int) -> Callable[[DataFrame], DataFrame]:
    """Classified events of day `day` -> the same rows, repeats of published events flagged, strays quarantined.

    Args:
        published: the published `events_clean` (None before the first publish); its rows of
            `day` itself are ignored, since this run replaces them.
        window_seconds: the near-duplicate window of `classify_events`.
    """

    def transform(classified: DataFrame) -> DataFrame:
        flagged = classified
        if published is not None:
            flagged = classified.transform(_flag_published_repeats(day, published, window_seconds))
        return flagged.transform(_quarantine_other_days(day))

    return transform


def _kept() -> F.Column:
    return F.col(REASON).isNull() & ~F.col(IS_DUPLICATE)


def _flag_published_repeats(day: date, published: DataFrame, window_seconds: int) -> Callable[[DataFrame], DataFrame]:
    def transform(classified: DataFrame) -> DataFrame:
        clean_keys = [CLEAN_PREFIX + k for k in _KEYS]
        ts = F.col(CLEAN_PREFIX + EVENT_TS)
        reach = window_seconds // SECONDS_PER_DAY + 1  # days either side a repeat can fall on
        # (key, date) pairs a repeat of a kept row could be published under; an equi-join on the
        # partition column lets Delta read only those days' files
        near_days = (
            classified.filter(_kept())
            .select(
                *[F.col(c).alias(k) for c, k in zip(clean_keys, _KEYS, strict=True)],
                F.explode(F.sequence(F.date_sub(F.to_date(ts), reach), F.date_add(F.to_date(ts), reach))).alias(
                    EVENT_DATE
                ),
            )
            .distinct()
        )
        published_times = (
            published.filter(F.col(EVENT_DATE) != F.lit(day))
            .join(near_days, [*_KEYS, EVENT_DATE], "left_semi")
            .groupBy(*[F.col(k).alias(c) for k, c in zip(_KEYS, clean_keys, strict=True)])
            .agg(F.collect_list(EVENT_TS).alias(_PUBLISHED_TS))
        )
        joined = classified.join(published_times, clean_keys, "left")
        repeats = F.exists(
            F.coalesce(F.col(_PUBLISHED_TS), F.array().cast("array<timestamp>")),
            lambda published_ts: F.abs(published_ts.cast("long") - ts.cast("long")) <= window_seconds,
        )
        return joined.withColumn(IS_DUPLICATE, F.col(IS_DUPLICATE) | (_kept() & repeats)).drop(_PUBLISHED_TS)

    return transform


def _quarantine_other_days(day: date) -> Callable[[DataFrame], DataFrame]:
    def transform(classified: DataFrame) -> DataFrame:
        happened_on = F.to_date(F.col(CLEAN_PREFIX + EVENT_TS))
        stray = _kept() & (happened_on != F.lit(day))
        detail = F.concat(F.lit("event_date="), happened_on.cast("string"), F.lit(f" in the run of {day.isoformat()}"))
        return classified.withColumn(DETAIL, F.when(stray, detail).otherwise(F.col(DETAIL))).withColumn(
            REASON, F.when(stray, F.lit(OUTSIDE_RUN_DATE)).otherwise(F.col(REASON))
        )

    return transform
