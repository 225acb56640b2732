"""Each strategy rule changes a candidate list exactly as configured (in-line rows)."""

from __future__ import annotations

import pytest
from pyspark.sql import DataFrame, SparkSession

from crosssell_spark.crosssell import rules

COLUMNS = (
    "anchor_item_id string, item_id string, item_category string, anchor_category string, score double, "
    "support long, item_price double, anchor_price double, item_in_stock boolean, source string, source_priority int"
)


def candidates(spark: SparkSession, *rows: tuple) -> DataFrame:
    return spark.createDataFrame(list(rows), COLUMNS)


def row(
    item: str,
    category: str,
    score: float = 1.0,
    *,
    anchor: str = "A",
    anchor_category: str = "phones",
    support: int | None = 5,
    price: float | None = 10.0,
    anchor_price: float | None = 100.0,
    in_stock: bool = True,
    source: str = "cooccurrence",
    priority: int = 1,
) -> tuple:
    return (anchor, item, category, anchor_category, score, support, price, anchor_price, in_stock, source, priority)


def items_of(df: DataFrame) -> list[str]:
    order = ["anchor_item_id", "rank"] if "rank" in df.columns else ["anchor_item_id", "item_id"]
    return [r["item_id"] for r in df.orderBy(*order).collect()]


def test_other_category_only_drops_the_anchor_category(spark):
    df = candidates(spark, row("case", "cases"), row("phone2", "phones"))
    assert items_of(df.transform(rules.other_category_only())) == ["case"]


def test_exclude_items_drops_listed_pairs_only(spark):
    df = candidates(spark, row("case", "cases"), row("charger", "chargers"), row("case", "cases", anchor="B"))
    owned = spark.createDataFrame([("A", "case")], "anchor_item_id string, item_id string")
    kept = df.transform(rules.exclude_items("anchor_item_id", owned))
    assert sorted((r["anchor_item_id"], r["item_id"]) for r in kept.collect()) == [("A", "charger"), ("B", "case")]


def test_category_allow_list_keeps_only_listed_pairs(spark):
    df = candidates(spark, row("case", "cases"), row("sauce", "sauces"))
    assert items_of(df.transform(rules.category_pairs(allow=[("phones", "cases")], deny=[]))) == ["case"]
    assert items_of(df.transform(rules.category_pairs(allow=[("*", "sauces")], deny=[]))) == ["sauce"]


def test_category_deny_list_drops_listed_pairs(spark):
    df = candidates(spark, row("case", "cases"), row("sauce", "sauces"))
    assert items_of(df.transform(rules.category_pairs(allow=[], deny=[("phones", "sauces")]))) == ["case"]


def test_price_ceiling_relative_to_the_anchor(spark):
    df = candidates(
        spark, row("cheap", "cases", price=20.0), row("dear", "cases", price=300.0), row("unknown", "cases", price=None)
    )
    assert sorted(items_of(df.transform(rules.price_ceiling(1.5)))) == ["cheap", "unknown"]
    assert len(items_of(df.transform(rules.price_ceiling(None)))) == 3


def test_in_stock_only(spark):
    df = candidates(spark, row("in", "cases"), row("out", "cases", in_stock=False))
    assert items_of(df.transform(rules.in_stock_only(True))) == ["in"]
    assert sorted(items_of(df.transform(rules.in_stock_only(False)))) == ["in", "out"]


def test_minimum_score_and_support_where_evidence_has_support(spark):
    df = candidates(
        spark,
        row("strong", "cases", 0.9, support=10),
        row("weak", "cases", 0.1, support=10),
        row("rare", "cases", 0.9, support=1),
        row("lookalike", "cases", 0.9, support=None),  # content evidence: no crowd behind it
    )
    assert sorted(items_of(df.transform(rules.minimum(score=0.5, support=3)))) == ["lookalike", "strong"]


