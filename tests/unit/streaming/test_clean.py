"""Micro-batch transforms: unreadable rows to quarantine, readable rows to the rules, already-written events."""

from __future__ import annotations

from datetime import date

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StringType, StructField, StructType

from crosssell_spark.schemas import EVENT_ID, EVENT_TS, EVENT_TYPE, RAW_EVENT_COLUMNS, USER_ID
from crosssell_spark.streaming.clean import (
    BAD_HEADER,
    MALFORMED_RECORD,
    not_yet_published,
    readable_rows,
    recent_history,
    unreadable_rows,
)
from crosssell_spark.streaming.source import SOURCE_FILE, STREAM_EVENTS_SCHEMA, header_matches

BATCH_SCHEMA = StructType([*STREAM_EVENTS_SCHEMA.fields, StructField(SOURCE_FILE, StringType())])


def _batch(spark: SparkSession) -> DataFrame:
    good = ("u1", "i1", "view", "2026-11-01 10:00:00", "s1", "1", "")
    rows = [
        (*good, None, "file:/in/a.json"),
        (*[None] * 7, '{"user_id": "u9", "item', "file:/in/a.json"),
        ("u2", "i2", "view", "2026-11-01 10:00:00", "s2", "1", "", None, "file:/in/b.csv"),
    ]
    return spark.createDataFrame(rows, BATCH_SCHEMA)


def test_unparseable_lines_and_files_with_a_wrong_header_are_quarantined_with_their_file(spark: SparkSession):
    batch = _batch(spark)
    rows = {r["reason"]: r for r in batch.transform(unreadable_rows(["file:/in/b.csv"])).collect()}
    assert set(rows) == {MALFORMED_RECORD, BAD_HEADER}
    assert rows[MALFORMED_RECORD]["detail"] == 'file:/in/a.json: {"user_id": "u9", "item'
    assert rows[BAD_HEADER]["user_id"] == "u2" and rows[BAD_HEADER]["detail"].startswith("file:/in/b.csv")
    readable = batch.transform(readable_rows(["file:/in/b.csv"]))
    assert readable.columns == list(RAW_EVENT_COLUMNS) and [r["user_id"] for r in readable.collect()] == ["u1"]


def test_raw_text_is_withheld_when_ids_are_pseudonymised(spark: SparkSession):
    row = _batch(spark).transform(unreadable_rows([], keep_text=False)).first()
    assert row["detail"] == "file:/in/a.json: 23 characters" and "u9" not in row["detail"]


def test_events_already_written_are_not_written_again():
    clean = pd.DataFrame({"event_id": ["e1", "e2", "e3"], "event_date": [date(2026, 11, 1)] * 3,
                          "user_id": ["u1", "u2", "u3"]})  # fmt: skip
    published = pd.DataFrame({"event_id": ["e1", "e2"], "event_date": [date(2026, 11, 1), date(2026, 11, 2)],
                              "user_id": ["u1", "u2"]})  # fmt: skip
    assert not_yet_published(clean, published)["event_id"].tolist() == ["e2", "e3"]
    assert not_yet_published(clean, published.iloc[:0])["event_id"].tolist() == ["e1", "e2", "e3"]


def test_a_csv_header_must_name_the_contract_columns_in_order():
    assert header_matches("user_id,item_id,event_type,event_ts,session_id,quantity,price")
    assert header_matches('\ufeff"USER_ID", item_id,event_type,event_ts,session_id,quantity,price')
    assert not header_matches("item_id,user_id,event_type,event_ts,session_id,quantity,price")
    assert not header_matches("user_id,item_id,event_type,event_ts")


def test_a_refresh_keeps_each_users_newest_events_and_every_purchase():
    ts = pd.Timestamp("2026-11-01 10:00:00")
    rows = [("heavy", f"e{n}", "view", ts + pd.Timedelta(minutes=n)) for n in range(6)]
    rows += [("heavy", "p0", "purchase", ts - pd.Timedelta(days=30)), ("light", "l0", "view", ts)]
    rows += [("heavy", "e3-twin", "cart", ts + pd.Timedelta(minutes=3))]  # at the same instant as e3
    events = pd.DataFrame(rows, columns=[USER_ID, EVENT_ID, EVENT_TYPE, EVENT_TS]).sample(frac=1, random_state=3)

    kept, horizon = recent_history(events, per_user=3)

    assert sorted(kept[EVENT_ID]) == ["e3", "e3-twin", "e4", "e5", "l0", "p0"]  # the old purchase stays
    assert horizon.to_dict() == {"heavy": ts + pd.Timedelta(minutes=2)}  # the newest event let go
    assert list(kept.index) == [i for i in events.index if i in kept.index]  # rows keep their order
    everything, none = recent_history(events, per_user=0)
    assert len(everything) == len(events) and none.empty
