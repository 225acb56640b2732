"""Clickstream cleaning: parse, validate, drop bots and duplicates, derive missing sessions.

Rules, first failing one wins (reason codes in `EventReason`):
- `null_key`: blank user_id, item_id, event_type or event_ts;
- `bad_timestamp`: event_ts matches neither ISO-8601 nor any `cleaning.timestamp_formats`;
- `out_of_range_timestamp`: before `cleaning.min_event_ts` or after now + `max_future_skew_hours`;
- `unknown_event_type`: not a spelling listed in `cleaning.event_type_aliases`;
- `bad_quantity`: unparseable, < 1 or above `cleaning.max_quantity` (blank means 1);
- `bad_price`: unparseable, negative or above `cleaning.max_price` (blank is allowed);
- `unknown_item`: item_id not in the clean catalogue;
- `bot_user`: the user has more than `bot_max_events_per_day` valid events on some day.
Among the remaining rows, the same user, item and event type again within
`near_duplicate_window_seconds` of the previous one is a duplicate (exact copies included).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from crosssell_spark.cleaning.text import blank_to_null
from crosssell_spark.config import CleaningConfig
from crosssell_spark.schemas import (
    DETAIL,
    EVENT_DATE,
    EVENT_ID,
    EVENT_TS,
    EVENT_TYPE,
    ITEM_ID,
    PRICE,
    QUANTITY,
    RAW_EVENT_COLUMNS,
    REASON,
    SESSION_ID,
    USER_ID,
)

IS_DUPLICATE = "is_duplicate"
CLEAN_PREFIX = "clean_"


class EventReason:
    NULL_KEY = "null_key"
    BAD_TIMESTAMP = "bad_timestamp"
    OUT_OF_RANGE_TIMESTAMP = "out_of_range_timestamp"
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    BAD_QUANTITY = "bad_quantity"
    BAD_PRICE = "bad_price"
    UNKNOWN_ITEM = "unknown_item"
    BOT_USER = "bot_user"


def _clean(name: str) -> str:
    return CLEAN_PREFIX + name


def parse_timestamp(raw: Column, formats: list[str]) -> Column:
    """First successful parse of ISO-8601 and the configured formats; null when none fits."""
    text = F.trim(raw)
    return F.coalesce(F.try_to_timestamp(text), *[F.try_to_timestamp(text, F.lit(f)) for f in formats])


def canonical_event_type(raw: Column, aliases: dict[str, list[str]]) -> Column:
    """Map a raw spelling (case-insensitive) to its canonical type; unknown spellings -> null."""
    pairs = [
        (spelling.strip().lower(), canonical)
        for canonical, spellings in aliases.items()
        for spelling in [canonical, *spellings]
    ]
    mapping = F.create_map(*[F.lit(x) for pair in dict(pairs).items() for x in pair])
    return F.try_element_at(mapping, F.lower(F.trim(raw)))


def classify_events(cfg: CleaningConfig, known_items: DataFrame, now: datetime) -> Callable[[DataFrame], DataFrame]:
    """Raw events -> raw columns + parsed `clean_*` columns + `reason` + `is_duplicate`.

    Args:
        known_items: one column `item_id` of the clean catalogue.
        now: the run's clock, for the future-skew rule (injected so tests are deterministic).
    """

    def transform(raw: DataFrame) -> DataFrame:
        keys = {c: blank_to_null(c) for c in (USER_ID, ITEM_ID, EVENT_TYPE, EVENT_TS)}
        quantity_text, price_text = blank_to_null(QUANTITY), blank_to_null(PRICE)
        parsed = raw.select(
            *RAW_EVENT_COLUMNS,
            keys[USER_ID].alias(_clean(USER_ID)),
            keys[ITEM_ID].alias(_clean(ITEM_ID)),
            canonical_event_type(F.col(EVENT_TYPE), cfg.event_type_aliases).alias(_clean(EVENT_TYPE)),
            parse_timestamp(F.col(EVENT_TS), cfg.timestamp_formats).alias(_clean(EVENT_TS)),
            blank_to_null(SESSION_ID).alias(_clean(SESSION_ID)),
            F.coalesce(quantity_text.try_cast("int"), F.when(quantity_text.isNull(), F.lit(1))).alias(_clean(QUANTITY)),
            price_text.try_cast("double").alias(_clean(PRICE)),
        )
        missing = F.concat_ws(",", *[F.when(col.isNull(), F.lit(name)) for name, col in keys.items()])
        earliest = F.to_timestamp(F.lit(cfg.min_event_ts))
        latest = F.lit(now) + F.expr(f"INTERVAL {cfg.max_future_skew_hours} HOURS")
        ts, qty, price = F.col(_clean(EVENT_TS)), F.col(_clean(QUANTITY)), F.col(_clean(PRICE))
        known = known_items.select(F.col(ITEM_ID).alias("_known_item")).distinct()
        with_known = parsed.join(known, parsed[_clean(ITEM_ID)] == known["_known_item"], "left")
        reason = (
            F.when(missing != "", F.lit(EventReason.NULL_KEY))
            .when(ts.isNull(), F.lit(EventReason.BAD_TIMESTAMP))
            .when((ts < earliest) | (ts > latest), F.lit(EventReason.OUT_OF_RANGE_TIMESTAMP))
            .when(F.col(_clean(EVENT_TYPE)).isNull(), F.lit(EventReason.UNKNOWN_EVENT_TYPE))
            .when(qty.isNull() | (qty < 1) | (qty > cfg.max_quantity), F.lit(EventReason.BAD_QUANTITY))
            .when(
                price_text.isNotNull() & (price.isNull() | (price < 0) | (price > cfg.max_price)),
                F.lit(EventReason.BAD_PRICE),
            )
            .when(F.col("_known_item").isNull(), F.lit(EventReason.UNKNOWN_ITEM))
        )
        detail = (
            F.when(reason == EventReason.NULL_KEY, F.concat(F.lit("missing "), missing))
            .when(
                reason.isin(EventReason.BAD_TIMESTAMP, EventReason.OUT_OF_RANGE_TIMESTAMP),
                F.concat(F.lit("event_ts="), F.col(EVENT_TS)),
            )
            .when(reason == EventReason.UNKNOWN_EVENT_TYPE, F.concat(F.lit("event_type="), F.col(EVENT_TYPE)))
            .when(reason == EventReason.BAD_QUANTITY, F.concat(F.lit("quantity="), F.col(QUANTITY)))
            .when(reason == EventReason.BAD_PRICE, F.concat(F.lit("price="), F.col(PRICE)))
        )
        classified = with_known.withColumn(REASON, reason).withColumn(DETAIL, detail).drop("_known_item")
        return classified.transform(_flag_bots(cfg.bot_max_events_per_day)).transform(
            _flag_duplicates(cfg.near_duplicate_window_seconds)
        )

    return transform


def _flag_bots(max_events_per_day: int) -> Callable[[DataFrame], DataFrame]:
    """Quarantine every valid event of users exceeding the daily event ceiling."""

    def transform(df: DataFrame) -> DataFrame:
        valid = F.col(REASON).isNull()
        per_day = Window.partitionBy(_clean(USER_ID), F.to_date(_clean(EVENT_TS)), valid)
        per_user = Window.partitionBy(_clean(USER_ID), valid)
        # A window over a window is not allowed: daily count first, then its max per user.
        with_daily = df.withColumn("_daily", F.count(F.lit(1)).over(per_day))
        busiest_day = F.max("_daily").over(per_user)
        is_bot = valid & (busiest_day > max_events_per_day)
        return (
            with_daily.withColumn("_busiest", busiest_day)
            .withColumn(REASON, F.when(is_bot, F.lit(EventReason.BOT_USER)).otherwise(F.col(REASON)))
            .withColumn(
                DETAIL,
                F.when(is_bot, F.concat(F.lit("busiest day events="), F.col("_busiest").cast("string"))).otherwise(
                    F.col(DETAIL)
                ),
            )
            .drop("_daily", "_busiest")
        )

    return transform


def _flag_duplicates(window_seconds: int) -> Callable[[DataFrame], DataFrame]:
    """Flag valid repeats of (user, item, type) within `window_seconds` of the previous one."""

    def transform(df: DataFrame) -> DataFrame:
        valid = F.col(REASON).isNull()
        order = Window.partitionBy(_clean(USER_ID), _clean(ITEM_ID), _clean(EVENT_TYPE), valid).orderBy(
            _clean(EVENT_TS),
            F.col(SESSION_ID).asc_nulls_first(),
            F.col(QUANTITY).asc_nulls_first(),
            F.col(PRICE).asc_nulls_first(),
            F.col(EVENT_TS),
        )
        gap = F.col(_clean(EVENT_TS)).cast("long") - F.lag(F.col(_clean(EVENT_TS)).cast("long")).over(order)
        return df.withColumn(IS_DUPLICATE, valid & F.coalesce(gap <= window_seconds, F.lit(False)))

    return transform


def clean_events(classified: DataFrame, session_gap_minutes: int, session_prefix: str = "") -> DataFrame:
    """Valid, de-duplicated events in the `events_clean` shape, with ids and sessions.

    `session_prefix` goes into derived session ids (`<user>-<prefix>s<n>`); daily runs pass the
    date so that day 2's `u1-s1` is not day 1's.
    """
    kept = classified.filter(F.col(REASON).isNull() & ~F.col(IS_DUPLICATE)).select(
        F.col(_clean(USER_ID)).alias(USER_ID),
        F.col(_clean(ITEM_ID)).alias(ITEM_ID),
        F.col(_clean(EVENT_TYPE)).alias(EVENT_TYPE),
        F.col(_clean(EVENT_TS)).alias(EVENT_TS),
        F.col(_clean(SESSION_ID)).alias(SESSION_ID),
        F.col(_clean(QUANTITY)).alias(QUANTITY),
        F.col(_clean(PRICE)).alias(PRICE),
    )
    return kept.transform(derive_missing_sessions(session_gap_minutes * 60, session_prefix)).select(
        F.substring(
            F.sha2(
                F.concat_ws("\u0001", USER_ID, ITEM_ID, EVENT_TYPE, F.col(EVENT_TS).cast("string"), SESSION_ID), 256
            ),
            1,
            32,
        ).alias(EVENT_ID),
        USER_ID,
        ITEM_ID,
        EVENT_TYPE,
        EVENT_TS,
        SESSION_ID,
        QUANTITY,
        PRICE,
        F.to_date(EVENT_TS).alias(EVENT_DATE),
    )


def derive_missing_sessions(gap_seconds: int, prefix: str = "") -> Callable[[DataFrame], DataFrame]:
    """Events without a session get `<user>-<prefix>s<n>`: a new one after `gap_seconds` of inactivity."""
    return lambda events: _derive_sessions(events, gap_seconds, prefix)


def _derive_sessions(events: DataFrame, gap_seconds: int, prefix: str = "") -> DataFrame:
    order = Window.partitionBy(USER_ID).orderBy(EVENT_TS)
    missing = F.col(SESSION_ID).isNull()
    gap = F.col(EVENT_TS).cast("long") - F.lag(F.col(EVENT_TS).cast("long")).over(order)
    starts = F.when(gap.isNull() | (gap > gap_seconds), 1).otherwise(0)
    without = events.filter(missing).withColumn("_start", starts)
    numbered = without.withColumn("_n", F.sum("_start").over(order.rowsBetween(Window.unboundedPreceding, 0)))
    session = F.concat(F.col(USER_ID), F.lit(f"-{prefix}s"), F.col("_n").cast("string"))
    derived = numbered.withColumn(SESSION_ID, session)
    return events.filter(~missing).unionByName(derived.drop("_start", "_n"))


def quarantined_events(classified: DataFrame) -> DataFrame:
    """Rejected raw rows with their reason; `run_id` is added by the stage."""
    return classified.filter(F.col(REASON).isNotNull()).select(*RAW_EVENT_COLUMNS, REASON, DETAIL)
