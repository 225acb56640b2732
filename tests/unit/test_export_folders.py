"""Serving export folders: one whole folder per run behind LATEST, pruned to the newest few, and
scrubbed of forgotten users in every folder kept."""

from __future__ import annotations

import json
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crosssell_spark.export_folders import LATEST, MANIFEST, Exports


def lists(spark: SparkSession, *users: str) -> DataFrame:
    return spark.createDataFrame([(u, [f"item-of-{u}"]) for u in users], "user_id string, items array<string>")


def keys(path: str) -> set[str]:
    lines = [line for part in Path(path).glob("part-*.json") for line in part.read_text().splitlines()]
    return {json.loads(line)["user_id"] for line in lines}


def test_each_run_is_a_whole_folder_with_its_manifest_and_latest_names_the_newest(spark: SparkSession, tmp_path: Path):
    exports = Exports(spark, str(tmp_path))
    assert exports.latest() is None and exports.runs() == []

    first = exports.write("20260101T000000-aaaa", {"user_cross_sell": lists(spark, "u1", "u2")}, {"made_by": "test"})
    second = exports.write("20260102T000000-bbbb", {"user_cross_sell": lists(spark, "u3")}, {"made_by": "test"})

    assert (tmp_path / "_exports" / LATEST).read_text() == second.run_id == exports.latest()
    assert exports.runs() == [first.run_id, second.run_id]
    assert keys(first.tables["user_cross_sell"]) == {"u1", "u2"} and keys(second.tables["user_cross_sell"]) == {"u3"}
    manifest = json.loads((Path(second.folder) / MANIFEST).read_text())
    assert manifest == exports.manifest(second.run_id)
    assert manifest["run_id"] == second.run_id and manifest["made_by"] == "test"
    assert manifest["tables"]["user_cross_sell"]["keys"] == 1
    assert not list((tmp_path / "_exports").glob("*.tmp"))  # the pointer's temporary file was renamed


def test_a_folder_without_its_manifest_is_not_a_run(spark: SparkSession, tmp_path: Path):
    exports = Exports(spark, str(tmp_path))
    done = exports.write("20260101T000000-aaaa", {"user_cross_sell": lists(spark, "u1")}, {})
    lists(spark, "u2").write.json(exports.folder("20260102T000000-dead") + "/user_cross_sell")  # a writer died here
    assert exports.runs() == [done.run_id] and exports.latest() == done.run_id


def test_prune_keeps_the_newest_folders_and_never_the_one_latest_names(spark: SparkSession, tmp_path: Path):
    exports = Exports(spark, str(tmp_path))
    runs = [f"2026010{d}T000000-run{d}" for d in range(1, 5)]
    for run_id in runs:
        exports.write(run_id, {"user_cross_sell": lists(spark, "u1")}, {})
    assert exports.prune(2) == runs[:2] and exports.runs() == runs[2:]
    assert exports.prune(2) == [] and exports.latest() == runs[-1]


def test_scrub_removes_the_users_lists_from_every_folder_kept(spark: SparkSession, tmp_path: Path):
    exports = Exports(spark, str(tmp_path))
    old = exports.write("20260101T000000-aaaa", {"user_cross_sell": lists(spark, "u1", "u2")}, {})
    new = exports.write("20260102T000000-bbbb", {"user_cross_sell": lists(spark, "u2", "u3")}, {})

    removed = exports.scrub("user_cross_sell", F.col("user_id").isin("u2"))

    assert removed == {old.run_id: 1, new.run_id: 1}
    assert keys(old.tables["user_cross_sell"]) == {"u1"} and keys(new.tables["user_cross_sell"]) == {"u3"}
    assert exports.scrub("user_cross_sell", F.col("user_id").isin("u2")) == {old.run_id: 0, new.run_id: 0}
    assert exports.latest() == new.run_id and json.loads((Path(new.folder) / MANIFEST).read_text())["run_id"]
