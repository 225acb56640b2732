"""Two writers adding user ids at once (the stream and the batch interest stage): every user gets one
row, ids stay unique and gap-free, and the writer that lost the race plans again.

The interleavings are forced, not hoped for: plans are made before either commit, a validation hook
commits the other writer's ids between a plan and its MERGE, and a Python UDF holds a MERGE after
it has read the table until the other writer has committed (file barriers, no sleeps to wait out).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crosssell_spark.config import AppConfig
from crosssell_spark.interest.id_maps import (
    AssignedIds,
    NewIds,
    append_ids,
    assign_ids,
    clashing_rows,
    first_seen_rows,
    plan_new_ids,
    relabel_ids,
    unless_moved,
)
from crosssell_spark.interest.stage import assign_user_ids
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.quality.gate import QualityGate
from crosssell_spark.run import Run, StageFailedError
from crosssell_spark.schemas import FIRST_RUN_ID, USER_ID, USER_ID_MAP_SCHEMA, USER_IDX
from crosssell_spark.tables import USER_ID_MAP

BARRIER_SECONDS = 180  # how long a barrier waits before the test fails instead of hanging


def keys(spark: SparkSession, *ids: str) -> DataFrame:
    return spark.createDataFrame([(i,) for i in ids], f"{USER_ID} string")


def published_map(spark: SparkSession, config_factory: Callable[..., AppConfig], *users: str) -> Lakehouse:
    """A lakehouse whose user_id_map holds `users` numbered 1..n."""
    lake = Lakehouse(spark, config_factory().lakehouse)
    lake.ensure_table(USER_ID_MAP)
    rows = [(u, i, "published") for i, u in enumerate(users, start=1)]
    lake.append(USER_ID_MAP, spark.createDataFrame(rows, USER_ID_MAP_SCHEMA))
    return lake


def stream_plan(lake: Lakehouse, users: list[str], run_id: str) -> NewIds:
    """What the stream plans from its driver copy of the map: first-seen users after the largest id."""
    version = lake.latest_version(USER_ID_MAP.name)
    ids = {r[USER_ID]: r[USER_IDX] for r in lake.read(USER_ID_MAP.name, version).collect()}
    first_seen = first_seen_rows([u for u in users if u not in ids], max(ids.values()), USER_ID, USER_IDX, run_id)
    rows = lake.spark.createDataFrame(first_seen, USER_ID_MAP_SCHEMA)
    return NewIds(rows, max(ids.values()), len(first_seen), version)


def assign(
    lake: Lakehouse,
    users: list[str],
    run_id: str,
    planned: NewIds | None = None,
    validate: Callable[[NewIds], object] | None = None,
) -> AssignedIds:
    user_keys = keys(lake.spark, *users)
    return assign_ids(lake, USER_ID_MAP, user_keys, USER_ID, USER_IDX, run_id, planned=planned, validate=validate)


def stream_append(lake: Lakehouse, plan: NewIds, run_id: str) -> AssignedIds:
    """The stream's path: a blind append of its plan, checked in the Delta log afterwards."""

    def append(rows: DataFrame) -> None:
        rows.write.format("delta").mode("append").save(lake.path(USER_ID_MAP.name))

    return append_ids(lake, USER_ID_MAP, plan, USER_ID, USER_IDX, run_id, append)


def id_map(lake: Lakehouse) -> dict[str, tuple[int, str]]:
    """user -> (user_idx, first_run_id); fails if any user has two rows or two users share an id."""
    rows = lake.read(USER_ID_MAP.name).collect()
    assert len({r[USER_ID] for r in rows}) == len(rows), "a user has two rows"
    assert sorted(r[USER_IDX] for r in rows) == list(range(1, len(rows) + 1)), "ids not unique and gap-free"
    return {r[USER_ID]: (r[USER_IDX], r[FIRST_RUN_ID]) for r in rows}


# --- the guard and the relabelling, on in-line rows ----------------------------------------------


def test_unless_moved_lets_every_planned_row_through_or_none(spark):
    target = spark.createDataFrame([("U1", 1, "r"), ("U2", 2, "r")], USER_ID_MAP_SCHEMA)
    planned = spark.createDataFrame([("U3", 3, "s"), ("U4", 4, "s")], USER_ID_MAP_SCHEMA)
    clashing = spark.createDataFrame([("U2", 3, "s"), ("U4", 4, "s")], USER_ID_MAP_SCHEMA)

    assert planned.transform(unless_moved(target, USER_ID, USER_IDX, 2)).count() == 2
    assert planned.transform(unless_moved(target, USER_ID, USER_IDX, 1)).count() == 0  # the map grew
    assert clashing.transform(unless_moved(target, USER_ID, USER_IDX, 2)).count() == 0  # U2 has an id


