"""Published sets on in-line tables: while a stage's set is incomplete readers get its tables as they
were before it; a completed or rolled-back set serves the latest again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from pyspark.sql import SparkSession

from crosssell_spark.config import AppConfig
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.ops.published_sets import describe_sets, rollback_incomplete
from crosssell_spark.schemas import (
    PUBLISHED_SETS_SCHEMA,
    SET_PUBLISHED,
    SET_PUBLISHING,
    SET_RESTORED,
    USER_ID_MAP_SCHEMA,
)
from crosssell_spark.tables import PUBLISHED_SETS, RECONCILIATION, TableSpec

IDS = TableSpec("ids", USER_ID_MAP_SCHEMA)
MORE_IDS = TableSpec("more_ids", USER_ID_MAP_SCHEMA)


def publish(lake: Lakehouse, spec: TableSpec, run_id: str, *users: str) -> int:
    rows = [(u, i, run_id) for i, u in enumerate(users, start=1)]
    return lake.publish(spec, lake.spark.createDataFrame(rows, USER_ID_MAP_SCHEMA))


def runs_read(lake: Lakehouse, spec: TableSpec) -> set[str]:
    return {r["first_run_id"] for r in lake.read(spec.name).collect()}


def test_an_unfinished_set_is_served_as_before_until_it_completes(spark: SparkSession, config_factory):
    lake = Lakehouse(spark, config_factory().lakehouse)
    first = {IDS.name: publish(lake, IDS, "r1", "a"), MORE_IDS.name: publish(lake, MORE_IDS, "r1", "b")}
    lake.complete_set("r1", "stage-x", first)

    lake.begin_set("r2", "stage-x", [IDS.name, MORE_IDS.name])
    publish(lake, IDS, "r2", "a", "c")  # the run dies here: MORE_IDS and the set row never come

    assert runs_read(lake, IDS) == {"r1"} and runs_read(lake, MORE_IDS) == {"r1"}
    assert lake.read_version(IDS.name) == first[IDS.name] < (lake.latest_version(IDS.name) or 0)
    (state,) = lake.latest_sets()
    assert (state.run_id, state.status, state.complete) == ("r2", SET_PUBLISHING, False)
    assert "INCOMPLETE" in describe_sets(lake) and "r2" in describe_sets(lake)
    other = Lakehouse(spark, config_factory().lakehouse)  # a new reader (another process) agrees
    assert runs_read(other, IDS) == {"r1"}

    lake.begin_set("r3", "stage-x", [IDS.name, MORE_IDS.name])  # the stage's next run
    third = {IDS.name: publish(lake, IDS, "r3", "a"), MORE_IDS.name: publish(lake, MORE_IDS, "r3", "b")}
    lake.complete_set("r3", "stage-x", third)
    assert runs_read(lake, IDS) == {"r3"} and runs_read(other, MORE_IDS) == {"r3"}
    assert [(s.run_id, s.status) for s in lake.latest_sets()] == [("r3", SET_PUBLISHED)]
    assert "INCOMPLETE" not in describe_sets(lake)


def test_other_stages_and_tables_new_with_the_run_are_not_pinned(spark: SparkSession, config_factory):
    lake = Lakehouse(spark, config_factory().lakehouse)
    lake.complete_set("r1", "stage-x", {IDS.name: publish(lake, IDS, "r1", "a")})
    lake.begin_set("r2", "stage-y", [MORE_IDS.name])
    publish(lake, MORE_IDS, "r2", "b")  # no earlier version to fall back to
    publish(lake, IDS, "stream", "a", "z")  # a writer outside any set, e.g. the stream

    assert lake.pins() == {}
    assert runs_read(lake, MORE_IDS) == {"r2"} and runs_read(lake, IDS) == {"stream"}


def test_rollback_restores_the_unfinished_tables_and_records_the_restored_set(
    spark: SparkSession, config_factory: Callable[..., AppConfig]
):
    lake = Lakehouse(spark, config_factory().lakehouse)
    before = {IDS.name: publish(lake, IDS, "r1", "a"), MORE_IDS.name: publish(lake, MORE_IDS, "r1", "b")}
    lake.complete_set("r1", "stage-x", before)
    lake.begin_set("r2", "stage-x", [IDS.name, MORE_IDS.name, RECONCILIATION.name])
    publish(lake, IDS, "r2", "a", "c")

    (done,) = rollback_incomplete(lake)

    assert done.restored == {IDS.name: (before[IDS.name] + 1, before[IDS.name])}
    assert done.left == [RECONCILIATION.name]  # did not exist before the run: nothing to go back to
    (state,) = lake.latest_sets()
    assert state.status == SET_RESTORED and state.complete and lake.pins() == {}
    assert runs_read(lake, IDS) == {"r1"}  # now the latest version too
    assert lake.latest_version(IDS.name) == before[IDS.name] + 2 == state.versions[IDS.name]
    assert rollback_incomplete(lake) == []  # nothing left to do


def test_a_new_table_is_created_in_one_commit_with_its_constraints_and_properties(
    spark: SparkSession, config_factory: Callable[..., AppConfig]
):
    lake = Lakehouse(spark, config_factory().lakehouse)
    checked = TableSpec(
        "checked_ids", USER_ID_MAP_SCHEMA, constraints={"id_positive": "user_idx >= 1"},
        properties={"delta.dataSkippingNumIndexedCols": "0"},
    )  # fmt: skip
    lake.ensure_table(checked)

    assert lake.history(checked.name).count() == 1 and lake.latest_version(checked.name) == 0
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{lake.path(checked.name)}`").first()
    assert detail is not None and detail["properties"]["delta.dataSkippingNumIndexedCols"] == "0"
    assert detail["properties"]["delta.constraints.id_positive"] == "user_idx >= 1"
    assert lake.properties(checked.name) == dict(detail["properties"])  # read from the log on the driver
    with pytest.raises(Exception, match="id_positive"):  # enforced like one added by ALTER TABLE
        lake.publish(checked, spark.createDataFrame([("a", 0, "r1")], USER_ID_MAP_SCHEMA))
    assert lake.latest_version(checked.name) == 0


def test_a_table_of_an_older_release_gets_the_specs_properties_in_one_commit(
    spark: SparkSession, config_factory: Callable[..., AppConfig]
):
    lake = Lakehouse(spark, config_factory().lakehouse)
    lake.ensure_table(IDS)  # created without properties
    spark.sql(f"ALTER TABLE delta.`{lake.path(IDS.name)}` SET TBLPROPERTIES ('delta.appendOnly' = 'false')")
    newer = TableSpec(IDS.name, USER_ID_MAP_SCHEMA, properties={"delta.checkpointInterval": "100"})
    before = lake.latest_version(IDS.name)

    lake.ensure_table(newer)
    assert lake.latest_version(IDS.name) == before + 1
    held = lake.properties(IDS.name)
    assert held["delta.checkpointInterval"] == "100"
    assert held["delta.appendOnly"] == "false"  # a property the spec does not name stays
    lake.ensure_table(newer)  # already as the spec says: no commit
    assert lake.latest_version(IDS.name) == before + 1


def jobs_run_by(spark: SparkSession, body: Callable[[], object]) -> int:
    """How many Spark jobs `body` started."""
    group = f"jobs-{id(body)}"
    spark.sparkContext.setJobGroup(group, "counted")
    try:
        body()
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
    return len(spark.sparkContext.statusTracker().getJobIdsForGroup(group))


def test_sets_are_read_again_only_when_someone_else_committed(spark: SparkSession, config_factory):
    lake = Lakehouse(spark, config_factory().lakehouse)
    lake.complete_set("r1", "stage-x", {IDS.name: publish(lake, IDS, "r1", "a")})
    assert [s.run_id for s in lake.latest_sets()] == ["r1"]

    lake.begin_set("r2", "stage-y", [MORE_IDS.name])  # this process's own rows: no scan after them
    lake.complete_set("r2", "stage-y", {MORE_IDS.name: publish(lake, MORE_IDS, "r2", "b")})
    other = Lakehouse(spark, config_factory().lakehouse)  # another reader in the process shares them
    assert jobs_run_by(spark, other.latest_sets) == 0
    assert [(s.run_id, s.status) for s in other.latest_sets()] == [("r1", SET_PUBLISHED), ("r2", SET_PUBLISHED)]

    row = [("r3", "stage-x", SET_PUBLISHING, {IDS.name: 0}, datetime(2030, 1, 1))]  # another process's commit
    spark.createDataFrame(row, PUBLISHED_SETS_SCHEMA).write.format("delta").mode("append").save(
        lake.path(PUBLISHED_SETS.name)
    )
    assert jobs_run_by(spark, lake.latest_sets) > 0
    assert [(s.run_id, s.status) for s in lake.latest_sets()] == [("r3", SET_PUBLISHING), ("r2", SET_PUBLISHED)]
    assert lake.pins() == {IDS.name: 0}
