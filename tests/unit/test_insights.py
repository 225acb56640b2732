"""Notebook helpers: factor norms, history buckets, widget parsing, reason counts."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from pyspark.sql import SparkSession

from crosssell_spark import insights


def test_parse_keys_drops_blanks() -> None:
    assert insights.parse_keys(" u1, ,u2,") == ["u1", "u2"]
    assert insights.parse_keys("") == []


def test_factor_norms_and_history_buckets(spark: SparkSession) -> None:
    factors = spark.createDataFrame(
        [("a", [3.0, 4.0], 1), ("b", [1.0, 0.0], 3), ("c", [0.0, 2.0], 2), ("d", [6.0, 8.0], 5)],
        "item_id string, features array<float>, history_users int",
    )
    norms = {r["item_id"]: r["norm"] for r in insights.factor_norms(factors).collect()}
    assert norms == pytest.approx({"a": 5.0, "b": 1.0, "c": 2.0, "d": 10.0})
    buckets = {
        r["history_bucket"]: (r["rows"], r["mean_norm"])
        for r in insights.norm_by_history(insights.factor_norms(factors), "history_users").collect()
    }
    assert buckets == {1: (1, 5.0), 2: (2, 1.5), 4: (1, 10.0)}  # 2 and 3 share the bucket [2, 4)
    assert not any(math.isnan(v[1]) for v in buckets.values())


def test_reason_code_counts_per_list_type(spark: SparkSession) -> None:
    items = spark.createDataFrame(
        [(["BOUGHT_TOGETHER", "SIMILAR_CONTENT"],), (["BOUGHT_TOGETHER"],)], "reason_codes array<string>"
    )
    users = spark.createDataFrame([(["USER_INTEREST", "NEW_CATEGORY"],)], "reason_codes array<string>")
    rows = [tuple(r) for r in insights.reason_code_counts(items, users).collect()]
    assert rows == [
        ("item", "BOUGHT_TOGETHER", 2),
        ("item", "SIMILAR_CONTENT", 1),
        ("user", "NEW_CATEGORY", 1),
        ("user", "USER_INTEREST", 1),
    ]


def test_format_list_shows_one_line_and_its_reason_per_item_in_rank_order() -> None:
    review = pd.DataFrame(
        {
            "rank": [2, 1],
            "item_id": ["i2", "i1"],
            "item_title": ["A very long title " * 5, None],
            "item_category_name": ["Sauces", "Pasta"],
            "score": [0.25, 0.5],
            "source": ["neighbour", "popular"],
            "reason": ["bought together with Spaghetti by 12 shoppers", "popular in Pasta"],
        }
    )
    lines = insights.format_list("item_cross_sell of anchor a1:", review).splitlines()
    assert lines[0] == "item_cross_sell of anchor a1:" and lines[1].split()[:3] == ["rank", "item", "title"]
    assert lines[2].split() == ["1", "i1", "Pasta", "0.5000", "popular"] and lines[3].strip() == "popular in Pasta"
    assert lines[4].split()[:2] == ["2", "i2"] and "…" in lines[4] and lines[4].split()[-2:] == ["0.2500", "neighbour"]
    assert lines[5].strip() == "bought together with Spaghetti by 12 shoppers"
    assert insights.format_list("h", review.iloc[:0]).splitlines() == ["h", "  (no items)"]