def test_relabel_ids_changes_only_the_users_given(spark):
    rows = spark.createDataFrame([("U1", 5), ("U2", 6)], f"{USER_ID} string, {USER_IDX} int")
    relabelled = rows.transform(relabel_ids({"U2": 9}, USER_ID, USER_IDX))
    assert sorted((r[USER_ID], r[USER_IDX]) for r in relabelled.collect()) == [("U1", 5), ("U2", 9)]
    assert relabelled.schema == rows.schema


def test_clashing_rows_are_other_writers_rows_sharing_a_key_or_an_id(spark):
    table = spark.createDataFrame(
        [("U1", 1, "r"), ("U-both", 2, "batch"), ("U-b", 3, "batch"), ("U-both", 2, "s"), ("U-s", 3, "s")],
        USER_ID_MAP_SCHEMA,
    )
    planned = spark.createDataFrame([("U-both", 2, "s"), ("U-s", 3, "s")], USER_ID_MAP_SCHEMA)
    clashes = table.transform(clashing_rows(planned, USER_ID, USER_IDX, "s")).collect()
    assert sorted((r[USER_ID], r[USER_IDX]) for r in clashes) == [("U-b", 3), ("U-both", 2)]
    alone = table.where(F.col(FIRST_RUN_ID) != "batch")
    assert alone.transform(clashing_rows(planned, USER_ID, USER_IDX, "s")).count() == 0


# --- two writers on one Delta table -------------------------------------------------------------


def test_a_stream_append_no_one_interleaved_with_is_checked_in_the_log_alone(spark, config_factory):
    lake = published_map(spark, config_factory, "U1", "U2")
    version = lake.latest_version(USER_ID_MAP.name)
    assert version is not None
    result = stream_append(lake, stream_plan(lake, ["U1", "U-s"], "stream-1"), "stream-1")
    assert result.retries == [] and result.version == version + 1
    assert id_map(lake) == {"U1": (1, "published"), "U2": (2, "published"), "U-s": (3, "stream-1")}


def test_a_stream_append_after_an_unrelated_commit_stands(spark, config_factory):
    lake = published_map(spark, config_factory, "U1", "U2")
    plan = stream_plan(lake, ["U-s"], "stream-2")
    lake.delete_where(USER_ID_MAP, F.col(USER_ID) == "U1")  # e.g. `forget`: a commit that adds no id

    result = stream_append(lake, plan, "stream-2")

    assert result.retries == [] and result.written is plan
    rows = {r[USER_ID]: r[USER_IDX] for r in lake.read(USER_ID_MAP.name).collect()}
    assert rows == {"U2": 2, "U-s": 3}


def test_a_stream_append_landing_after_a_batch_commit_is_assigned_again(spark, config_factory):
    lake = published_map(spark, config_factory, "U1", "U2", "U3")
    version = lake.latest_version(USER_ID_MAP.name)
    assert version is not None
    stream = stream_plan(lake, ["U-both", "U-new"], "stream-3")
    assert assign(lake, ["U-both", "U-batch"], "batch-1").retries == []  # the batch commits first

    result = stream_append(lake, stream, "stream-3")

    assert len(result.retries) == 1 and "share a key or an id" in result.retries[0]
    assert result.written.start == 5 and result.written.size == 1
    assert id_map(lake) == {
        "U1": (1, "published"),
        "U2": (2, "published"),
        "U3": (3, "published"),
        "U-batch": (4, "batch-1"),
        "U-both": (5, "batch-1"),  # the stream takes the batch's id for the user both saw
        "U-new": (6, "stream-3"),
    }
    assert result.version == lake.latest_version(USER_ID_MAP.name)


def test_stream_ids_planned_before_a_batch_commit_are_planned_again(spark, config_factory):
    lake = published_map(spark, config_factory, "U1", "U2", "U3")
    version = lake.latest_version(USER_ID_MAP.name)
    assert version is not None
    # both read the map at the same version: the stream from its driver copy, the batch from the table
    stream = stream_plan(lake, ["U-both", "U-new"], "stream-1")
    batch = plan_new_ids(lake, USER_ID_MAP, keys(spark, "U-both", "U-batch"), USER_ID, USER_IDX, "batch-1")
    assert stream.version == batch.version == version and stream.start == batch.start == 3

    first = assign(lake, ["U-both", "U-batch"], "batch-1", planned=batch)
    second = assign(lake, ["U-both", "U-new"], "stream-1", planned=stream)

    assert first.retries == [] and first.version == version + 1
    assert len(second.retries) == 1, "the stream's plan was outdated by the batch's commit"
    assert second.written is not stream and second.written.start == 5 and second.written.size == 1
    assert second.version == version + 2, "the outdated attempt committed nothing"
    assert id_map(lake) == {
        "U1": (1, "published"),
        "U2": (2, "published"),
        "U3": (3, "published"),
        "U-batch": (4, "batch-1"),
        "U-both": (5, "batch-1"),  # the stream takes the batch's id for the user both saw
        "U-new": (6, "stream-1"),
    }


