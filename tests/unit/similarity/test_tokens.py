"""Tokens, the learnt stop list and shingles of item text (in-line rows)."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from crosssell_spark.similarity.tokens import (
    DOC_FREQ,
    FEATURES,
    TOKEN,
    TOKENS,
    content_features,
    item_tokens,
    normalised_tokens,
    shingles,
    stop_words,
)

ITEMS = "item_id string, title string, brand string, description string, category_ids array<string>"


def tokens_of(spark: SparkSession, *texts: str | None, min_length: int = 2) -> list[list[str]]:
    df = spark.createDataFrame([(t,) for t in texts], "text string")
    return [r[0] for r in df.select(normalised_tokens(F.col("text"), min_length)).collect()]


def test_normalisation_keeps_model_tokens_and_joins_words_split_by_punctuation(spark):
    got = tokens_of(
        spark,
        "Samsung Galaxy S23 Ultra, 256GB — Phantom Black",
        "Epson EcoTank ET-2810 & L'Oréal No.5 x A",
        "Uniqlo T-Shirt XL / Dyson V8 4K",
        "  ",
        None,
    )
    assert got == [
        ["samsung", "galaxy", "s23", "ultra", "256gb", "phantom", "black"],
        ["epson", "ecotank", "et2810", "loréal", "no5"],  # "&", "x", "a" are too short
        ["uniqlo", "tshirt", "xl", "dyson", "v8", "4k"],  # "xl" meets the minimum length
        [],
        [],
    ]


def test_single_digits_survive_any_minimum_length_but_short_words_do_not(spark):
    assert tokens_of(spark, "Trek FX 3 Hybrid Bike xl", min_length=3) == [["trek", "3", "hybrid", "bike"]]


def test_item_tokens_join_the_configured_fields_and_read_the_category_at_the_cross_level(spark, similarity):
    items = spark.createDataFrame(
        [("P1", "Galaxy S23 Case", "Spigen", "fits well", ["electronics", "electronics/cases", "electronics/cases/x"])],
        ITEMS,
    )
    cfg = similarity("content.fields=[title, brand]").content
    row = items.transform(item_tokens(cfg, cross_level=2)).first()
    assert (row["category_id"], row[TOKENS]) == ("electronics/cases", ["galaxy", "s23", "case", "spigen"])


def test_stop_words_are_tokens_in_more_than_the_share_and_at_least_the_minimum_of_items(spark, similarity):
    rows = [(f"P{i}", ["black", "case", f"model{i}"] if i < 8 else ["black", f"model{i}"]) for i in range(10)]
    tokens = spark.createDataFrame(rows, "item_id string, tokens array<string>")
    cfg = similarity("content.max_doc_freq=0.5", "content.stop_word_min_items=3").content
    stop = {r[TOKEN]: r[DOC_FREQ] for r in tokens.transform(stop_words(cfg)).collect()}
    assert stop == {"black": 10, "case": 8}  # in 100 % and 80 % of items; model<i> in one each
    strict = similarity("content.max_doc_freq=0.5", "content.stop_word_min_items=9").content
    assert [r[TOKEN] for r in tokens.transform(stop_words(strict)).collect()] == ["black"]


@pytest.mark.parametrize(
    ("kind", "size", "expected"),
    [
        ("word", 1, ["galaxy", "s23", "case"]),  # distinct
        ("word", 2, ["galaxy s23", "s23 case", "case galaxy"]),
        ("word", 5, ["galaxy s23 case galaxy"]),  # fewer tokens than n: the whole title is one shingle
        ("char", 3, ["gal", "ala", "lax", "axy", "s23", "cas", "ase"]),
        ("char", 4, ["gala", "alax", "laxy", "s23", "case"]),  # tokens shorter than n stay whole
    ],
)
def test_shingles(spark, kind, size, expected):
    df = spark.createDataFrame([(["galaxy", "s23", "case", "galaxy"],)], "t array<string>")
    assert df.select(shingles(F.col("t"), kind, size)).first()[0] == expected


def test_content_features_drop_stop_words_then_items_left_without_features(spark, similarity):
    tokens = spark.createDataFrame(
        [("P1", "c1", ["black", "galaxy", "s23"]), ("P2", "c2", ["black", "for"]), ("P3", "c3", [])],
        "item_id string, category_id string, tokens array<string>",
    )
    cfg = similarity("content.shingle=word", "content.shingle_size=1").content
    got = {r["item_id"]: r[FEATURES] for r in tokens.transform(content_features(cfg, ["black", "for"])).collect()}
    assert got == {"P1": ["galaxy", "s23"]}
