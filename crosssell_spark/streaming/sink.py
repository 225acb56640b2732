"""The stream's Delta sink: the idempotent writes a micro-batch makes, each retried on a conflict.

Every write is safe to replay: appends carry the batch as a Delta transaction (txnAppId/txnVersion,
so a replayed batch's append is skipped), user rewrites replace exactly the batch's users in one
commit, and the events MERGE inserts only (event_date, event_id) pairs not there yet, looking only
among the rows of each date whose event_ts lies within the batch's span for that date (file
statistics skip the rest: the day's partition grows all day, and checking every row of it made the
MERGE slower with every batch).

A user rewrite is a `replaceWhere` on `user_id IN (<the batch's users>)`. Delta checks that every
written row matches that predicate by evaluating the IN list row by row (a linear scan of thousands
of literals per row: 6-10 s of a 100-file batch's 160,000 interest rows), so the sink checks the
same thing itself with one broadcast anti-join (`stray_users`) and skips Delta's row check for that
commit only (`spark.databricks.delta.replaceWhere.constraintCheck.enabled`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import pandas as pd
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crosssell_spark.config import AppConfig
from crosssell_spark.interest.id_maps import relabel_ids
from crosssell_spark.interest.model_store import read_text
from crosssell_spark.lakehouse import DELTA_CONFLICTS, Lakehouse, conform
from crosssell_spark.schemas import EVENT_DATE, EVENT_ID, EVENT_TS, USER_ID, USER_IDX
from crosssell_spark.session import session_conf
from crosssell_spark.streaming.source import checkpoint_location
from crosssell_spark.tables import EVENTS_CLEAN, TableSpec

log = logging.getLogger(__name__)
COMMIT_ATTEMPTS = 3  # a commit that conflicts with a concurrent writer (e.g. a batch stage) is retried
REPLACE_WHERE_ROW_CHECK = "spark.databricks.delta.replaceWhere.constraintCheck.enabled"


def with_retry(write: Callable[[], object], what: str) -> None:
    """Run a Delta write, again after a conflict with a concurrent commit (a failed commit wrote nothing)."""
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        try:
            write()
            return
        except DELTA_CONFLICTS as err:
            if attempt == COMMIT_ATTEMPTS:
                raise
            log.warning("%s: concurrent commit (%s), retry %d", what, type(err).__name__, attempt)
            time.sleep(attempt)


def sql_string(value: str) -> str:
    """A Spark SQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def stray_users(users: DataFrame) -> Callable[[DataFrame], DataFrame]:
    """Rows whose user_id is not one of `users` (a one-column DataFrame of user ids)."""

    def transform(rows: DataFrame) -> DataFrame:
        return rows.join(F.broadcast(users), USER_ID, "left_anti")

    return transform