def test_balance_categories_lifts_small_categories(spark):
    df = candidates(spark, row("big", "popular", 0.5), row("small", "niche", 0.3))
    shares = spark.createDataFrame([("popular", 0.9), ("niche", 0.01)], "item_category string, category_share double")
    ranked = df.transform(rules.balance_categories(0.5, shares)).transform(rules.rank_lists("anchor_item_id", 2, 5, 1))
    assert items_of(ranked) == ["small", "big"]
    unbalanced = df.transform(rules.balance_categories(0.0, shares)).transform(
        rules.rank_lists("anchor_item_id", 2, 5, 1)
    )
    assert items_of(unbalanced) == ["big", "small"]


def test_per_category_cap_and_contiguous_ranks(spark):
    df = candidates(spark, *[row(f"case{i}", "cases", 1.0 - i / 10) for i in range(5)], row("charger", "chargers", 0.1))
    ranked = df.transform(rules.rank_lists("anchor_item_id", k=10, per_category_cap=2, min_distinct_categories=1))
    assert items_of(ranked) == ["case0", "case1", "charger"]
    assert [r["rank"] for r in ranked.orderBy("rank").collect()] == [1, 2, 3]


def test_min_distinct_categories_opens_categories_first(spark):
    df = candidates(
        spark,
        row("case0", "cases", 0.9),
        row("case1", "cases", 0.8),
        row("cable", "cables", 0.2),
        row("sauce", "sauces", 0.1),
    )
    diverse = df.transform(rules.rank_lists("anchor_item_id", k=3, per_category_cap=5, min_distinct_categories=3))
    assert items_of(diverse) == ["case0", "cable", "sauce"]
    by_score = df.transform(rules.rank_lists("anchor_item_id", k=3, per_category_cap=5, min_distinct_categories=1))
    assert items_of(by_score) == ["case0", "case1", "cable"]


def weak_evidence_and_strong_fallbacks(spark):
    """A popular cable, and a case both as weak co-occurrence evidence and as a strong popular fill-in."""
    return candidates(
        spark,
        row("pop", "cables", 0.99, source="popularity", priority=3),
        row("case", "cases", 0.2, source="cooccurrence", priority=1),
        row("case", "cases", 0.9, source="popularity", priority=3),
    )


def test_better_evidence_outranks_fallbacks_and_duplicates_collapse(spark):
    df = weak_evidence_and_strong_fallbacks(spark)
    ranked = df.transform(rules.rank_lists("anchor_item_id", k=5, per_category_cap=5, min_distinct_categories=1))
    assert [(r["item_id"], r["source"]) for r in ranked.orderBy("rank").collect()] == [
        ("case", "cooccurrence"),
        ("pop", "popularity"),
    ]


def test_score_only_ranking_lets_a_strong_fallback_beat_weak_evidence(spark):
    df = weak_evidence_and_strong_fallbacks(spark)
    ranked = df.transform(rules.rank_lists("anchor_item_id", 5, 5, 1, evidence_first=False))
    assert [(r["item_id"], r["source"]) for r in ranked.orderBy("rank").collect()] == [
        ("pop", "popularity"),
        ("case", "popularity"),  # the better-scored row of the duplicate item is the one kept
    ]


@pytest.mark.parametrize("k", [1, 2])
def test_lists_are_cut_at_k(spark, k):
    df = candidates(spark, *[row(f"i{i}", f"c{i}", 1.0 - i / 10) for i in range(4)])
    assert len(items_of(df.transform(rules.rank_lists("anchor_item_id", k, 5, 1)))) == k


def test_diversity_never_lifts_fallbacks_above_better_evidence(spark):
    df = candidates(
        spark,
        row("case0", "cases", 0.5),
        row("case1", "cases", 0.4),
        row("pop_cable", "cables", 0.9, source="popular", priority=3),
        row("pop_sauce", "sauces", 0.8, source="popular", priority=3),
    )
    ranked = df.transform(rules.rank_lists("anchor_item_id", k=4, per_category_cap=5, min_distinct_categories=3))
    assert items_of(ranked) == ["case0", "case1", "pop_cable", "pop_sauce"]
