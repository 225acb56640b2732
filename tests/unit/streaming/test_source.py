"""The streaming file source reads CSV the RFC 4180 way, as the batch sources do."""

from __future__ import annotations

from pyspark.sql import SparkSession

from crosssell_spark.streaming.source import CORRUPT_RECORD, read_stream
from tests.conftest import make_test_config

HEADER = "user_id,item_id,event_type,event_ts,session_id,quantity,price\n"


def landed_rows(spark: SparkSession, tmp_path, text: str, *overrides: str) -> list[dict]:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "a.csv").write_text(HEADER + text)
    config = make_test_config(
        tmp_path / "lh", "streaming.format=csv", f"streaming.landing_dir={landing}",
        f"streaming.checkpoint_dir={tmp_path / 'cp'}", *overrides,
    )  # fmt: skip
    rows: list[dict] = []
    query = (
        read_stream(spark, config)
        .writeStream.foreachBatch(lambda batch, _: rows.extend(r.asDict() for r in batch.collect()))
        .option("checkpointLocation", str(tmp_path / "cp"))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    return sorted(rows, key=lambda r: r["item_id"] or "")


def test_doubled_quotes_and_quoted_line_breaks_are_one_field(spark, tmp_path):
    text = (
        'u1,"24"" monitor",view,2026-11-01 10:00:00,s1,1,99.0\n'
        'u2,"two\nlines",cart,2026-11-01 10:01:00,s2,1,5.0\n'
        "u3,plain,purchase,2026-11-01 10:02:00,s3,2,1.5\n"
    )
    rows = landed_rows(spark, tmp_path, text)
    assert [(r["user_id"], r["item_id"], r["event_type"]) for r in rows] == [
        ("u1", '24" monitor', "view"),
        ("u3", "plain", "purchase"),
        ("u2", "two\nlines", "cart"),
    ]
    assert all(r[CORRUPT_RECORD] is None for r in rows)


def test_a_configured_option_still_wins(spark, tmp_path):
    text = 'u1,"24"" monitor",view,2026-11-01 10:00:00,s1,1,99.0\n'
    rows = landed_rows(spark, tmp_path, text, 'streaming.options={"escape": "\\\\"}')
    assert [r["item_id"] for r in rows] == ['"24"" monitor"']  # Spark's backslash escape keeps the quotes


def test_a_row_with_too_many_fields_is_still_a_corrupt_record(spark, tmp_path):
    text = "u1,i1,view,2026-11-01 10:00:00,s1,1,1.0,extra\nu2,i2,view,2026-11-01 10:00:00,s2,1,1.0\n"
    rows = landed_rows(spark, tmp_path, text)
    assert [r[CORRUPT_RECORD] is not None for r in rows] == [True, False]
