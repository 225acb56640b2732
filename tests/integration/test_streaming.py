"""`crosssell stream` on a copy of the sample pipeline's lakehouse: files land, tables change as a shop expects.

Trigger availableNow, a temp landing folder. One module-scoped run covers clean events, duplicates,
bad files and the refresh of touched users; a second, killed mid-batch in a subprocess and
restarted, shows exactly-once writes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crosssell_spark.config import AppConfig
from crosssell_spark.lakehouse import Lakehouse, conform
from crosssell_spark.schemas import RAW_EVENT_COLUMNS
from crosssell_spark.streaming.batch import StreamBatchWriter
from crosssell_spark.streaming.clean import recent_history
from crosssell_spark.streaming.refresh import RefreshContext, refresh_users
from crosssell_spark.streaming.source import CORRUPT_RECORD, SOURCE_FILE, STREAM_EVENTS_SCHEMA
from crosssell_spark.streaming.stage import run_stream
from crosssell_spark.tables import (
    EVENTS_CLEAN,
    EVENTS_QUARANTINE,
    ITEM_SIMILARITY,
    ITEMS_CLEAN,
    RECONCILIATION,
    USER_CATEGORY_INTEREST,
    USER_CROSS_SELL,
    USER_FACTORS,
    USER_ID_MAP,
    TableSpec,
)
from tests.conftest import PROJECT_ROOT, TEST_JVM_ENV, PipelineRun, make_test_config

pytestmark = [pytest.mark.integration, pytest.mark.minutes(7)]
NEW_USER = "stream-new-user-1"
# evaluation and _reports: test_evaluation may be writing them into the shared lakehouse meanwhile
COPY_IGNORE = shutil.ignore_patterns(
    "_staging", "_gx", "_exports", "_checkpoints", "_evaluation", "evaluation", "_reports"
)


def copy_lakehouse(sample_pipeline: PipelineRun, dest: Path) -> Path:
    """A private copy of the shared fixture's lakehouse (the fixture itself is never written)."""
    shutil.copytree(sample_pipeline.lake.root, dest, ignore=COPY_IGNORE)
    return dest


def stream_config(root: Path, *overrides: str) -> AppConfig:
    return make_test_config(
        root / "lakehouse",
        f"streaming.landing_dir={root / 'landing'}",
        f"streaming.checkpoint_dir={root / 'checkpoint'}",
        "streaming.trigger=availableNow",
        *overrides,
    )


def event(user: str, item: str, kind: str, ts: datetime, session: str = "s-stream") -> dict[str, str]:
    return {
        "user_id": user,
        "item_id": item,
        "event_type": kind,
        "event_ts": ts.strftime("%Y-%m-%d %H:%M:%S"),
        "session_id": session,
        "quantity": "1",
        "price": "",
    }


def land(landing: Path, name: str, lines: list[str]) -> None:
    """Write beside the folder, then rename in: the file source never sees a half-written file."""
    landing.mkdir(parents=True, exist_ok=True)
    tmp = landing.parent / f".{name}.tmp"
    tmp.write_text("".join(line + "\n" for line in lines))
    os.replace(tmp, landing / name)


def as_json(rows: list[dict[str, str]]) -> list[str]:
    return [json.dumps(r) for r in rows]


def snapshot(df: DataFrame) -> pd.DataFrame:
    return df.toPandas()


@dataclass
class Streamed:
    config: AppConfig
    lake: Lakehouse
    user: str  # an existing user who buys their rank-1 item and a well-connected anchor
    bought_top: str
    anchor: str
    neighbours: set[str]
    resent_user: str  # whose batch event was sent again: touched, though nothing new was written
    expected_new_events: int
    lines_landed: int
    before_lists: DataFrame  # user_cross_sell before, materialised
    before_events: int
    before_quarantine: int


