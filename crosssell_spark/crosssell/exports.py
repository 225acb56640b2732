"""Serving exports of the published lists: one JSON object per list key, for a web service to load."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from crosssell_spark.export_folders import Exports, ExportSet
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.schemas import ANCHOR_ITEM_ID, ITEM_ID, RANK, REASON, REASON_CODES, SCORE, USER_ID
from crosssell_spark.tables import ITEM_CROSS_SELL, USER_CROSS_SELL

SERVED_COLUMNS = (RANK, ITEM_ID, SCORE, REASON, REASON_CODES)
EXPORTED = ((ITEM_CROSS_SELL.name, ANCHOR_ITEM_ID), (USER_CROSS_SELL.name, USER_ID))  # table, list key


def serving_export(lists: DataFrame, key: str) -> DataFrame:
    """One row per key with its ranked items (rank, item_id, score, reason, reason_codes)."""
    ordered = F.array_sort(F.collect_list(F.struct(*SERVED_COLUMNS)))
    return lists.groupBy(key).agg(ordered.alias("items"))


def manifest(lake: Lakehouse, made_by: str) -> dict[str, Any]:
    """What an export folder was built from: every stage's latest complete set (run id and table
    versions: the ALS model is train-interest's, the ranker train-ranker's)."""
    sets = {s.stage: {"run_id": s.run_id, "versions": s.versions} for s in lake.latest_sets() if s.complete}
    lists = {name: lake.read_version(name) for name, _ in EXPORTED}
    return {"created_at": datetime.now(UTC).isoformat(), "made_by": made_by, "list_versions": lists, "sets": sets}


def export_lists(lake: Lakehouse, run_id: str, made_by: str) -> ExportSet:
    """Both published lists as one export folder for `run_id`, then LATEST points at it."""
    frames = {name: serving_export(lake.read(name), key) for name, key in EXPORTED}
    return Exports(lake.spark, lake.root).write(run_id, frames, manifest(lake, made_by))