def test_batch_ids_outdated_while_being_audited_are_planned_again(spark, config_factory):
    lake = published_map(spark, config_factory, "U1", "U2")
    validated: list[NewIds] = []

    def stream_commits_during_the_first_audit(plan: NewIds) -> None:
        validated.append(plan)
        if len(validated) == 1:
            assert assign(lake, ["U-b", "U-s"], "stream-7").retries == []

    result = assign(lake, ["U-a", "U-b"], "batch-2", validate=stream_commits_during_the_first_audit)

    assert [p.start for p in validated] == [2, 4] and result.written is validated[1]
    assert len(result.retries) == 1
    assert id_map(lake) == {
        "U1": (1, "published"),
        "U2": (2, "published"),
        "U-b": (3, "stream-7"),
        "U-s": (4, "stream-7"),
        "U-a": (5, "batch-2"),
    }


@pytest.mark.parametrize("other_writer", ["stream append", "guarded merge"])
def test_a_commit_landing_during_the_merge_is_refused_by_delta_and_retried(
    spark, config_factory, tmp_path: Path, other_writer: str
):
    lake = published_map(spark, config_factory, "U1")
    entered, release = str(tmp_path / "merge-has-read"), str(tmp_path / "other-writer-done")

    @F.udf("string")
    def hold_once(value):  # no type hints: PySpark would read them as a pandas UDF's
        """The first row evaluated inside the MERGE waits until the other writer has committed."""
        try:
            os.close(os.open(entered, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return value
        deadline = time.monotonic() + BARRIER_SECONDS
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.05)
        return value

    plan = plan_new_ids(lake, USER_ID_MAP, keys(spark, "U-late"), USER_ID, USER_IDX, "batch-3")
    held = NewIds(plan.rows.withColumn(FIRST_RUN_ID, hold_once(FIRST_RUN_ID)), plan.start, plan.size, plan.version)
    outcome: dict[str, object] = {}

    def batch_writer() -> None:
        try:
            outcome["result"] = assign(lake, ["U-late"], "batch-3", planned=held)
        except BaseException as err:  # re-raised in the test thread
            outcome["error"] = err

    thread = threading.Thread(target=batch_writer)
    thread.start()
    try:
        deadline = time.monotonic() + BARRIER_SECONDS
        while not os.path.exists(entered) and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert os.path.exists(entered), f"the MERGE never evaluated its source: {outcome}"
        if other_writer == "stream append":  # commits while the MERGE is held
            assert stream_append(lake, stream_plan(lake, ["U-early"], "stream-8"), "stream-8").retries == []
        else:
            assert assign(lake, ["U-early"], "stream-8").retries == []
    finally:
        Path(release).touch()
        thread.join(BARRIER_SECONDS)
    assert "error" not in outcome, outcome
    result = outcome["result"]
    assert isinstance(result, AssignedIds)
    assert len(result.retries) == 1 and result.retries[0].startswith("ConcurrentAppendException")
    assert id_map(lake) == {"U1": (1, "published"), "U-early": (2, "stream-8"), "U-late": (3, "batch-3")}


# --- the batch stage: the user map is audited before each commit ---------------------------------


def test_the_stage_audits_every_plan_and_plans_again_when_the_stream_moved_the_map(spark, config_factory):
    config = config_factory()
    lake = published_map(spark, config_factory, "U1", "U2")
    gate = QualityGate(spark, config, lake, Run.start())
    audited: list[set[str]] = []

    def audit(staged: dict[str, DataFrame]) -> None:
        audited.append({r[USER_ID] for r in staged[USER_ID_MAP.name].collect()})
        if len(audited) == 1:  # the stream adds a user while the gate looks at the first plan
            assign(lake, ["U-s"], "stream-9")
        gate.audit(staged)  # the first audit fails: the published U-s is missing from the staged map

    user_map, version = assign_user_ids(lake, keys(spark, "U-a", "U2"), Run.start(), audit)

    assert audited == [{"U1", "U2", "U-a"}, {"U1", "U2", "U-s", "U-a"}]
    assert {r[USER_ID]: r[USER_IDX] for r in user_map.collect()} == {"U1": 1, "U2": 2, "U-s": 3, "U-a": 4}
    assert version == lake.latest_version(USER_ID_MAP.name)
    assert id_map(lake)["U-a"][0] == 4


def test_the_stage_fails_when_the_audit_fails_on_a_map_no_one_else_touched(spark, config_factory):
    lake = published_map(spark, config_factory, "U1")
    before = lake.latest_version(USER_ID_MAP.name)

    def failing_audit(staged: dict[str, DataFrame]) -> None:
        raise StageFailedError("quality gate failed")

    with pytest.raises(StageFailedError, match="quality gate failed"):
        assign_user_ids(lake, keys(spark, "U-a"), Run.start(), failing_audit)
    assert lake.latest_version(USER_ID_MAP.name) == before and set(id_map(lake)) == {"U1"}
