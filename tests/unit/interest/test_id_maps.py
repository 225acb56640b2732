"""Stable integer ids: a second run with new keys keeps every existing id and appends after the max."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from crosssell_spark.interest.id_maps import attach_ids, empty_map, extend_id_map
from crosssell_spark.schemas import FIRST_RUN_ID, USER_ID, USER_ID_MAP_SCHEMA, USER_IDX


def keys(spark: SparkSession, *ids: str) -> DataFrame:
    return spark.createDataFrame([(i,) for i in ids], [USER_ID])


def as_dict(df: DataFrame) -> dict[str, tuple[int, str]]:
    return {r[USER_ID]: (r[USER_IDX], r[FIRST_RUN_ID]) for r in df.collect()}


def test_first_run_numbers_keys_from_one_in_key_order(spark):
    first = keys(spark, "U3", "U1", "U2", "U1", None).transform(
        extend_id_map(empty_map(spark, USER_ID_MAP_SCHEMA), USER_ID, USER_IDX, "run1")
    )
    assert as_dict(first) == {"U1": (1, "run1"), "U2": (2, "run1"), "U3": (3, "run1")}


def test_second_run_keeps_existing_ids_and_appends_new_ones_after_the_max(spark):
    # a published map with a gap-free 1..3 numbering that is NOT key order (as after earlier runs)
    published = spark.createDataFrame([("U9", 1, "run1"), ("U1", 2, "run1"), ("U5", 3, "run2")], USER_ID_MAP_SCHEMA)
    second = keys(spark, "U5", "U2", "U1", "U0").transform(extend_id_map(published, USER_ID, USER_IDX, "run3"))
    assert as_dict(second) == {
        "U9": (1, "run1"),  # absent this run: kept, never dropped
        "U1": (2, "run1"),
        "U5": (3, "run2"),
        "U0": (4, "run3"),  # new keys: after the max, in key order
        "U2": (5, "run3"),
    }


def test_rerun_on_the_same_keys_changes_nothing(spark):
    first = keys(spark, "U2", "U1").transform(
        extend_id_map(empty_map(spark, USER_ID_MAP_SCHEMA), USER_ID, USER_IDX, "a")
    )
    published = spark.createDataFrame(first.collect(), USER_ID_MAP_SCHEMA)
    again = keys(spark, "U1", "U2").transform(extend_id_map(published, USER_ID, USER_IDX, "b"))
    assert as_dict(again) == as_dict(first) == {"U1": (1, "a"), "U2": (2, "a")}


def test_attach_ids_adds_the_integer_id(spark):
    id_map = spark.createDataFrame([("U1", 7, "r")], USER_ID_MAP_SCHEMA)
    rows = keys(spark, "U1").transform(attach_ids(id_map, USER_ID, USER_IDX)).collect()
    assert [(r[USER_ID], r[USER_IDX]) for r in rows] == [("U1", 7)]
