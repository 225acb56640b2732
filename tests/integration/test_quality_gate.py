"""The quality gate catches planted defects, records them, blocks publishing; rollback restores."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from crosssell_spark import cli
from crosssell_spark.config import AppConfig
from crosssell_spark.lakehouse import Lakehouse
from crosssell_spark.quality.gate import QualityGate
from crosssell_spark.run import Run, StageFailedError
from crosssell_spark.schemas import CATEGORIES_SCHEMA, EVENTS_CLEAN_SCHEMA, ITEMS_CLEAN_SCHEMA
from crosssell_spark.tables import CATEGORIES, DQ_RESULTS, EVENTS_CLEAN, ITEM_CROSS_SELL, ITEMS_CLEAN

pytestmark = pytest.mark.integration
TS = datetime(2026, 10, 30, 12, 0, 0)
PHONE_IDS = ["electronics", "electronics/phones"]


def items(spark: SparkSession, *rows: tuple) -> DataFrame:
    base = [
        ("P1", "Galaxy S23", None, "samsung", ["Electronics", "Phones"], PHONE_IDS, PHONE_IDS[-1], 2, 799.0, True),
        ("P2", "S23 Case", None, "spigen", ["Electronics", "Cases"], ["electronics", "electronics/cases"],
         "electronics/cases", 2, 9.99, True),
    ]  # fmt: skip
    return spark.createDataFrame(base + list(rows), ITEMS_CLEAN_SCHEMA)


def categories(spark: SparkSession) -> DataFrame:
    rows = [
        ("electronics", "Electronics", 1, None, "Electronics", False),
        ("electronics/phones", "Phones", 2, "electronics", "Electronics > Phones", True),
        ("electronics/cases", "Cases", 2, "electronics", "Electronics > Cases", True),
    ]
    return spark.createDataFrame(rows, CATEGORIES_SCHEMA)


def events(spark: SparkSession, *rows: tuple) -> DataFrame:
    base = [
        ("e1", "U1", "P1", "view", TS, "s1", 1, 799.0, TS.date()),
        ("e2", "U1", "P2", "cart", TS, "s1", 1, 9.99, TS.date()),
    ]
    return spark.createDataFrame(base + list(rows), EVENTS_CLEAN_SCHEMA)


@pytest.fixture
def setup(spark, config_factory) -> tuple[AppConfig, Lakehouse]:
    config = config_factory()
    return config, Lakehouse(spark, config.lakehouse)


def audit(spark, config, lake, **staged: DataFrame):
    return QualityGate(spark, config, lake, Run.start()).audit(staged)


def test_clean_tables_pass_and_results_are_recorded(spark, setup):
    config, lake = setup
    outcomes = audit(
        spark, config, lake, items_clean=items(spark), categories=categories(spark), events_clean=events(spark)
    )
    assert outcomes and all(o.success for o in outcomes if o.severity == "critical")
    rows = lake.read(DQ_RESULTS.name).collect()
    assert len(rows) == len(outcomes)
    assert sum(r["table_name"] == "events_clean" for r in rows) > 5
    # the screening run still records what dq_results keeps: counts of column checks, observed values
    assert all(r["unexpected_count"] == 0 for r in rows if r["expectation"].startswith("expect_column_values_"))
    freshest = next(r for r in rows if r["expectation"] == "expect_column_max_to_be_between")
    assert freshest["observed_value"] is not None and "2026-10-30" in freshest["observed_value"]


def test_data_docs_render_each_audit_incrementally(spark, setup):
    config, lake = setup
    gate = QualityGate(spark, config, lake, Run.start())
    gate.audit({"items_clean": items(spark), "categories": categories(spark)})
    site = Path(gate.data_docs_index.removeprefix("file://")).parent
    first = set((site / "validations").rglob("*.html"))
    QualityGate(spark, config, lake, Run.start()).audit({"items_clean": items(spark), "categories": categories(spark)})
    pages = set((site / "validations").rglob("*.html"))
    assert len(first) == 2 and len(pages) == 4  # one page per table and audit; earlier pages kept
    index = (site / "index.html").read_text()
    assert all(page.name in index for page in pages)  # the index lists every audit


@pytest.mark.parametrize(
    ("defect", "expected", "example"),
    [
        ("duplicate_key", "expect_column_values_to_be_unique(event_id)", '"e1"'),
        ("out_of_range", "expect_column_values_to_be_between(quantity)", "0"),
        ("unknown_item", "every event's item is in items_clean", '"P404"'),
        ("unknown_type", "expect_column_values_to_be_in_set(event_type)", '"teleport"'),
        ("null_key", "expect_column_values_to_not_be_null(user_id)", "null"),
        ("schema", "expect_table_columns_to_match_ordered_list", None),
    ],
)
def test_each_kind_of_expectation_catches_its_planted_defect(spark, setup, defect, expected, example):
    config, lake = setup
    good = events(spark)
    bad = {
        "duplicate_key": lambda: events(spark, ("e1", "U2", "P2", "view", TS, "s2", 1, 9.99, TS.date())),
        "out_of_range": lambda: good.withColumn("quantity", F.lit(0)),
        "unknown_item": lambda: events(spark, ("e3", "U2", "P404", "view", TS, "s2", 1, 1.0, TS.date())),
        "unknown_type": lambda: good.withColumn("event_type", F.lit("teleport")),
        "null_key": lambda: good.withColumn(
            "user_id", F.when(F.col("event_id") == "e1", None).otherwise(F.col("user_id"))
        ),
        "schema": lambda: good.select(*reversed(good.columns)),
    }[defect]()
    with pytest.raises(StageFailedError, match="quality gate failed") as failure:
        audit(spark, config, lake, items_clean=items(spark), categories=categories(spark), events_clean=bad)
    assert expected in str(failure.value)
    failed = lake.read(DQ_RESULTS.name).filter(~F.col("success")).collect()
    assert failed and all(r["table_name"] == "events_clean" for r in failed)
    if example is not None:  # the failure is reported with its count and example rows or values
        row = next(r for r in failed if r["expectation"] != "expect_table_row_count_to_be_between")
        assert (row["unexpected_count"] or int(row["observed_value"] or 0)) >= 1
        assert row["sample"] is not None and example in row["sample"], row["sample"]


def cross_sell(spark: SparkSession, *ranked_items: tuple[int, str]) -> DataFrame:
    """item_cross_sell rows of anchor P1 (a phone): (rank, item_id) each, cases only."""
    rows = [
        ("P1", rank, item, 0.5, PHONE_IDS[-1], "electronics/cases", "neighbour", ["BOUGHT_TOGETHER"],
         "bought together with Galaxy S23 by 9 shoppers", 9, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0, "run-1")
        for rank, item in ranked_items
    ]  # fmt: skip
    return spark.createDataFrame(rows, ITEM_CROSS_SELL.schema)


@pytest.mark.parametrize(
    ("ranked_items", "expected"),
    [
        ([(1, "P2"), (2, "P2")], "one row per (anchor_item_id, item_id)"),
        ([(1, "P2"), (1, "P3")], "one row per (anchor_item_id, rank)"),
    ],
)
def test_a_list_with_a_repeated_item_or_rank_is_not_published(spark, setup, ranked_items, expected):
    config, lake = setup
    case = ("P3", "Clear Case", None, "spigen", ["Electronics", "Cases"], ["electronics", "electronics/cases"],
            "electronics/cases", 2, 7.99, True)  # fmt: skip
    staged = {"items_clean": items(spark, case), "categories": categories(spark)}
    outcomes = audit(spark, config, lake, **staged, item_cross_sell=cross_sell(spark, (1, "P2"), (2, "P3")))
    assert all(o.success for o in outcomes if o.severity == "critical")  # the sound list passes
    with pytest.raises(StageFailedError, match="quality gate failed") as failure:
        audit(spark, config, lake, **staged, item_cross_sell=cross_sell(spark, *ranked_items))
    assert expected in str(failure.value)


def test_row_count_drop_is_a_warning_by_default_and_can_block(spark, setup, config_factory):
    config, lake = setup
    staged = items(spark, *[(f"P{i}", f"Item {i}", None, None, ["Electronics", "Phones"], PHONE_IDS, PHONE_IDS[-1],
                             2, 1.0, True) for i in range(3, 11)])  # fmt: skip
    lake.publish(ITEMS_CLEAN, staged)  # 10 published rows; now stage only 2
    outcomes = audit(spark, config, lake, items_clean=items(spark), categories=categories(spark))
    (row_count,) = [o for o in outcomes if o.expectation == "expect_table_row_count_to_be_between"]
    assert (row_count.success, row_count.severity) == (False, "warning")
    strict = config_factory("quality.row_count_severity=critical")
    with pytest.raises(StageFailedError, match="row count within"):
        audit(spark, strict, lake, items_clean=items(spark), categories=categories(spark))


def test_rollback_restores_a_previous_version(spark, setup, capsys):
    _, lake = setup
    lake.publish(CATEGORIES, categories(spark))
    lake.publish(EVENTS_CLEAN, events(spark))
    first = lake.latest_version(EVENTS_CLEAN.name)
    lake.publish(EVENTS_CLEAN, events(spark, ("e3", "U2", "P1", "view", TS, "s2", 1, 1.0, TS.date())))
    assert lake.read(EVENTS_CLEAN.name).count() == 3
    args = ["--set", f"lakehouse.root={lake.root}", "--set", "spark.master=local[2]"]
    assert cli.main(["rollback", "--table", "events_clean", "--version", str(first), *args]) == 0
    assert lake.read(EVENTS_CLEAN.name).count() == 2 and lake.latest_version(EVENTS_CLEAN.name) == first + 2
    assert "restored version" in capsys.readouterr().out
    assert cli.main(["rollback", "--table", "events_clean", "--version", "99", *args]) == cli.EXIT_CONFIG_ERROR
