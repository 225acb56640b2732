"""Daily runs: `crosssell clean --run-date D` on a day-partitioned sample world, day 1, day 2, day 2 again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crosssell_spark.cleaning.incremental import OUTSIDE_RUN_DATE
from crosssell_spark.config import AppConfig
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.pipeline import run_stage
from crosssell_spark.run import Run, StageResult
from crosssell_spark.schemas import RAW_EVENT_COLUMNS
from crosssell_spark.sources import day_partition
from crosssell_spark.sources.sample_world import SampleWorldSpec, generate
from crosssell_spark.tables import EVENTS_CLEAN, EVENTS_QUARANTINE, ITEMS_CLEAN, RECONCILIATION
from tests.conftest import make_test_config

EVENTS = 10_000  # the smallest sample world: ~170 events a day over 60 days
PLANTED_FILE = "part-planted.parquet"
USER, ITEM, OTHER_ITEM = "U0000015", "P000744", "P000095"


def _raw_rows(rows: list[dict[str, str]]) -> pa.Table:
    return pa.table(
        {c: [r.get(c) for r in rows] for c in RAW_EVENT_COLUMNS},
        schema=pa.schema([(c, pa.string()) for c in RAW_EVENT_COLUMNS]),
    )


def _event(ts: datetime, item: str = ITEM, event_type: str = "view") -> dict[str, str]:
    return {
        "user_id": USER,
        "item_id": item,
        "event_type": event_type,
        "event_ts": f"{ts:%Y-%m-%d %H:%M:%S}",
        "session_id": "S0000015-9999",
        "quantity": "1",
        "price": "23.14",
    }


@dataclass(frozen=True)
class Daily:
    config: AppConfig
    lake: Lakehouse
    day1: date
    day2: date
    results: list[StageResult]
    snapshots: list[dict[str, DataFrame]]  # events_clean / events_quarantine / day-1 files after each run
    replayed_event_id: str
    world: Path


def _snapshot(spark: SparkSession, lake: Lakehouse, day1: date) -> dict[str, DataFrame]:
    clean = lake.read(EVENTS_CLEAN.name)
    files = clean.where(F.col("event_date") == F.lit(day1)).select(F.input_file_name().alias("file")).distinct()
    return {
        "clean": spark.createDataFrame(clean.collect(), clean.schema),
        "quarantine": spark.createDataFrame(
            lake.read(EVENTS_QUARANTINE.name).drop("run_id").collect(),
            lake.read(EVENTS_QUARANTINE.name).drop("run_id").schema,
        ),
        "day1_files": spark.createDataFrame(files.collect(), files.schema),
    }


@pytest.fixture(scope="module")
def daily(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Daily:
    root = tmp_path_factory.mktemp("incremental")
    world = root / "world"
    config = make_test_config(
        root / "lakehouse", f"sample.path={world}", f"sample.events={EVENTS}", "sample.by_day=true"
    )
    generate(world, SampleWorldSpec(events=EVENTS, seed=config.sample.seed, by_day=True))
    days = sorted(date.fromisoformat(p.name.split("=")[1]) for p in (world / "events").iterdir())
    day1, day2 = days[10], days[11]
    assert day2 == day1 + timedelta(days=1)
    midnight = datetime.combine(day2, datetime.min.time())
    # day 1 ends with a view one second before midnight; day 2 repeats it one second after
    pq.write_table(
        _raw_rows([_event(midnight - timedelta(seconds=1))]),
        Path(day_partition(str(world / "events"), day1)) / PLANTED_FILE,
    )
    lake = Lakehouse(spark, config.lakehouse)

    results, snapshots = [], []
    results.append(run_stage("clean", spark, config, Run.start(day1)))
    snapshots.append(_snapshot(spark, lake, day1))

    # day 2 also receives a replay of a published day-1 event and a late day-1 event never seen before
    replay = lake.read(EVENTS_CLEAN.name).where(F.col("session_id") != "S0000015-9999").orderBy("event_id").first()
    assert replay is not None
    replay_raw = {
        "user_id": replay["user_id"],
        "item_id": replay["item_id"],
        "event_type": replay["event_type"],
        "event_ts": f"{replay['event_ts']:%Y-%m-%d %H:%M:%S}",
        "session_id": replay["session_id"],
        "quantity": str(replay["quantity"]),
        "price": None if replay["price"] is None else f"{replay['price']:.2f}",
    }
    late = _event(midnight - timedelta(hours=12), item=OTHER_ITEM, event_type="cart")
    planted = _raw_rows([_event(midnight), replay_raw, late])
    pq.write_table(planted, Path(day_partition(str(world / "events"), day2)) / PLANTED_FILE)

    for _ in range(2):
        results.append(run_stage("clean", spark, config, Run.start(day2)))
        snapshots.append(_snapshot(spark, lake, day1))
    return Daily(config, lake, day1, day2, results, snapshots, replay["event_id"], world)


def _raw_count(world: Path, day: date) -> int:
    folder = Path(day_partition(str(world / "events"), day))
    return sum(pq.read_metadata(f).num_rows for f in folder.glob("*.parquet"))


def test_each_run_reads_only_its_day_and_reconciles(daily: Daily) -> None:
    rows = daily.lake.read(RECONCILIATION.name).where(F.col("input_name") == "events").orderBy("recorded_at").collect()
    assert [r["run_date"] for r in rows] == [daily.day1, daily.day2, daily.day2]
    assert all(r["balanced"] for r in rows)
    assert rows[0]["rows_read"] == _raw_count(daily.world, daily.day1)
    assert rows[1]["rows_read"] == rows[2]["rows_read"] == _raw_count(daily.world, daily.day2)
    # the rerun sees the same day and makes the same decisions
    figures = ("rows_read", "rows_clean", "rows_quarantined", "rows_duplicate")
    assert [rows[1][f] for f in figures] == [rows[2][f] for f in figures]


def test_later_days_reuse_the_published_catalogue(daily: Daily) -> None:
    first, *later = daily.results
    assert {"items_clean", "categories", "items_quarantine"} <= set(first.published)  # nothing to reuse yet
    for result in later:
        assert set(result.published) == {"events_clean", "events_quarantine", "reconciliation"}
    assert daily.lake.latest_version(ITEMS_CLEAN.name) == first.published["items_clean"]


def test_day_two_adds_its_events_without_duplicates(daily: Daily) -> None:
    after_day1, after_day2 = daily.snapshots[0]["clean"], daily.snapshots[1]["clean"]
    assert {r["event_date"] for r in after_day1.select("event_date").distinct().collect()} == {daily.day1}
    assert {r["event_date"] for r in after_day2.select("event_date").distinct().collect()} == {daily.day1, daily.day2}
    assert after_day2.count() == after_day2.select("event_id").distinct().count()
    day2 = daily.lake.read(RECONCILIATION.name).where(
        (F.col("run_date") == F.lit(daily.day2)) & (F.col("input_name") == "events")
    )
    assert after_day2.where(F.col("event_date") == F.lit(daily.day2)).count() == day2.first()["rows_clean"] > 50
    # day 1's rows are exactly what day 1 published
    assert after_day2.where(F.col("event_date") == F.lit(daily.day1)).exceptAll(after_day1).isEmpty()
    assert after_day1.exceptAll(after_day2).isEmpty()


def test_repeats_of_published_events_are_dropped_across_days(daily: Daily) -> None:
    clean = daily.snapshots[1]["clean"]
    # the midnight pair: only day 1's view survives
    pair = clean.where(
        (F.col("user_id") == USER) & (F.col("item_id") == ITEM) & (F.col("session_id") == "S0000015-9999")
    )
    assert [r["event_date"] for r in pair.collect()] == [daily.day1]
    # the replayed day-1 event is still there once
    assert clean.where(F.col("event_id") == daily.replayed_event_id).count() == 1
    # both repeats are counted as duplicates, so the run still balances
    day2 = (
        daily.lake.read(RECONCILIATION.name)
        .where(F.col("run_date") == F.lit(daily.day2))
        .where(F.col("input_name") == "events")
        .first()
    )
    assert day2 is not None and day2["rows_duplicate"] >= 2


def test_late_events_are_quarantined_with_their_run_date(daily: Daily) -> None:
    quarantine = daily.snapshots[1]["quarantine"]
    late = quarantine.where(F.col("reason") == OUTSIDE_RUN_DATE).collect()
    assert len(late) == 1
    assert late[0]["item_id"] == OTHER_ITEM and late[0]["run_date"] == daily.day2
    assert late[0]["detail"] == f"event_date={daily.day1} in the run of {daily.day2}"
    run_dates = {r["run_date"] for r in quarantine.select("run_date").distinct().collect()}
    assert run_dates <= {daily.day1, daily.day2}


def test_rerunning_a_day_changes_nothing_and_leaves_other_days_untouched(daily: Daily) -> None:
    first, again = daily.snapshots[1], daily.snapshots[2]
    for table in ("clean", "quarantine"):
        assert first[table].exceptAll(again[table]).isEmpty() and again[table].exceptAll(first[table]).isEmpty()
    # day 1's data files were never rewritten by either day-2 run
    day1_files = [{r["file"] for r in snapshot["day1_files"].collect()} for snapshot in daily.snapshots]
    assert day1_files[0] == day1_files[1] == day1_files[2]
    # the last commit replaced only day 2's partition
    last = daily.lake.history(EVENTS_CLEAN.name, 1).first()
    assert last is not None
    assert last["operationParameters"]["predicate"] == f"event_date = DATE'{daily.day2}'"
    assert int(last["operationMetrics"]["numRemovedFiles"]) >= 1