@pytest.fixture(scope="module")
def streamed(spark: SparkSession, sample_pipeline: PipelineRun, tmp_path_factory: pytest.TempPathFactory) -> Streamed:
    root = tmp_path_factory.mktemp("stream")
    copy_lakehouse(sample_pipeline, root / "lakehouse")
    # the refresh mechanics under the configured weights (evidence first); the parity tests cover a learnt scorer
    config = stream_config(root, "streaming.max_files_per_trigger=3", "crosssell.ranker.enabled=false")
    lake = Lakehouse(spark, config.lakehouse)

    similarity = lake.read(ITEM_SIMILARITY.name).filter("is_behavioural")
    anchor = similarity.groupBy("item_a").agg(F.max("co_users").alias("n")).orderBy(F.desc("n"), "item_a").first()[0]
    neighbours = {r[0] for r in similarity.filter(F.col("item_a") == anchor).select("item_b").collect()}
    bought = lake.read(EVENTS_CLEAN.name).filter("event_type = 'purchase'").select("user_id", "item_id")
    top = (
        lake.read(USER_CROSS_SELL.name)
        .filter("rank = 1")
        .join(bought.filter(F.col("item_id") == anchor).select("user_id"), "user_id", "left_anti")
        .orderBy("user_id")
        .first()
    )
    user, bought_top = top["user_id"], top["item_id"]
    existing = lake.read(EVENTS_CLEAN.name).orderBy("event_id").first()
    newest = lake.read(EVENTS_CLEAN.name).agg(F.max("event_ts")).first()[0]
    t = newest + timedelta(hours=1)

    user_events = [event(user, bought_top, "purchase", t), event(user, anchor, "purchase", t + timedelta(minutes=5))]
    new_user = [
        event(NEW_USER, anchor, "view", t, "s-new"),
        event(NEW_USER, anchor, "purchase", t + timedelta(minutes=1), "s-new"),
    ]
    resent = {  # a batch event sent again: MERGE on event keys keeps one copy
        "user_id": existing["user_id"],
        "item_id": existing["item_id"],
        "event_type": existing["event_type"],
        "event_ts": existing["event_ts"].strftime("%Y-%m-%d %H:%M:%S"),
        "session_id": existing["session_id"],
        "quantity": str(existing["quantity"]),
        "price": "" if existing["price"] is None else str(existing["price"]),
    }
    extra = {**event(NEW_USER, bought_top, "view", t + timedelta(minutes=2), "s-new"), "coupon": "X1"}
    missing = {k: v for k, v in event(NEW_USER, anchor, "cart", t).items() if k != "item_id"}
    landing = root / "landing"
    before_lists = lake.read(USER_CROSS_SELL.name).localCheckpoint()
    before_events, before_quarantine = lake.read(EVENTS_CLEAN.name).count(), lake.read(EVENTS_QUARANTINE.name).count()
    land(landing, "01-user.json", as_json(user_events))
    land(landing, "02-new-user.json", as_json(new_user))
    land(landing, "03-malformed.json", [json.dumps(user_events[0]), '{"user_id": "broken", "item_id": '])
    land(landing, "04-empty.json", [])
    land(landing, "05-columns.json", as_json([extra, missing, resent]))

    result = run_stream(spark, config)
    assert result.metrics["batches"] == 2
    return Streamed(
        config=config,
        lake=lake,
        user=user,
        bought_top=bought_top,
        anchor=anchor,
        neighbours=neighbours,
        resent_user=existing["user_id"],
        expected_new_events=5,  # user 2 + new user 2 + the extra-column row
        lines_landed=2 + 2 + 2 + 0 + 3,
        before_lists=before_lists,
        before_events=before_events,
        before_quarantine=before_quarantine,
    )


def test_new_events_merge_once_and_every_landed_row_is_accounted_for(streamed: Streamed):
    lake = streamed.lake
    events = lake.read(EVENTS_CLEAN.name)
    assert events.count() == streamed.before_events + streamed.expected_new_events
    assert events.select("event_id").distinct().count() == events.count()
    audit = lake.read(RECONCILIATION.name).filter(F.col("run_id").startswith("stream-")).collect()
    assert len(audit) == 2 and all(r["balanced"] for r in audit)
    assert sum(r["rows_read"] for r in audit) == streamed.lines_landed
    assert sum(r["rows_clean"] for r in audit) == streamed.expected_new_events
    # the copy of user_events[0] in the malformed file and the re-sent batch event
    assert sum(r["rows_duplicate"] for r in audit) == 2