class DeltaSink:
    """Idempotent Delta writes of one streaming query (its Delta app id is the query's)."""

    def __init__(self, spark: SparkSession, config: AppConfig, lake: Lakehouse) -> None:
        self.spark, self.config, self.lake = spark, config, lake
        self._app_id: str | None = None
        self._ensured: set[str] = set()
        self._row_check_off = threading.Lock()  # the row check is a session conf: one rewrite at a time

    @property
    def app_id(self) -> str:
        """<query name>-<query id>: a new checkpoint (batch ids from 0 again) is a new Delta app."""
        if self._app_id is None:
            metadata = read_text(self.spark, f"{checkpoint_location(self.config)}/metadata")
            query_id = json.loads(metadata)["id"] if metadata else "unknown"
            self._app_id = f"{self.config.streaming.query_name}-{query_id}"
        return self._app_id

    def ensure(self, spec: TableSpec) -> None:
        """Create (or evolve) a table once per process, not once per write."""
        if spec.name not in self._ensured:
            self.lake.ensure_table(spec)
            self._ensured.add(spec.name)

    def append(self, spec: TableSpec, df: DataFrame, batch_id: int) -> None:
        """Append `df` as batch `batch_id`'s idempotent write (txnAppId/txnVersion)."""
        self.ensure(spec)
        writer = conform(df, spec.schema).write.format("delta").mode("append")
        writer = writer.option("txnAppId", self.app_id).option("txnVersion", batch_id)
        with_retry(lambda: writer.save(self.lake.path(spec.name)), spec.name)

    def append_untracked(self, spec: TableSpec, df: DataFrame) -> None:
        """Append `df` without a Delta transaction id, for writes whose replay finds its own rows and
        adds none (new user ids): reading a table's txn versions costs a state reconstruction."""
        self.ensure(spec)
        writer = conform(df, spec.schema).write.format("delta").mode("append")
        with_retry(lambda: writer.save(self.lake.path(spec.name)), spec.name)

    def replace_users(
        self,
        spec: TableSpec,
        df: DataFrame,
        users: Sequence[str],
        batch_id: int,
        written_ids: Mapping[str, int] | None = None,
    ) -> None:
        """Replace every row of `users` in one commit (rows of other users are untouched); rows with a
        user_idx take the ids in `written_ids` (new users' ids that differ from the planned ones).
        A row of any other user is an error (raised before anything is written)."""
        self.ensure(spec)
        if written_ids and USER_IDX in df.columns:
            df = df.transform(relabel_ids(written_ids, USER_ID, USER_IDX))
        rows = conform(df, spec.schema)
        keys = self.spark.createDataFrame(pd.DataFrame({USER_ID: [str(u) for u in users]}), f"{USER_ID} string")
        stray = rows.transform(stray_users(keys)).select(USER_ID).limit(1).collect()
        if stray:
            raise ValueError(f"{spec.name}: rows of user {stray[0][USER_ID]!r}, who is not among the users replaced")
        writer = (
            rows.write.format("delta")
            .mode("overwrite")
            .option("replaceWhere", f"{USER_ID} IN ({', '.join(sql_string(u) for u in users)})")
            .option("txnAppId", self.app_id)
            .option("txnVersion", batch_id)
        )

        def save() -> None:
            with self._row_check_off, session_conf(self.spark, REPLACE_WHERE_ROW_CHECK, "false"):  # checked above
                writer.save(self.lake.path(spec.name))

        with_retry(save, spec.name)

    def merge_events(self, events: DataFrame, spans: Mapping[str, tuple[datetime, datetime]]) -> None:
        """Insert events whose (event_date, event_id) is not there yet (idempotent in itself: a replayed
        batch inserts nothing); `spans` (`event_spans` of the events) bound the rows it looks among."""
        self.ensure(EVENTS_CLEAN)
        merge = (
            DeltaTable.forPath(self.spark, self.lake.path(EVENTS_CLEAN.name))
            .alias("t")
            .merge(conform(events, EVENTS_CLEAN.schema).alias("s"), events_merge_condition(spans))
            .whenNotMatchedInsertAll()
        )
        with_retry(merge.execute, EVENTS_CLEAN.name)


def event_spans(events: pd.DataFrame) -> dict[str, tuple[datetime, datetime]]:
    """event_date -> (earliest, latest) event_ts of `events` (clean events on the driver)."""
    spans = events.groupby(EVENT_DATE)[EVENT_TS].agg(["min", "max"])
    return {
        str(d): (pd.Timestamp(r["min"]).to_pydatetime(), pd.Timestamp(r["max"]).to_pydatetime())
        for d, r in spans.iterrows()
    }


def events_merge_condition(spans: Mapping[str, tuple[datetime, datetime]]) -> str:
    """The events MERGE condition: same (event_date, event_id), the target rows bounded by literals
    that prune partitions and, by event_ts statistics, files. Exact: an event id hashes the event's
    timestamp, so a row with a source row's id has its event_ts, inside that date's span."""

    def stamp(value: datetime) -> str:
        return f"TIMESTAMP {sql_string(value.strftime('%Y-%m-%d %H:%M:%S.%f'))}"

    dates = ", ".join(f"DATE {sql_string(d)}" for d in spans)
    within = " OR ".join(
        f"(t.{EVENT_DATE} = DATE {sql_string(d)} AND t.{EVENT_TS} BETWEEN {stamp(lo)} AND {stamp(hi)})"
        for d, (lo, hi) in spans.items()
    )
    same_key = f"t.{EVENT_DATE} = s.{EVENT_DATE} AND t.{EVENT_ID} = s.{EVENT_ID}"
    return f"t.{EVENT_DATE} IN ({dates}) AND ({within}) AND {same_key}"
