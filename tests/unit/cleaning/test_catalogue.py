"""Catalogue cleaning rules, text normalisation and the category hierarchy on in-line rows."""

from __future__ import annotations

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession

from crosssell_spark.cleaning.catalogue import (
    ItemReason,
    build_categories,
    classify_items,
    clean_items,
)
from crosssell_spark.config import CleaningConfig
from crosssell_spark.hierarchy import category_at_level
from crosssell_spark.schemas import CATEGORIES_SCHEMA, ITEMS_CLEAN_SCHEMA, RAW_ITEMS_SCHEMA, REASON
from tests.conftest import make_test_config

PHONES = "Electronics > Phones > Smartphones"


@pytest.fixture(scope="module")
def cleaning(tmp_path_factory: pytest.TempPathFactory) -> CleaningConfig:
    return make_test_config(tmp_path_factory.mktemp("lh")).cleaning


def classified(spark: SparkSession, cleaning: CleaningConfig, rows: list[tuple]):
    return spark.createDataFrame(rows, RAW_ITEMS_SCHEMA).transform(classify_items(cleaning))


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (("P1", "Galaxy S23", None, "Samsung", PHONES, "799.00", "true"), None),
        (("P1", "Galaxy S23", None, None, None, None, None), None),  # optional fields blank
        (("  ", "Galaxy S23", None, None, PHONES, "1", "true"), ItemReason.NULL_KEY),
        (("P1", " \t ", None, None, PHONES, "1", "true"), ItemReason.MISSING_TITLE),
        (("P1", "Galaxy", None, None, PHONES, "-1", "true"), ItemReason.BAD_PRICE),
        (("P1", "Galaxy", None, None, PHONES, "1e9", "true"), ItemReason.BAD_PRICE),
        (("P1", "Galaxy", None, None, PHONES, "cheap", "true"), ItemReason.BAD_PRICE),
        (("P1", "Galaxy", None, None, PHONES, "1", "perhaps"), ItemReason.BAD_IN_STOCK),
    ],
)
def test_each_rule_gives_its_reason(spark, cleaning, row, reason):
    assert classified(spark, cleaning, [row]).first()[REASON] == reason


def test_text_is_unicode_whitespace_and_case_normalised(spark, cleaning):
    rows = [
        (
            "P1",
            "  ﬁne\u3000Ｃａｓｅ \t for  S23 ",
            " Deluxe\n case ",
            "  SPIGEN ",
            " Electronics >  Phone  Acc > Cases ",
            "9.99",
            "Out of Stock",
        )
    ]
    item = clean_items(classified(spark, cleaning, rows)).first()
    assert item["title"] == "fine Case for S23"
    assert item["description"] == "Deluxe case"
    assert item["brand"] == "spigen"
    assert item["category_names"] == ["Electronics", "Phone Acc", "Cases"]
    assert item["category_ids"] == ["electronics", "electronics/phone-acc", "electronics/phone-acc/cases"]
    assert item["in_stock"] is False


def test_item_listed_in_several_categories_resolved_by_rule(spark, cleaning):
    rows = [
        ("P1", "Galaxy", None, None, "Electronics > Phones", "1", None),  # shallower
        ("P1", "Galaxy", None, None, PHONES, "1", None),  # deepest wins
        ("P1", "Galaxy", None, None, "Electronics > Phones > Android", "1", None),
        ("P1", "Galaxy", None, None, PHONES, "1", None),  # ... and is listed most often
        ("P2", "Lamp", None, None, "Home > Lighting > B", "1", None),
        ("P2", "Lamp", None, None, "Home > Lighting > A", "1", None),  # tie: smallest path wins
    ]
    result = classified(spark, cleaning, rows)
    clean = {r["item_id"]: r["category_names"] for r in clean_items(result).collect()}
    assert clean == {"P1": ["Electronics", "Phones", "Smartphones"], "P2": ["Home", "Lighting", "A"]}
    assert result.filter("is_duplicate").count() == 4


def test_items_without_category_land_in_the_unknown_category(spark, cleaning):
    item = clean_items(classified(spark, cleaning, [("P1", "Mug", None, None, "  ", None, None)])).first()
    assert (item["category_names"], item["category_id"], item["category_depth"]) == (["Unknown"], "unknown", 1)
    assert item["in_stock"] is cleaning.default_in_stock


def test_clean_items_has_the_published_schema(spark, cleaning):
    clean = clean_items(classified(spark, cleaning, [("P1", "Mug", None, None, PHONES, "2.5", "yes")]))
    assert clean.schema.fieldNames() == ITEMS_CLEAN_SCHEMA.fieldNames()


def test_categories_hierarchy_levels_parents_and_leaves(spark, cleaning):
    rows = [
        ("P1", "Galaxy", None, None, PHONES, None, None),
        ("P2", "Case", None, None, "Electronics > Cases", None, None),
    ]
    categories = build_categories(clean_items(classified(spark, cleaning, rows)))
    expected = spark.createDataFrame(
        [
            ("electronics", "Electronics", 1, None, "Electronics", False),
            ("electronics/phones", "Phones", 2, "electronics", "Electronics > Phones", False),
            ("electronics/phones/smartphones", "Smartphones", 3, "electronics/phones", PHONES, True),
            ("electronics/cases", "Cases", 2, "electronics", "Electronics > Cases", True),
        ],
        CATEGORIES_SCHEMA,
    )
    assert_df_equality(categories, expected, ignore_row_order=True, ignore_nullable=True)


def test_category_at_level_falls_back_to_the_leaf_of_shallow_paths(spark, cleaning):
    rows = [("P1", "Galaxy", None, None, PHONES, None, None), ("P2", "Mug", None, None, None, None, None)]
    items = clean_items(classified(spark, cleaning, rows))
    got = {r["item_id"]: r["c2"] for r in items.select("item_id", category_at_level(2).alias("c2")).collect()}
    assert got == {"P1": "electronics/phones", "P2": "unknown"}