def test_bad_files_become_quarantine_rows_and_never_stop_the_stream(streamed: Streamed):
    quarantine = streamed.lake.read(EVENTS_QUARANTINE.name).filter(F.col("run_id").startswith("stream-"))
    reasons = {r["reason"]: r["count"] for r in quarantine.groupBy("reason").count().collect()}
    assert reasons == {"malformed_record": 1, "null_key": 1}
    malformed = quarantine.filter("reason = 'malformed_record'").first()
    assert "03-malformed.json" in malformed["detail"] and '"broken"' in malformed["detail"]
    assert streamed.lake.read(EVENTS_QUARANTINE.name).count() == streamed.before_quarantine + 2


def test_a_buyer_sees_the_anchors_complements_and_never_what_they_just_bought(streamed: Streamed):
    """A long-time shopper: the anchor's bought-together items enter their list beside their interests."""
    lists = streamed.lake.read(USER_CROSS_SELL.name)
    mine = lists.filter(F.col("user_id") == streamed.user).orderBy("rank").collect()
    items = [r["item_id"] for r in mine]
    assert streamed.bought_top not in items and streamed.anchor not in items
    # one rewrite by the batch that read their events (files of one trigger go in modification-time order)
    assert len({(r["refreshed_at"], r["refresh_batch"]) for r in mine}) == 1 and mine[0]["refresh_batch"] in (0, 1)
    complements = [r for r in mine if r["anchor_item_id"] == streamed.anchor and r["item_id"] in streamed.neighbours]
    assert complements, [(r["rank"], r["item_id"], r["source"], r["anchor_item_id"]) for r in mine]
    assert all("BOUGHT_TOGETHER" in r["reason_codes"] or "SIMILAR_CONTENT" in r["reason_codes"] for r in complements)


def test_a_user_first_seen_in_the_stream_gets_a_list_from_their_first_events(streamed: Streamed):
    lake = streamed.lake
    new = lake.read(USER_CROSS_SELL.name).filter(F.col("user_id") == NEW_USER).orderBy("rank").collect()
    assert len(new) == streamed.config.crosssell.k
    anchor, neighbours = streamed.anchor, streamed.neighbours
    complements = [r["rank"] for r in new if r["anchor_item_id"] == anchor and r["item_id"] in neighbours]
    assert complements and min(complements) <= 3  # what goes with their first purchase, at the top
    assert streamed.anchor not in {r["item_id"] for r in new}
    interest = lake.read(USER_CATEGORY_INTEREST.name).filter(F.col("user_id") == NEW_USER).collect()
    assert interest and all(r["refresh_batch"] is not None and r["refreshed_at"] is not None for r in interest)
    assert lake.read(USER_FACTORS.name).filter(F.col("user_id") == NEW_USER).count() == 1
    assert lake.read(USER_ID_MAP.name).filter(F.col("user_id") == NEW_USER).count() == 1


def test_untouched_users_keep_their_rows_exactly(streamed: Streamed):
    touched = [streamed.user, NEW_USER, streamed.resent_user]
    after = streamed.lake.read(USER_CROSS_SELL.name).filter(~F.col("user_id").isin(touched))
    before = streamed.before_lists.filter(~F.col("user_id").isin(touched))
    assert after.exceptAll(before).count() == 0 and before.exceptAll(after).count() == 0
    assert after.filter(F.col("refreshed_at").isNotNull()).count() == 0


