"""The stream's user rewrites: exactly the batch's users replaced, a row of anyone else refused before
anything is written, and Delta's own row check skipped for that commit only. The events MERGE:
only new keys go in, looking among the rows within each date's span of the batch."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.schemas import EVENT_DATE, EVENT_ID, EVENT_TS, FEATURES, HISTORY_ITEMS, RUN_ID, USER_ID, USER_IDX
from crosssell_spark.streaming.sink import (
    REPLACE_WHERE_ROW_CHECK,
    DeltaSink,
    event_spans,
    events_merge_condition,
    stray_users,
)
from crosssell_spark.tables import EVENTS_CLEAN, USER_FACTORS


def factor_rows(spark, users: list[str], run_id: str):
    rows = pd.DataFrame(
        {
            USER_ID: users,
            USER_IDX: np.arange(1, len(users) + 1, dtype=np.int32),
            FEATURES: [np.full(2, n, np.float32) for n in range(len(users))],
            HISTORY_ITEMS: np.ones(len(users), np.int32),
            RUN_ID: run_id,
        }
    )
    return spark.createDataFrame(rows, USER_FACTORS.schema)


def stored(lake: Lakehouse) -> dict[str, str]:
    return {r[USER_ID]: r[RUN_ID] for r in lake.read(USER_FACTORS.name).collect()}


def test_stray_users_are_the_rows_of_anyone_else(spark):
    keys = spark.createDataFrame([("U1",), ("U2",)], f"{USER_ID} string")
    rows = factor_rows(spark, ["U1", "U3", "U2", "U3"], "r")
    assert sorted(r[USER_ID] for r in rows.transform(stray_users(keys)).collect()) == ["U3", "U3"]


def test_replace_users_rewrites_exactly_the_batchs_users_and_refuses_strays(spark, config_factory):
    config = config_factory()
    sink = DeltaSink(spark, config, Lakehouse(spark, config.lakehouse))
    lake = sink.lake
    sink.replace_users(USER_FACTORS, factor_rows(spark, ["U1", "U2", "U3"], "first"), ["U1", "U2", "U3"], 0)
    assert stored(lake) == {"U1": "first", "U2": "first", "U3": "first"}

    # U2 is replaced by nothing (its rows go), U1 gets new rows, U3 is not in the batch and stays
    sink.replace_users(USER_FACTORS, factor_rows(spark, ["U1"], "second"), ["U1", "U2"], 1)
    assert stored(lake) == {"U1": "second", "U3": "first"}
    assert spark.conf.get(REPLACE_WHERE_ROW_CHECK, None) is None  # the session's setting is back

    version = lake.latest_version(USER_FACTORS.name)
    with pytest.raises(ValueError, match="'U3', who is not among the users replaced"):
        sink.replace_users(USER_FACTORS, factor_rows(spark, ["U1", "U3"], "third"), ["U1"], 2)
    assert lake.latest_version(USER_FACTORS.name) == version  # nothing written
    assert stored(lake) == {"U1": "second", "U3": "first"}


def clean_rows(events: list[tuple[str, str, datetime]]) -> pd.DataFrame:
    """events_clean rows of (event_id, user_id, event_ts)."""
    return pd.DataFrame(
        {
            EVENT_ID: [e[0] for e in events],
            USER_ID: [e[1] for e in events],
            "item_id": "I1",
            "event_type": "view",
            EVENT_TS: [e[2] for e in events],
            "session_id": "S1",
            "quantity": 1,
            "price": None,
            EVENT_DATE: [e[2].date() for e in events],
        }
    )


def test_event_spans_bound_each_date_and_the_condition_keeps_the_key():
    rows = clean_rows(
        [
            ("e1", "U1", datetime(2026, 12, 6, 9, 0, 0, 250)),
            ("e2", "U1", datetime(2026, 12, 6, 11, 30)),
            ("e3", "U2", datetime(2026, 12, 3, 23, 59, 59)),  # a late event: its own date, its own span
        ]
    )
    spans = event_spans(rows)
    assert spans == {
        "2026-12-03": (datetime(2026, 12, 3, 23, 59, 59), datetime(2026, 12, 3, 23, 59, 59)),
        "2026-12-06": (datetime(2026, 12, 6, 9, 0, 0, 250), datetime(2026, 12, 6, 11, 30)),
    }
    condition = events_merge_condition(spans)
    assert (
        "t.event_ts BETWEEN TIMESTAMP '2026-12-06 09:00:00.000250' AND TIMESTAMP '2026-12-06 11:30:00.000000'"
        in condition
    )
    assert condition.endswith("t.event_date = s.event_date AND t.event_id = s.event_id")


def test_merge_events_inserts_only_new_keys_and_a_replay_nothing(spark, config_factory):
    config = config_factory()
    sink = DeltaSink(spark, config, Lakehouse(spark, config.lakehouse))
    day = datetime(2026, 12, 6, 10)
    first = clean_rows([("e1", "U1", day), ("e2", "U2", day.replace(hour=12))])
    sink.merge_events(spark.createDataFrame(first, EVENTS_CLEAN.schema), event_spans(first))
    # e1 again (same key, inside the span), e3 new at e1's very timestamp, e4 new the next day
    second = clean_rows([("e1", "U1", day), ("e3", "U3", day), ("e4", "U1", day.replace(day=7))])
    for _ in range(2):  # the second time is a replay: nothing more goes in
        sink.merge_events(spark.createDataFrame(second, EVENTS_CLEAN.schema), event_spans(second))
    stored_events = sink.lake.read(EVENTS_CLEAN.name).select(EVENT_ID, EVENT_DATE).collect()
    assert sorted((r[EVENT_ID], r[EVENT_DATE]) for r in stored_events) == [
        ("e1", date(2026, 12, 6)),
        ("e2", date(2026, 12, 6)),
        ("e3", date(2026, 12, 6)),
        ("e4", date(2026, 12, 7)),
    ]
