"""The time split: a cut timestamp from config, and the events on either side of it.

Training is every event strictly before the cut; the held-out future is every event at or after it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from crosssell_spark.config import EvaluationConfig
from crosssell_spark.schemas import EVENT_DATE, EVENT_TS


def cut_from(cfg: EvaluationConfig, last_event_date: date) -> datetime:
    """Midnight of `cut_date`, else of the first of the final `last_days` calendar days."""
    day = cfg.cut_date if cfg.cut_date is not None else last_event_date - timedelta(days=cfg.last_days - 1)
    return datetime.combine(day, time.min)


def last_event_date(events: DataFrame) -> date:
    """The newest event_date of events_clean (an action: the split needs a concrete timestamp)."""
    row = events.agg(F.max(EVENT_DATE)).first()
    if row is None or row[0] is None:
        raise ValueError("events_clean is empty: nothing to split")
    return row[0]


def cut_literal(cut: datetime) -> Column:
    """The cut as a Spark timestamp in the session time zone (UTC), whatever the driver's zone."""
    return F.lit(cut.strftime("%Y-%m-%d %H:%M:%S")).cast("timestamp")


def before(cut: datetime) -> Callable[[DataFrame], DataFrame]:
    """Training events: strictly before the cut."""
    return lambda events: events.where(F.col(EVENT_TS) < cut_literal(cut))


def from_cut(cut: datetime) -> Callable[[DataFrame], DataFrame]:
    """Held-out events: at or after the cut."""
    return lambda events: events.where(F.col(EVENT_TS) >= cut_literal(cut))