def test_a_stream_killed_mid_batch_and_restarted_writes_every_event_once(
    spark: SparkSession, sample_pipeline: PipelineRun, tmp_path: Path
):
    copy_lakehouse(sample_pipeline, tmp_path / "lakehouse")
    config = stream_config(tmp_path, "streaming.max_files_per_trigger=1")
    lake = Lakehouse(spark, config.lakehouse)
    items = [r[0] for r in lake.read(ITEMS_CLEAN.name).orderBy("item_id").select("item_id").limit(40).collect()]
    start = lake.read(EVENTS_CLEAN.name).agg(F.max("event_ts")).first()[0] + timedelta(hours=2)
    before = lake.read(EVENTS_CLEAN.name).count()
    files = 3  # batch 0 before the kill, batch 1 killed after its audit commit, batch 2 after the restart
    for f in range(files):
        rows = [
            event(f"kill-user-{f}-{u}", items[(f * 7 + u * 3 + n) % len(items)], "purchase",
                  start + timedelta(minutes=f * 60 + u * 5 + n), f"k{f}-{u}")
            for u in range(5)
            for n in range(4)
        ]  # fmt: skip
        land(tmp_path / "landing", f"{f:02d}.json", as_json(rows))

    overrides = [
        f"lakehouse.root={tmp_path / 'lakehouse'}",
        f"streaming.landing_dir={tmp_path / 'landing'}",
        f"streaming.checkpoint_dir={tmp_path / 'checkpoint'}",
        "streaming.max_files_per_trigger=1",
        "spark.master=local[1]",
        "spark.shuffle_partitions=2",
        "spark.log_level=ERROR",
        "spark.conf={spark.ui.enabled: 'false'}",
    ]
    command = [sys.executable, "-m", "crosssell_spark.cli", "stream", "--available-now"]
    command += [arg for o in overrides for arg in ("--set", o)]
    child_log = tmp_path / "child.log"
    with child_log.open("w") as out:
        env = {**os.environ, **TEST_JVM_ENV}
        child = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    recon_log = tmp_path / "lakehouse" / "reconciliation" / "_delta_log"
    try:
        deadline = time.monotonic() + 600  # generous: the child JVM starts slowly on a loaded machine
        while time.monotonic() < deadline and not _committed_txn(recon_log, 1):
            assert child.poll() is None, "the stream ended before it was killed:\n" + child_log.read_text()[-3000:]
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)  # batch 1 has written its audit row, not yet its events
    finally:
        child.kill()
        child.wait()
    assert _committed_txn(recon_log, 1)
    assert not (tmp_path / "checkpoint" / "commits" / "1").exists(), "batch 1 was not interrupted"

    run_stream(spark, config)

    events = lake.read(EVENTS_CLEAN.name)
    assert events.count() == before + files * 5 * 4
    assert events.select("event_id").distinct().count() == events.count()
    audit = lake.read(RECONCILIATION.name).filter(F.col("run_id").startswith("stream-"))
    assert sorted(r["run_id"] for r in audit.collect()) == [f"stream-crosssell_stream-{b}" for b in range(files)]
    assert audit.agg(F.sum("rows_clean")).first()[0] == files * 5 * 4
    lists = lake.read(USER_CROSS_SELL.name).filter(F.col("user_id").startswith("kill-user-"))
    assert lists.select("user_id").distinct().count() == files * 5
    assert lists.groupBy("user_id", "rank").count().filter("count > 1").count() == 0


def static_batch(spark: SparkSession, *files: Path) -> DataFrame:
    """What the file source hands `foreachBatch` for `files`, read once (to drive the writer directly)."""
    reader = spark.read.schema(STREAM_EVENTS_SCHEMA).option("columnNameOfCorruptRecord", CORRUPT_RECORD)
    rows = reader.json([str(f) for f in files])
    return rows.select(*RAW_EVENT_COLUMNS, CORRUPT_RECORD, F.col("_metadata.file_path").alias(SOURCE_FILE))


