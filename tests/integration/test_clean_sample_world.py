"""Cleaning the built-in sample world: every planted defect lands where it should, and nothing is lost."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from crosssell_spark.cleaning.catalogue import ItemReason
from crosssell_spark.cleaning.events import EventReason
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.run import StageResult
from crosssell_spark.tables import (
    CATEGORIES,
    DQ_RESULTS,
    EVENTS_CLEAN,
    EVENTS_QUARANTINE,
    ITEMS_CLEAN,
    ITEMS_QUARANTINE,
    RECONCILIATION,
)
from tests.conftest import PIPELINE_SAMPLE_EVENTS, PipelineRun

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cleaned(sample_pipeline: PipelineRun) -> tuple[Lakehouse, dict, StageResult]:
    """The clean stage of the shared pipeline run (its tables are only read here)."""
    dirt = json.loads((sample_pipeline.world / "truth" / "dirt.json").read_text())
    return sample_pipeline.lake, dirt, sample_pipeline.results["clean"]


def test_every_planted_event_defect_is_quarantined_with_its_reason(cleaned):
    lake, dirt, _ = cleaned
    planted = dirt["events"]
    expected = {
        EventReason.NULL_KEY: planted["null_user_id"] + planted["null_item_id"],
        EventReason.BAD_TIMESTAMP: planted["bad_timestamp"],
        EventReason.OUT_OF_RANGE_TIMESTAMP: planted["out_of_range_timestamp"],
        EventReason.UNKNOWN_EVENT_TYPE: planted["unknown_event_type"],
        EventReason.BAD_QUANTITY: planted["bad_quantity"],
        EventReason.BAD_PRICE: planted["negative_price"] + planted["absurd_price"],
        EventReason.UNKNOWN_ITEM: planted["unknown_item"],
        EventReason.BOT_USER: planted["bot_user"],
    }
    got = {r["reason"]: r["count"] for r in lake.read(EVENTS_QUARANTINE.name).groupBy("reason").count().collect()}
    assert got == expected
    assert lake.read(EVENTS_CLEAN.name).count() == dirt["events_expected_clean"]
    assert lake.read(EVENTS_CLEAN.name).filter(F.col("user_id").isin(dirt["bot_user_ids"])).count() == 0


def test_every_planted_catalogue_defect_is_handled(cleaned):
    lake, dirt, _ = cleaned
    planted = dirt["catalogue"]
    got = {r["reason"]: r["count"] for r in lake.read(ITEMS_QUARANTINE.name).groupBy("reason").count().collect()}
    assert got == {
        ItemReason.NULL_KEY: planted["null_item_id"],
        ItemReason.MISSING_TITLE: planted["missing_title"],
        ItemReason.BAD_PRICE: planted["bad_item_price"],
    }
    items = {r["item_id"]: r for r in lake.read(ITEMS_CLEAN.name).collect()}
    assert len(items) == dirt["items_expected_clean"]
    for item_id, true_path in dirt["multi_category_true_paths"].items():
        assert " > ".join(items[item_id]["category_names"]) == true_path
    for item_id in dirt["messy_text_item_ids"]:
        title, brand = items[item_id]["title"], items[item_id]["brand"]
        assert title == unicodedata.normalize("NFKC", title) == " ".join(title.split())
        assert brand is None or brand == brand.strip().lower()


def test_reconciliation_accounts_for_every_row(cleaned):
    lake, dirt, result = cleaned
    recon = {r["input_name"]: r for r in lake.read(RECONCILIATION.name).collect()}
    events, items = recon["events"], recon["items"]
    duplicates = dirt["events"]["exact_duplicates"] + dirt["events"]["near_duplicates"]
    assert (events.rows_read, events.rows_duplicate, events.balanced) == (PIPELINE_SAMPLE_EVENTS, duplicates, True)
    assert events.rows_read == events.rows_clean + events.rows_quarantined + events.rows_duplicate
    catalogue_duplicates = dirt["catalogue"]["duplicate_item_rows"] + dirt["catalogue"]["multi_category_items"]
    assert (items.rows_read, items.rows_duplicate, items.balanced) == (
        dirt["item_rows_written"],
        catalogue_duplicates,
        True,
    )
    assert set(result.published) >= {"events_clean", "items_clean", "categories", "events_quarantine"}


def test_categories_form_a_tree_of_three_levels(cleaned):
    lake, _, _ = cleaned
    categories = lake.read(CATEGORIES.name)
    levels = {r["level"]: r["count"] for r in categories.groupBy("level").count().collect()}
    assert set(levels) == {1, 2, 3} and categories.filter("is_leaf").count() >= 30
    orphans = (
        categories.alias("c")
        .join(categories.alias("p"), F.col("c.parent_id") == F.col("p.category_id"), "left_anti")
        .filter(F.col("c.parent_id").isNotNull())
    )
    assert orphans.count() == 0


def test_quality_results_are_recorded_and_data_docs_written(cleaned):
    lake, _, result = cleaned
    results = lake.read(DQ_RESULTS.name)
    assert results.filter(~F.col("success") & (F.col("severity") == "critical")).count() == 0
    assert {r["table_name"] for r in results.select("table_name").distinct().collect()} >= {
        "events_clean",
        "items_clean",
    }
    assert Path(result.metrics["data_docs"].removeprefix("file://")).exists()


def test_explore_notebook_runs_against_the_cleaned_lakehouse(spark, cleaned, tmp_path):
    from crosssell_spark.notebooks import run_notebook
    from tests.conftest import PROJECT_ROOT

    lake, _, _ = cleaned
    notebook = PROJECT_ROOT / "notebooks" / "01_explore_clean_inputs.py"
    namespace = run_notebook(notebook, spark, {"lakehouse_root": lake.root, "plot_dir": str(tmp_path)})
    assert (tmp_path / "events_per_day.png").stat().st_size > 1000
    assert (tmp_path / "items_per_department.png").stat().st_size > 1000
    assert namespace["quarantine_reasons"].count() >= 8  # every planted defect kind shows up
