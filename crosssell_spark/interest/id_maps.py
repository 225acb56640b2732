"""Stable integer ids for users and items: existing ids never change, new keys get max + 1, max + 2, ...

ALS needs integer ids, and factor tables, saved models and downstream joins must agree on them run
after run. The map is therefore append-only by content: a writer reads it, numbers only the keys it
has not seen (ordered by key, so the numbering is deterministic) after the current maximum, and adds
those rows.

Two processes add users (the batch interest stage and the stream), possibly at once, so new ids are
added with Delta's optimistic concurrency (`assign_ids`): one MERGE per attempt that inserts the
planned rows only while the map is still as planned, and a fresh plan when another writer got there
first. A failed attempt writes nothing, so ids stay unique and gap-free and no one's rows are lost.
The stream, which adds a few users every micro-batch, takes a cheaper path (`append_ids`): a blind
append checked afterwards in the Delta log, repaired through `assign_ids` in the rare case another
writer's ids landed first. A MERGE that read the map before such an append fails with a Delta
conflict, so the batch never commits over it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from crosssell_spark.lakehouse import DELTA_CONFLICTS, Lakehouse
from crosssell_spark.schemas import FIRST_RUN_ID
from crosssell_spark.tables import TableSpec

log = logging.getLogger(__name__)
MAX_ID = 2**31 - 1  # ALS ids are Java ints
# Each failed attempt means another writer committed ids meanwhile; the batch stage's attempts each
# include a quality-gate audit, so a busy stream may take it a few.
ID_COMMIT_ATTEMPTS = 5


def empty_map(spark: SparkSession, schema: StructType) -> DataFrame:
    """The map before the first run."""
    return spark.createDataFrame([], schema)


def new_key_rows(existing: DataFrame, key: str, idx: str, run_id: str) -> Callable[[DataFrame], DataFrame]:
    """keys DataFrame -> the keys `existing` lacks, numbered after its maximum in key order.

    Args:
        existing: the map (key, idx, first_run_id); may be empty.
        key: the key column (e.g. user_id); idx: the integer id column (e.g. user_idx).
        run_id: recorded as `first_run_id` on the keys this run adds.
    """

    def transform(keys: DataFrame) -> DataFrame:
        start = existing.agg(F.coalesce(F.max(idx), F.lit(0)).alias("_start"))
        new_keys = (
            keys.select(key).where(F.col(key).isNotNull()).distinct().join(existing.select(key), key, "left_anti")
        )
        # One window over only the new keys, deliberately in one partition: after the first run they
        # are few, and a global order makes the numbering independent of partitioning. It is
        # partitioned by `_start`, one value for every row (Spark folds a literal key away and then
        # warns about a window without partitions).
        in_key_order = Window.partitionBy("_start").orderBy(key)
        return new_keys.crossJoin(F.broadcast(start)).select(
            key,
            (F.col("_start") + F.row_number().over(in_key_order)).cast("int").alias(idx),
            F.lit(run_id).alias(FIRST_RUN_ID),
        )

    return transform


def extend_id_map(existing: DataFrame, key: str, idx: str, run_id: str) -> Callable[[DataFrame], DataFrame]:
    """keys DataFrame -> the existing map plus new keys numbered after its maximum, in key order."""

    def transform(keys: DataFrame) -> DataFrame:
        kept = existing.select(key, F.col(idx).cast("int").alias(idx), FIRST_RUN_ID)
        return kept.unionByName(keys.transform(new_key_rows(existing, key, idx, run_id)))

    return transform


def first_seen_rows(new_keys: Iterable[str], start: int, key: str, idx: str, run_id: str) -> pd.DataFrame:
    """The rows `new_key_rows` makes of `new_keys`, built on the driver (for a micro-batch's few new
    keys): numbered start + 1, start + 2, ... in key order."""
    keys = sorted(set(new_keys))
    return pd.DataFrame(
        {key: keys, idx: np.arange(start + 1, start + 1 + len(keys), dtype=np.int32), FIRST_RUN_ID: run_id}
    )


def attach_ids(id_map: DataFrame, key: str, idx: str) -> Callable[[DataFrame], DataFrame]:
    """Add the integer id of `key` to every row; rows whose key has no id are an error upstream."""

    def transform(df: DataFrame) -> DataFrame:
        return df.join(id_map.select(key, idx), key, "inner")

    return transform


def unless_moved(target: DataFrame, key: str, idx: str, start: int) -> Callable[[DataFrame], DataFrame]:
    """New rows numbered after `start` -> all of them while `target`'s largest id is still `start` and
    it holds none of their keys, else none.

    All or nothing: once another writer has added ids, any of these may collide, and inserting only
    some would leave gaps. Read inside a Delta MERGE into `target`, `target` is the MERGE's own snapshot.
    """

    def transform(rows: DataFrame) -> DataFrame:
        largest = target.agg(F.coalesce(F.max(idx), F.lit(0)).alias("_largest"))
        taken = rows.join(target.select(key), key, "left_semi").agg(F.count(F.lit(1)).alias("_taken"))
        unchanged = (F.col("_largest") == F.lit(start)) & (F.col("_taken") == 0)
        return rows.crossJoin(F.broadcast(largest.crossJoin(taken))).where(unchanged).select(*rows.columns)

    return transform


def relabel_ids(written: Mapping[str, int], key: str, idx: str) -> Callable[[DataFrame], DataFrame]:
    """Rows carrying planned ids -> the same rows with the id actually written for each key in `written`."""

    def transform(df: DataFrame) -> DataFrame:
        if not written:
            return df
        ids = F.create_map(*[F.lit(v) for pair in written.items() for v in pair])
        return df.withColumn(idx, F.coalesce(ids[F.col(key)], F.col(idx)).cast(df.schema[idx].dataType))

    return transform


# --- adding new ids beside other writers --------------------------------------------------------


@dataclass(frozen=True)
class NewIds:
    """The keys an id map lacked at `version`: `rows` (key, idx, first_run_id), numbered `start` + 1 ..
    `start` + `size` (the map's largest id at `version` was `start`)."""

    rows: DataFrame
    start: int
    size: int
    version: int | None


@dataclass(frozen=True)
class AssignedIds:
    """What `assign_ids` did: the plan it committed, a map version holding an id for every key it was
    given, and why each earlier attempt was planned again (empty: the first plan went in)."""

    written: NewIds
    version: int
    retries: list[str] = field(default_factory=list)


class MapMovedError(Exception):
    """The id map changed after a plan was read: plan again (raised by an `assign_ids` validation)."""


class IdContentionError(RuntimeError):
    """New ids could not be committed: other writers added ids before every attempt."""


def plan_new_ids(lake: Lakehouse, spec: TableSpec, keys: DataFrame, key: str, idx: str, run_id: str) -> NewIds:
    """The keys the map's latest version lacks, numbered after its largest id (materialised once)."""
    version = lake.latest_version(spec.name)
    existing = lake.read(spec.name, version) if version is not None else empty_map(lake.spark, spec.schema)
    largest = existing.agg(F.coalesce(F.max(idx), F.lit(0))).first()
    rows = keys.transform(new_key_rows(existing, key, idx, run_id)).localCheckpoint()
    return NewIds(rows, int(largest[0]) if largest is not None else 0, rows.count(), version)


def assign_ids(
    lake: Lakehouse,
    spec: TableSpec,
    keys: DataFrame,
    key: str,
    idx: str,
    run_id: str,
    *,
    planned: NewIds | None = None,
    validate: Callable[[NewIds], object] | None = None,
    attempts: int = ID_COMMIT_ATTEMPTS,
) -> AssignedIds:
    """Give every key in `keys` without an id in the existing table `spec` one, safely beside other
    processes doing the same.

    An attempt plans (`planned` first, if given, else `plan_new_ids`), runs `validate` on the plan (it
    may raise `MapMovedError`), and inserts the plan's rows in one MERGE, guarded by `unless_moved`. A plan
    that another writer's commit outdated inserts nothing; a commit landing during the MERGE fails it
    with a Delta conflict (the MERGE read the whole table). Both lead to a fresh plan. Every failed
    attempt means another writer committed, so writers cannot hold each other up for ever.
    """
    retries: list[str] = []
    for attempt in range(1, attempts + 1):
        plan = planned if planned is not None and attempt == 1 else plan_new_ids(lake, spec, keys, key, idx, run_id)
        try:
            if validate is not None:
                validate(plan)
            if plan.size == 0 or _insert(lake, spec, plan, key, idx):
                version = lake.latest_version(spec.name)
                assert version is not None
                return AssignedIds(plan, version, retries)
            why = f"{spec.name} changed after the plan was read"
        except (MapMovedError, *DELTA_CONFLICTS) as err:
            message = str(err).partition("\n")[0][:200]  # Delta's messages go on with a stack trace
            why = f"{type(err).__name__}: {message}"
        retries.append(why)
        log.warning("%s: %d new ids not committed (%s); attempt %d of %d", spec.name, plan.size, why, attempt, attempts)
    raise IdContentionError(f"{spec.name}: new ids not committed in {attempts} attempts: {retries}")


def append_ids(
    lake: Lakehouse,
    spec: TableSpec,
    plan: NewIds,
    key: str,
    idx: str,
    run_id: str,
    append: Callable[[DataFrame], object],
) -> AssignedIds:
    """Commit `plan` (rows first-seen by `run_id`) by a blind `append`, then make sure no other writer's
    ids clash with it.

    When the map's latest version is the plan's plus one, that one commit is this append and nothing
    can clash: the check costs one look at the Delta log, no Spark job. Otherwise another writer
    committed in between; rows sharing a key or an id with the plan are looked for, and only if there
    are any are this run's rows deleted and the keys assigned again (`assign_ids`, which keeps ids the
    other writer gave). Readers of the latest version may see the clash until then (the batch stage
    reads the version it committed). `retries` says whether that happened.
    """
    append(plan.rows)
    version = lake.latest_version(spec.name)
    assert version is not None, f"{spec.name} missing right after an append"
    if plan.version is not None and version == plan.version + 1:
        return AssignedIds(plan, version, [])
    clashes = lake.read(spec.name, version).transform(clashing_rows(plan.rows, key, idx, run_id)).count()
    if clashes == 0:
        return AssignedIds(plan, version, [])
    why = f"{clashes} rows of another writer share a key or an id with the {plan.size} appended"
    log.warning("%s: %s; assigning them again", spec.name, why)
    for attempt in range(1, ID_COMMIT_ATTEMPTS + 1):
        try:
            lake.delete_where(spec, F.col(FIRST_RUN_ID) == F.lit(run_id))
            break
        except DELTA_CONFLICTS:
            if attempt == ID_COMMIT_ATTEMPTS:
                raise
    assigned = assign_ids(lake, spec, plan.rows.select(key), key, idx, run_id)
    return AssignedIds(assigned.written, assigned.version, [why, *assigned.retries])


def clashing_rows(planned: DataFrame, key: str, idx: str, run_id: str) -> Callable[[DataFrame], DataFrame]:
    """An id map -> the rows of writers other than `run_id` that share a key or an id with `planned`."""

    def transform(table: DataFrame) -> DataFrame:
        others = table.where(F.col(FIRST_RUN_ID) != F.lit(run_id))
        same_key = others.join(planned.select(key), key, "left_semi")
        same_idx = others.join(planned.select(idx), idx, "left_semi")
        return same_key.unionByName(same_idx).distinct()

    return transform


def _insert(lake: Lakehouse, spec: TableSpec, plan: NewIds, key: str, idx: str) -> bool:
    """Commit the plan's rows if the map is as planned: whether they went in."""
    guarded = plan.rows.transform(unless_moved(lake.read(spec.name), key, idx, plan.start))
    inserted = lake.insert_new_keys(spec, guarded, key)
    if inserted not in (0, plan.size):  # the guard lets all rows through or none
        raise RuntimeError(f"{spec.name}: {inserted} of {plan.size} planned ids inserted")
    return inserted == plan.size