def test_the_driver_copies_follow_the_streams_commits_and_are_read_again_after_anyone_elses(
    spark: SparkSession, sample_pipeline: PipelineRun, tmp_path: Path
):
    """Between batches the writer keeps the touched users' published events and every user id on the
    driver: its own commits advance them; another writer's commit (here a DELETE) makes it read again."""
    copy_lakehouse(sample_pipeline, tmp_path / "lakehouse")
    config = stream_config(tmp_path)
    lake = Lakehouse(spark, config.lakehouse)
    user = lake.read(USER_ID_MAP.name).orderBy("user_idx").first()["user_id"]
    item = lake.read(ITEMS_CLEAN.name).orderBy("item_id").first()["item_id"]
    t = lake.read(EVENTS_CLEAN.name).agg(F.max("event_ts")).first()[0] + timedelta(hours=1)
    newcomer = "driver-copy-new-user"
    land(tmp_path / "landing", "00.json", as_json([event(user, item, "purchase", t), event(newcomer, item, "view", t)]))
    batch = static_batch(spark, tmp_path / "landing" / "00.json")
    writer = StreamBatchWriter(spark, config)

    writer(batch, 0)

    assert writer.history.version == lake.latest_version(EVENTS_CLEAN.name)  # moved along with its own MERGE
    assert writer.user_ids.version == lake.latest_version(USER_ID_MAP.name) and newcomer in writer.user_ids.ids
    cached, to_read = writer.history.split([user, newcomer])
    assert to_read == [] and len(cached[cached["event_ts"] == t]) == 2  # both new events, without a read

    streamed = (F.col("user_id") == user) & (F.col("event_ts") == t)
    DeltaTable.forPath(spark, lake.path(EVENTS_CLEAN.name)).delete(streamed)  # another writer's commit
    writer(batch, 1)  # the same file again: the deleted event is new again, the other a duplicate

    assert lake.read(EVENTS_CLEAN.name).filter(streamed).count() == 1
    audit = lake.read(RECONCILIATION.name).filter(F.col("run_id") == "stream-crosssell_stream-1").first()
    assert (audit["rows_read"], audit["rows_clean"], audit["rows_duplicate"]) == (2, 1, 1)
    assert writer.history.version == lake.latest_version(EVENTS_CLEAN.name)


def test_a_capped_history_folds_in_the_newest_events_and_still_catches_an_old_replay(
    spark: SparkSession, sample_pipeline: PipelineRun, tmp_path: Path
):
    """With `history_events_per_user` 3 a shopper is folded in from their newest 3 events plus their
    purchases, and the driver keeps no more; a file replaying an older event than those is checked
    against the whole published history: a duplicate, not a new event."""
    copy_lakehouse(sample_pipeline, tmp_path / "lakehouse")
    config = stream_config(tmp_path, "streaming.history_events_per_user=3")
    lake = Lakehouse(spark, config.lakehouse)
    published = lake.read(EVENTS_CLEAN.name)
    browsing = (
        published.where(F.col("event_type") != "purchase")
        .groupBy("user_id")
        .agg(F.countDistinct("item_id").alias("items"))
    )
    user = browsing.where("items >= 8").orderBy("user_id").first()["user_id"]
    history = published.where(F.col("user_id") == user).toPandas()
    item = history["item_id"].iloc[0]
    t = history["event_ts"].max() + timedelta(hours=1)
    land(tmp_path / "landing", "00.json", as_json([event(user, item, "view", t)]))
    writer = StreamBatchWriter(spark, config)

    writer(static_batch(spark, tmp_path / "landing" / "00.json"), 0)

    everything = lake.read(EVENTS_CLEAN.name).where(F.col("user_id") == user).toPandas()
    kept, dropped = recent_history(everything, 3)
    assert 0 < kept["item_id"].nunique() < everything["item_id"].nunique() and user in dropped
    folded = lake.read(USER_FACTORS.name).where(F.col("user_id") == user).first()
    assert folded["history_items"] == kept["item_id"].nunique()  # the refresh folded in the newest only
    cached, to_read = writer.history.split([user])
    assert to_read == [] and sorted(cached["event_id"]) == sorted(kept["event_id"])  # the copy holds no more
    assert writer.history.horizon[user] == dropped[user]

    oldest = everything[everything["event_type"] != "purchase"].sort_values("event_ts").iloc[0]
    replay = event(user, oldest["item_id"], oldest["event_type"], oldest["event_ts"], oldest["session_id"])
    later = event(user, item, "cart", t + timedelta(minutes=1))
    land(tmp_path / "landing", "01.json", as_json([replay, later]))
    writer(static_batch(spark, tmp_path / "landing" / "01.json"), 1)

    audit = lake.read(RECONCILIATION.name).filter(F.col("run_id") == "stream-crosssell_stream-1").first()
    assert (audit["rows_read"], audit["rows_clean"], audit["rows_duplicate"]) == (2, 1, 1)
    assert lake.read(EVENTS_CLEAN.name).where(F.col("event_id") == oldest["event_id"]).count() == 1


