"""The foreachBatch writer: one micro-batch -> refreshed user lists, quarantine, reconciliation, events_clean.

Exactly-once: the quarantine and audit appends and the user-row replacements of batch N carry
`txnAppId` = <query name>-<query id> and `txnVersion` = N, so when a killed query replays batch N,
the writes that had committed are skipped by Delta and the rest are done; the events MERGE inserts
only (event_date, event_id) keys that are not there yet, and a replay finds the user ids it had
added, so neither adds anything twice. Order: the touched users' user_cross_sell rows first, built
from their published events plus this batch's new ones (the lists are what shoppers see, so they
are what the latency is about); then two chains side by side: the quarantine, the reconciliation
(counted before the events land, so the audit stays exact on a replay) and the events MERGE; new
user ids, user_factors and user_category_interest.

New user ids go in by `append_ids` (an append checked in the Delta log) while the batch interest
stage adds its own by a guarded MERGE: when the stage's ids landed first and clash, they are
assigned again and this batch's user_factors rows take the ids actually written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import cast

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crosssell_spark.cleaning.events import classify_events, clean_events, quarantined_events
from crosssell_spark.cleaning.reconciliation import (
    CLEAN_OUTCOME,
    DUPLICATE_OUTCOME,
    Reconciliation,
    outcome_counts,
    reconciliation_rows,
)
from crosssell_spark.config import AppConfig
from crosssell_spark.interest.id_maps import NewIds, append_ids, first_seen_rows
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.privacy.pseudonym import pseudonymise_ids
from crosssell_spark.schemas import (
    DETAIL,
    EVENT_DATE,
    EVENT_ID,
    EVENT_TS,
    ITEM_ID,
    RAW_EVENT_COLUMNS,
    REASON,
    RUN_DATE,
    RUN_ID,
    USER_ID,
    USER_IDX,
)
from crosssell_spark.streaming.clean import (
    not_yet_published,
    readable_rows,
    recent_history,
    unreadable_rows,
)
from crosssell_spark.streaming.driver_state import PublishedHistory, UserIds
from crosssell_spark.streaming.refresh import RefreshContext, RefreshedRows, refresh_users
from crosssell_spark.streaming.sink import DeltaSink, event_spans
from crosssell_spark.streaming.source import CORRUPT_RECORD, SOURCE_FILE, bad_header_files
from crosssell_spark.tables import (
    EVENTS_CLEAN,
    EVENTS_QUARANTINE,
    ITEM_FACTORS,
    ITEMS_CLEAN,
    RECONCILIATION,
    USER_CATEGORY_INTEREST,
    USER_CROSS_SELL,
    USER_FACTORS,
    USER_ID_MAP,
)

log = logging.getLogger(__name__)
INPUT_NAME = "stream_events"
NamedWrite = tuple[str, Callable[[], object]]  # (table, its write)


@dataclass
class BatchReport:
    """What one micro-batch did and when (epoch seconds), for logs, the CLI summary and the bench."""

    batch_id: int
    files: list[str]
    reconciliation: Reconciliation
    touched_users: int
    refreshed_users: int
    started: float
    events_written: float
    finished: float
    lists_written: float | None = None  # when the touched users' user_cross_sell rows were committed
    bad_files: list[str] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step, in order


def stream_run_id(query_name: str, batch_id: int) -> str:
    """`run_id` of the rows a micro-batch writes (quarantine, reconciliation, refreshed rows)."""
    return f"stream-{query_name}-{batch_id}"


def run_side_by_side(chains: Sequence[Sequence[NamedWrite]]) -> dict[str, tuple[float, float]]:
    """Run each chain's writes in order, the chains in threads side by side; table -> (seconds, when
    it finished). Every chain runs to its end; then the first error, if any, is raised."""

    done: dict[str, tuple[float, float]] = {}

    def run(chain: Sequence[NamedWrite]) -> None:
        for name, write in chain:
            began = time.time()
            write()
            finished = time.time()
            done[name] = (finished - began, finished)

    with ThreadPoolExecutor(max_workers=max(1, len(chains)), thread_name_prefix="stream-write") as pool:
        futures = [pool.submit(run, chain) for chain in chains if chain]
    for future in futures:
        future.result()
    return done


class StreamBatchWriter:
    """Callable for `writeStream.foreachBatch`; keeps the refresh context between batches."""

    def __init__(self, spark: SparkSession, config: AppConfig) -> None:
        self.spark, self.config = spark, config
        self.lake = Lakehouse(spark, config.lakehouse)
        self.query_name = config.streaming.query_name
        self.context: RefreshContext | None = None
        self.reports: list[BatchReport] = []
        self.sink = DeltaSink(spark, config, self.lake)
        self._phases: dict[str, float] = {}
        self._last = 0.0
        self._context_checked = 0.0  # when the published item-factor version was last looked at
        # published events and user ids kept on the driver between batches (streaming.history_cache_events)
        self.cached_state = config.streaming.refresh and config.streaming.history_cache_events > 0
        streaming = config.streaming
        self.history = PublishedHistory(
            EVENTS_CLEAN.schema.fieldNames(), streaming.history_cache_events, streaming.history_events_per_user
        )
        self.user_ids = UserIds()

    def close(self) -> None:
        """Free the refresh context's cached tables; call once the query has stopped."""
        if self.context is not None:
            self.context.release()

    def _mark(self, phase: str) -> None:
        """Close the current step: its seconds go to the batch report."""
        now = time.time()
        self._phases[phase] = round(now - self._last, 3)
        self._last = now

    def _own_commit(
        self, table: str, copy: PublishedHistory | UserIds, write: Callable[[], object], rows: pd.DataFrame
    ) -> None:
        """Commit `rows` to `table` and move the driver's `copy` of it along."""
        if not self.cached_state:
            write()
            return
        before = copy.version
        write()
        copy.committed(before, self.lake.latest_version(table), rows)

    def _add_user_ids(self, plan: NewIds, first_seen: pd.DataFrame, run_id: str, written_ids: dict[str, int]) -> None:
        """Commit the first-seen users' ids (`append_ids`: an append, idempotent by content, checked
        in the Delta log). When the batch stage's ids clash with them, they are assigned again:
        `written_ids` gets those that changed (for this batch's user_factors rows) and the driver's
        copy is let go; else the copy moves along with the commit."""
        self.sink.ensure(USER_ID_MAP)
        append = partial(self.sink.append_untracked, USER_ID_MAP)
        assigned = append_ids(self.lake, USER_ID_MAP, plan, USER_ID, USER_IDX, run_id, append)
        if not assigned.retries:
            if self.cached_state:
                self.user_ids.committed(plan.version, assigned.version, first_seen)
            return
        self.user_ids.forget()
        table = self.lake.read(USER_ID_MAP.name, assigned.version)
        written = self._rows_of(list(first_seen[USER_ID]), table, [USER_ID, USER_IDX])
        planned = dict(zip(first_seen[USER_ID].astype(str), first_seen[USER_IDX].astype(int), strict=True))
        for user, idx in zip(written[USER_ID].astype(str), written[USER_IDX].astype(int), strict=True):
            if planned[user] != idx:
                written_ids[user] = idx

    # --- one micro-batch ------------------------------------------------------------------------

    def __call__(self, batch_df: DataFrame, batch_id: int) -> None:
        started = self._last = time.time()
        self._phases = {}
        batch = batch_df.persist()
        try:
            self._process(batch, int(batch_id), started)
        except BaseException:  # the driver's copies may be half-advanced: read the tables again next time
            self.history.forget()
            self.user_ids.forget()
            raise
        finally:
            batch.unpersist()

    def _process(self, batch: DataFrame, batch_id: int, started: float) -> None:
        cfg, run_id = self.config, stream_run_id(self.query_name, batch_id)
        now = datetime.now(UTC).replace(tzinfo=None)
        per_file = (
            batch.groupBy(SOURCE_FILE)
            .agg(F.count(F.lit(1)).alias("rows"), F.count(CORRUPT_RECORD).alias("corrupt"))
            .collect()
        )
        files = sorted(r[SOURCE_FILE] for r in per_file)
        for r in per_file:
            if r["corrupt"]:
                log.warning("batch %d: %s has %d unparseable rows of %d (quarantined)",
                            batch_id, r[SOURCE_FILE], r["corrupt"], r["rows"])  # fmt: skip
        bad_files = bad_header_files(self.spark, self.config, files)

        known_items = self.lake.read(ITEMS_CLEAN.name).select(ITEM_ID)
        # ids are pseudonymised exactly as the batch job does it, before anything is written
        readable = batch.transform(readable_rows(bad_files)).transform(pseudonymise_ids(cfg.privacy))
        classified = readable.transform(classify_events(cfg.cleaning, known_items, now)).localCheckpoint()
        sessions = f"{self.query_name}-{batch_id}-"  # derived session ids never collide with the batch job's
        # the batch's clean events reach the driver once: touched users, dates and counts come from them
        clean = cast(pd.DataFrame, clean_events(classified, cfg.cleaning.session_gap_minutes, sessions).toPandas())
        outcomes = outcome_counts(classified)
        unreadable = batch.transform(unreadable_rows(bad_files, keep_text=not cfg.privacy.pseudonymise))
        quarantine = (
            unreadable.transform(pseudonymise_ids(cfg.privacy))
            .unionByName(quarantined_events(classified).select(*RAW_EVENT_COLUMNS, REASON, DETAIL))
            .select("*", F.lit(run_id).alias(RUN_ID), F.lit(None).cast("date").alias(RUN_DATE))  # no daily slice
        )
        unparsed = sum(int(r["rows"]) if r[SOURCE_FILE] in bad_files else int(r["corrupt"]) for r in per_file)
        rejected = sum(n for outcome, n in outcomes.items() if outcome not in (CLEAN_OUTCOME, DUPLICATE_OUTCOME))
        # counted where there is something to count (a clean batch has no quarantine rows to scan for)
        rows_quarantined = quarantine.count() if unparsed + rejected else 0
        touched = sorted(clean[USER_ID].unique())
        dates = sorted({str(d) for d in clean[EVENT_DATE]})
        published = self._published_events(touched, dates, clean.groupby(USER_ID)[EVENT_TS].min())
        new = not_yet_published(clean, published)
        check = Reconciliation(
            input_name=INPUT_NAME,
            rows_read=sum(int(r["rows"]) for r in per_file),
            rows_clean=len(new),
            rows_quarantined=rows_quarantined,
            rows_duplicate=outcomes.get(DUPLICATE_OUTCOME, 0) + len(clean) - len(new),
        )
        (log.info if check.balanced else log.error)("batch %d: %s", batch_id, check.describe())

        self._mark("clean")

        refresh = (
            self._refreshed_rows(touched, published, new, run_id, batch_id, now)
            if cfg.streaming.refresh and touched
            else None
        )
        rows, new_ids, first_seen = refresh if refresh is not None else (None, None, None)
        written_ids: dict[str, int] = {}  # new users whose id differs from the planned one -> the id written
        lists_written: float | None = None
        if rows is not None and rows.user_ids:  # users without any weighted event keep their rows
            # the lists first: they are what shoppers see, so they are what the latency is about
            self.sink.replace_users(USER_CROSS_SELL, rows.user_lists, rows.user_ids, batch_id)
            lists_written = time.time()
            self._mark(USER_CROSS_SELL.name)

        # Then the rest, in two chains run side by side (each write is mostly fixed Delta cost: planning,
        # state reconstruction, commit): the audit chain keeps the audit exact on a replay (the
        # reconciliation commits before the events, counted before they land); the user chain adds
        # new ids before the user_factors rows that carry them.
        audit: list[NamedWrite] = []
        if rows_quarantined:  # an empty append would be a commit with nothing in it
            audit.append((EVENTS_QUARANTINE.name, lambda: self.sink.append(EVENTS_QUARANTINE, quarantine, batch_id)))
        audit_row = reconciliation_rows(self.spark, [check], run_id, now)
        audit.append((RECONCILIATION.name, lambda: self.sink.append(RECONCILIATION, audit_row, batch_id)))
        if len(new):
            new_events = self.spark.createDataFrame(new[EVENTS_CLEAN.schema.fieldNames()], EVENTS_CLEAN.schema)
            merge_events = partial(self.sink.merge_events, new_events, event_spans(new))
            commit_events = partial(self._own_commit, EVENTS_CLEAN.name, self.history, merge_events, new)
            audit.append((EVENTS_CLEAN.name, commit_events))
        users: list[NamedWrite] = []
        if new_ids is not None and first_seen is not None:
            # no txn: a replay looks the ids up again and finds the ones it had added, so it adds none
            # (and reading the table's txn versions would cost a state reconstruction every batch)
            add_ids = partial(self._add_user_ids, new_ids, first_seen, run_id, written_ids)
            users.append((USER_ID_MAP.name, add_ids))
        if rows is not None and rows.user_ids:
            for spec, df in ((USER_FACTORS, rows.user_factors), (USER_CATEGORY_INTEREST, rows.interest)):
                replace = partial(self.sink.replace_users, spec, df, rows.user_ids, batch_id, written_ids)
                users.append((spec.name, replace))
        done = run_side_by_side([audit, users])
        self._mark("other_writes")  # both chains; each table's own seconds follow (they overlap)
        self._phases.update({name: round(seconds, 3) for name, (seconds, _) in done.items()})
        events_written = done[EVENTS_CLEAN.name][1] if EVENTS_CLEAN.name in done else self._last
        refreshed = len(rows.user_ids) if rows is not None else 0
        report = BatchReport(batch_id, files, check, len(touched), refreshed, started, events_written, time.time(),
                             lists_written, bad_files, dict(self._phases))  # fmt: skip
        self.reports.append(report)
        log.info("batch %d: %d files, %d users refreshed, %.1f s %s", batch_id, len(files), refreshed,
                 report.finished - started, report.phases)  # fmt: skip

    # --- refresh --------------------------------------------------------------------------------

    def _refresh_context(self) -> RefreshContext:
        """The loaded context, reloaded when a batch run has published new item factors (looked for
        every `streaming.context_check_seconds`)."""
        recently = time.time() - self._context_checked < self.config.streaming.context_check_seconds
        if self.context is not None and recently:
            return self.context
        version = self.lake.read_version(ITEM_FACTORS.name)
        self._context_checked = time.time()
        if self.context is None or self.context.item_factors_version != version:
            if self.context is not None:
                self.context.release()
            self.context = RefreshContext.load(self.spark, self.config, self.lake)
        return self.context

    def _published_events(self, users: Sequence[str], dates: Sequence[str], oldest: pd.Series) -> pd.DataFrame:
        """events_clean rows of `users`: their history when the stream refreshes (from the driver's copy
        where it holds them, the rest in one query; at least every row after the batch's `oldest`
        event_ts per user and what a refresh folds in), else the keys on the batch's dates only
        (enough to tell replayed events from new)."""
        columns = EVENTS_CLEAN.schema.fieldNames()
        if not users:
            return pd.DataFrame({c: [] for c in columns})
        if not self.config.streaming.refresh:
            events = self.lake.read(EVENTS_CLEAN.name).where(F.col(EVENT_DATE).isin(list(dates)))
            return self._rows_of(users, events, [EVENT_DATE, EVENT_ID, USER_ID])
        if not self.cached_state:
            return self._rows_of(users, self.lake.read(EVENTS_CLEAN.name), columns)
        version = self.lake.latest_version(EVENTS_CLEAN.name)
        if version != self.history.version:  # first batch, or another writer committed: read anew
            published = self.lake.read(EVENTS_CLEAN.name, version).select(USER_ID).distinct()
            self.history.reset(version, cast(pd.DataFrame, published.toPandas())[USER_ID])
        cached, to_read = self.history.split(users, oldest.to_dict())
        if not to_read:
            return cached
        read = self._rows_of(to_read, self.lake.read(EVENTS_CLEAN.name, version), columns)
        self.history.add_read(to_read, read)
        return pd.concat([cached, read], ignore_index=True) if len(cached) else read

    def _rows_of(self, users: Sequence[str], table: DataFrame, columns: Sequence[str]) -> pd.DataFrame:
        """The `columns` of `table`'s rows of `users`, on the driver."""
        touched = self.spark.createDataFrame([(u,) for u in users], f"{USER_ID} string")
        return cast(pd.DataFrame, table.join(F.broadcast(touched), USER_ID).select(*columns).toPandas())

    def _user_ids(self, users: Sequence[str], run_id: str) -> tuple[pd.DataFrame, pd.DataFrame, NewIds | None]:
        """(user_id, user_idx) of `users` (from the driver's copy of user_id_map, else in one query), and
        the user_id_map rows of those seen for the first time (numbered after the largest id), on the
        driver and as the plan to commit (None when there are none)."""
        version: int | None = None
        if self.cached_state:
            version = self.lake.latest_version(USER_ID_MAP.name)
            if version != self.user_ids.version:  # first batch, or another writer committed: read anew
                id_map = self.lake.read(USER_ID_MAP.name, version).select(USER_ID, USER_IDX)
                self.user_ids.reset(version, cast(pd.DataFrame, id_map.toPandas()))
            known, unseen = self.user_ids.lookup(users)
            start = self.user_ids.largest
        else:
            touched = self.spark.createDataFrame([(u,) for u in users], f"{USER_ID} string")
            user_map = self.lake.read(USER_ID_MAP.name)
            largest = user_map.agg(F.coalesce(F.max(USER_IDX), F.lit(0)).alias("_largest"))
            lookup = touched.join(user_map.select(USER_ID, USER_IDX), USER_ID, "left").crossJoin(F.broadcast(largest))
            found = cast(pd.DataFrame, lookup.toPandas())
            known = found[found[USER_IDX].notna()].astype({USER_IDX: "int64"})
            start = int(found["_largest"].iloc[0]) if len(found) else 0
            unseen = found.loc[found[USER_IDX].isna(), USER_ID]
        first_seen = first_seen_rows(unseen, start, USER_ID, USER_IDX, run_id)
        ids = pd.concat([known[[USER_ID, USER_IDX]], first_seen[[USER_ID, USER_IDX]]], ignore_index=True)
        if not len(first_seen):
            return ids, first_seen, None
        rows = self.spark.createDataFrame(first_seen, USER_ID_MAP.schema)
        return ids, first_seen, NewIds(rows, start, len(first_seen), version)

    def _refreshed_rows(
        self,
        users: list[str],
        published: pd.DataFrame,
        new: pd.DataFrame,
        run_id: str,
        batch_id: int,
        now: datetime,
    ) -> tuple[RefreshedRows, NewIds | None, pd.DataFrame]:
        """The touched users' refreshed rows, from their published events plus this batch's new ones,
        and the user_id_map rows of users seen for the first time (as the plan to commit, None when
        there are none, and on the driver)."""
        context = self._refresh_context()
        self._mark("refresh_context")
        ids, first_seen, new_ids = self._user_ids(users, run_id)
        self._mark("id_map")
        streamed = new[list(published.columns)]
        events = pd.concat([published, streamed], ignore_index=True) if len(published) else streamed
        events, _ = recent_history(events, self.config.streaming.history_events_per_user)
        rows = refresh_users(self.spark, self.config, context, events, ids, run_id, batch_id, now)
        self._mark("fold_in")
        return rows, new_ids, first_seen
