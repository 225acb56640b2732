"""The merged similarity graph: both directions, top N per item and source, flags, score and rank."""

from __future__ import annotations

import pytest
from pyspark.sql import DataFrame, SparkSession

from crosssell_spark.similarity.graph import behavioural_neighbours, content_neighbours, item_similarity

CONTENT = "item_a string, item_b string, category_a string, category_b string, jaccard double"
PAIR_STATS = (
    "key_a string, key_b string, category_a string, category_b string, co_baskets long, co_users long, "
    "co_weight double, baskets_a long, baskets_b long, confidence double, confidence_ba double, lift double"
)


def content(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(
        [
            ("A", "B", "phones", "cases", 0.5),
            ("A", "C", "phones", "cases", 0.3),
            ("A", "D", "phones", "pasta", 0.25),
        ],
        CONTENT,
    )


def behaviour(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(
        [
            ("A", "B", "phones", "cases", 6, 5, 6.0, 30, 15, 0.2, 0.4, 2.0),
            ("B", "E", "cases", "sauces", 4, 3, 4.0, 15, 8, 0.6, 0.5, 3.0),
        ],
        PAIR_STATS,
    )


def graph(spark: SparkSession, similarity, top_n: int) -> dict[tuple[str, str], dict]:
    cfg = similarity(f"top_n={top_n}")
    merged = item_similarity(cfg)(
        content(spark).transform(content_neighbours(cfg.top_n)),
        behaviour(spark).transform(behavioural_neighbours(cfg.top_n)),
    )
    return {(r.item_a, r.item_b): r.asDict() for r in merged.collect()}


def test_every_pair_is_stored_both_ways_with_symmetric_evidence_and_directional_confidence(spark, similarity):
    rows = graph(spark, similarity, top_n=10)
    assert set(rows) == {("A", "B"), ("B", "A"), ("A", "C"), ("C", "A"), ("A", "D"), ("D", "A"), ("B", "E"), ("E", "B")}
    for a, b in rows:
        there, back = rows[(a, b)], rows[(b, a)]
        for symmetric in ("jaccard", "co_baskets", "co_users", "lift", "is_content", "is_behavioural"):
            assert there[symmetric] == back[symmetric]
        assert (there["category_a"], there["category_b"]) == (back["category_b"], back["category_a"])
    assert (rows[("A", "B")]["confidence"], rows[("B", "A")]["confidence"]) == (0.2, 0.4)


def test_flags_score_and_rank(spark, similarity):
    rows = graph(spark, similarity, top_n=10)  # score weights 1.0 and 1.0 in base.yaml
    ab, ac, be = rows[("A", "B")], rows[("A", "C")], rows[("B", "E")]
    assert (ab["is_content"], ab["is_behavioural"], ab["score"]) == (True, True, pytest.approx(0.7))
    assert (ac["is_content"], ac["is_behavioural"], ac["co_users"], ac["score"]) == (True, False, None, 0.3)
    assert (be["is_content"], be["is_behavioural"], be["jaccard"], be["score"]) == (False, True, None, 0.6)
    assert [rows[("A", x)]["rank"] for x in "BCD"] == [1, 2, 3]
    assert [rows[("B", x)]["rank"] for x in "AE"] == [1, 2]  # 0.5 + 0.4 before 0.6


def test_each_item_keeps_its_top_n_per_source(spark, similarity):
    rows = graph(spark, similarity, top_n=1)
    assert sorted(b for a, b in rows if a == "A") == ["B"]  # best content and best behavioural neighbour: B
    assert sorted(b for a, b in rows if a == "B") == ["A", "E"]  # content: A; behavioural: E (confidence 0.6 > 0.4)
    assert ("C", "A") in rows and ("D", "A") in rows  # A is C's and D's best, though they are not A's