def _committed_txn(delta_log: Path, version: int) -> bool:
    """A commit of this table carries the stream's txn for batch `version`."""
    for commit in sorted(delta_log.glob("*.json")) if delta_log.exists() else []:
        for line in commit.read_text().splitlines():
            txn = json.loads(line).get("txn")
            if txn and txn.get("version") == version:
                return True
    return False


PARITY_VARIANTS = {
    "defaults": (),
    "other rules": (
        "crosssell.balance_strength=0.5",
        "crosssell.user.category_rule=new",
        "crosssell.rules.evidence_first=false",
        "crosssell.rules.exclude_owned_days=null",
        "crosssell.rules.max_price_ratio=3.0",  # the price and category caps are off by default
        "crosssell.rules.per_category_cap=5",
        "crosssell.rules.in_stock_only=false",
        "interest.categories_per_user=6",
    ),
}


def _ordered(df: DataFrame, spec: TableSpec, keys: list[str]) -> pd.DataFrame:
    local = conform(df, spec.schema).toPandas().sort_values(keys).reset_index(drop=True)
    arrays = [f.name for f in spec.schema.fields if f.dataType.typeName() == "array"]
    return local.assign(**{name: local[name].map(tuple) for name in arrays})


@dataclass
class ParityInputs:
    context: RefreshContext
    user_events: pd.DataFrame
    ids: pd.DataFrame


@pytest.fixture(scope="module")
def parity_inputs(spark: SparkSession, sample_pipeline: PipelineRun) -> Iterator[ParityInputs]:
    """80 users of the sample lakehouse (60 of them buyers) and one refresh context for every variant."""
    lake = sample_pipeline.lake
    context = RefreshContext.load(spark, make_test_config(Path(lake.root)), lake)
    buyers = lake.read(EVENTS_CLEAN.name).filter("event_type = 'purchase'").select("user_id").distinct()
    users = buyers.orderBy(F.xxhash64("user_id")).limit(60).unionByName(
        lake.read(USER_ID_MAP.name).select("user_id").orderBy(F.xxhash64("user_id")).limit(20)
    ).distinct().localCheckpoint()  # fmt: skip
    user_events = lake.read(EVENTS_CLEAN.name).join(users, "user_id").toPandas()
    ids = lake.read(USER_ID_MAP.name).join(users, "user_id").select("user_id", "user_idx").toPandas()
    yield ParityInputs(context, user_events, ids)
    context.release()


@pytest.mark.parametrize("variant", sorted(PARITY_VARIANTS))
def test_the_driver_engine_builds_the_rows_the_spark_builders_build(
    spark: SparkSession, sample_pipeline: PipelineRun, parity_inputs: ParityInputs, variant: str
):
    """refresh_engine driver (pandas) and spark (the batch stage's builders): same users, same rows."""
    config = make_test_config(Path(sample_pipeline.lake.root), *PARITY_VARIANTS[variant])
    context, user_events, ids = parity_inputs.context, parity_inputs.user_events, parity_inputs.ids
    built = {}
    for engine, engine_context in (("driver", context), ("spark", dataclasses.replace(context, tables=None))):
        rows = refresh_users(spark, config, engine_context, user_events, ids, "parity", 7, datetime(2026, 1, 1))
        built[engine] = (
            _ordered(rows.user_lists, USER_CROSS_SELL, ["user_id", "rank"]),
            _ordered(rows.interest, USER_CATEGORY_INTEREST, ["user_id", "interest_rank"]),
        )
    for driver, batch in zip(built["driver"], built["spark"], strict=True):
        assert len(driver) > 0
        pd.testing.assert_frame_equal(driver, batch, check_exact=False, rtol=1e-9, atol=1e-12)
    lists = built["driver"][0]
    assert {"basket", "interest"} <= set(lists["source"]), "the users' lists hold bought-together and interest picks"
